"""Parameters of the VGGish audio front end, as in the original release.

Example:

>>> from ser_keras.audio import params
>>> params.EXAMPLE_SAMPLES  # the shortest waveform that yields one patch
15600
"""

from __future__ import annotations

#: VGGish works on mono audio at this rate (Hz).
SAMPLE_RATE = 16000

#: STFT window and hop, in samples (25 ms and 10 ms at 16 kHz).
STFT_WINDOW_SAMPLES = 400
STFT_HOP_SAMPLES = 160
#: FFT length: the next power of two above the window (257 frequency bins).
FFT_LENGTH = 512

#: Mel filterbank: 64 HTK-mel bands between these edges (Hz).
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
#: Added to the mel spectrogram before the log, to avoid log(0).
LOG_OFFSET = 0.01

#: One example (patch) is 96 frames of 10 ms (0.96 s) by 64 bands, without overlap.
NUM_FRAMES = 96
NUM_BANDS = NUM_MEL_BANDS
EXAMPLE_HOP_FRAMES = NUM_FRAMES

#: The number of waveform samples that produce exactly one patch (0.975 s).
EXAMPLE_SAMPLES = STFT_WINDOW_SAMPLES + (NUM_FRAMES - 1) * STFT_HOP_SAMPLES

#: Default cap on patches per clip (61.44 s of audio); longer clips are cut with a warning.
DEFAULT_MAX_PATCHES = 64

#: Size of one VGGish embedding.
EMBEDDING_SIZE = 128
