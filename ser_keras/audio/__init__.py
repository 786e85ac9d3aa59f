"""The VGGish audio front end: file reading and log-mel patches.

Example:

>>> from ser_keras.audio import load_audio, waveform_to_examples
>>> patches = waveform_to_examples(load_audio("clip.wav"))  # doctest: +SKIP
"""

from ser_keras.audio import params
from ser_keras.audio.features import log_mel_spectrogram, resample, waveform_to_examples
from ser_keras.audio.io import AudioReadError, load_audio

__all__ = [
    "AudioReadError",
    "load_audio",
    "log_mel_spectrogram",
    "params",
    "resample",
    "waveform_to_examples",
]
