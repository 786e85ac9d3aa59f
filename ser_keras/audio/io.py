"""Reading audio files into 16 kHz mono float32 waveforms (soundfile + soxr).

Example:

>>> waveform = load_audio("clip.flac")  # doctest: +SKIP
>>> waveform.dtype, waveform.ndim
(dtype('float32'), 1)
"""

from __future__ import annotations

import os

import numpy as np
import soundfile
import soxr

from ser_keras.audio import params

SUPPORTED_FORMATS = "WAV, FLAC, OGG/Vorbis, MP3 and the other formats of libsndfile"


class AudioReadError(ValueError):
    """An audio file that is missing, unreadable, corrupt or empty.

    Attributes:
        path: the offending file.
        reason: what is wrong with it.

    Example:

    >>> try:
    ...     load_audio("missing.wav")
    ... except AudioReadError as error:
    ...     print(error.path)
    missing.wav
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"Cannot read audio file '{self.path}': {reason}")


def load_audio(path: str | os.PathLike, sample_rate: int = params.SAMPLE_RATE) -> np.ndarray:
    """Reads an audio file as a mono float32 waveform at `sample_rate`.

    Channels are averaged; other rates are resampled with soxr (high quality).

    Args:
        path: a file in a format that libsndfile reads (WAV, FLAC, OGG, MP3, ...).
        sample_rate: the rate of the returned waveform, in Hz.

    Returns:
        A 1-D float32 array of samples in [-1, 1].

    Raises:
        AudioReadError: when the file is missing, not decodable, holds no
            samples, or holds NaN/Inf samples. The error names the file.

    Example:

    >>> load_audio("clip.wav").shape  # doctest: +SKIP
    (52800,)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioReadError(path, "no such file.")
    try:
        samples, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise AudioReadError(
            path, f"not a decodable audio file ({error}). Supported: {SUPPORTED_FORMATS}."
        ) from error
    if samples.shape[0] == 0:
        raise AudioReadError(path, "the file holds no audio samples.")
    waveform = samples.mean(axis=1)
    if not np.all(np.isfinite(waveform)):
        raise AudioReadError(path, "the file holds NaN or infinite samples.")
    if file_rate != sample_rate:
        waveform = soxr.resample(waveform, file_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(waveform, dtype=np.float32)
