"""VGGish log-mel feature extraction with TensorFlow ops.

The computation follows the original VGGish release step by step (see
`ser_keras.audio.params` for every number): mono 16 kHz waveform, 25 ms periodic
Hann windows every 10 ms, 512-point FFT magnitude, 64 HTK-mel bands between 125
and 7500 Hz, `log(mel + 0.01)`, then non-overlapping patches of 96 frames.

Two behaviours differ from the original, on purpose:

* A clip shorter than 0.975 s (15,600 samples at 16 kHz) yields no patch in the
  original. Here it is zero-padded at the end to exactly one patch, so every clip
  contributes audio. Silence maps to `log(0.01)` in every band.
* A very long clip is cut to `max_patches` patches (default 64, 61.44 s) with a
  warning, so one stray hour-long file cannot exhaust memory. Pass
  `max_patches=None` to keep everything.

Everything is built from `tf.signal` ops, so the front end can live inside a
SavedModel graph (raw waveform in, patches out).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import tensorflow as tf

from ser_keras.audio import params

logger = logging.getLogger(__name__)


def to_mono(waveform: tf.Tensor) -> tf.Tensor:
    """Averages a `[samples, channels]` waveform to mono; `[samples]` passes through.

    Example:

    >>> to_mono(tf.ones([8, 2])).shape
    TensorShape([8])
    """
    rank = waveform.shape.rank
    if rank == 1:
        return waveform
    if rank == 2:
        return tf.reduce_mean(waveform, axis=1)
    raise ValueError(
        "`waveform` must have shape [samples] or [samples, channels]; "
        f"got rank {rank} with shape {waveform.shape}."
    )


def resample(waveform: tf.Tensor, from_rate: int, to_rate: int = params.SAMPLE_RATE) -> tf.Tensor:
    """Band-limited resampling of a mono waveform by FFT zero-padding/truncation.

    Pure TensorFlow, so it can sit inside a graph. For files, prefer
    `ser_keras.audio.load_audio`, which resamples with soxr (a windowed
    polyphase filter that treats the clip edges better).

    Example:

    >>> resample(tf.zeros([44100]), 44100, 16000).shape
    TensorShape([16000])
    """
    if from_rate == to_rate:
        return waveform
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"Sample rates must be positive; got {from_rate} -> {to_rate}.")
    num_in = tf.shape(waveform)[0]
    num_out = tf.cast(
        tf.round(tf.cast(num_in, tf.float64) * (to_rate / from_rate)), tf.int32
    )
    spectrum = tf.signal.rfft(tf.cast(waveform, tf.float64)[tf.newaxis])[0]
    num_bins_out = num_out // 2 + 1
    kept = spectrum[: tf.minimum(num_bins_out, tf.shape(spectrum)[0])]
    kept = tf.pad(kept, [[0, num_bins_out - tf.shape(kept)[0]]])
    resampled = tf.signal.irfft(kept[tf.newaxis], fft_length=num_out[tf.newaxis])[0]
    scale = tf.cast(num_out, tf.float64) / tf.cast(num_in, tf.float64)
    return tf.cast(resampled * scale, tf.float32)


def mel_weight_matrix() -> tf.Tensor:
    """The `[257, 64]` VGGish mel filterbank (HTK mel, DC row zeroed).

    Example:

    >>> mel_weight_matrix().shape
    TensorShape([257, 64])
    """
    matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=params.NUM_MEL_BANDS,
        num_spectrogram_bins=params.FFT_LENGTH // 2 + 1,
        sample_rate=params.SAMPLE_RATE,
        lower_edge_hertz=params.MEL_MIN_HZ,
        upper_edge_hertz=params.MEL_MAX_HZ,
        dtype=tf.float64,
    )
    return tf.cast(matrix, tf.float32)


def log_mel_spectrogram(waveform: tf.Tensor) -> tf.Tensor:
    """Log-mel spectrogram `[num_frames, 64]` of a mono 16 kHz waveform.

    Example:

    >>> log_mel_spectrogram(tf.zeros([16000])).shape
    TensorShape([98, 64])
    """
    stft = tf.signal.stft(
        waveform,
        frame_length=params.STFT_WINDOW_SAMPLES,
        frame_step=params.STFT_HOP_SAMPLES,
        fft_length=params.FFT_LENGTH,
        window_fn=lambda length, dtype: tf.signal.hann_window(length, periodic=True, dtype=dtype),
        pad_end=False,
    )
    magnitude = tf.abs(stft)
    mel = tf.matmul(magnitude, mel_weight_matrix())
    return tf.math.log(mel + params.LOG_OFFSET)


def _pad_to_one_patch(waveform: tf.Tensor) -> tf.Tensor:
    missing = tf.maximum(params.EXAMPLE_SAMPLES - tf.shape(waveform)[0], 0)
    return tf.pad(waveform, [[0, missing]])


def _cap_patches(patches: tf.Tensor, max_patches: int | None) -> tf.Tensor:
    if max_patches is None:
        return patches
    if max_patches < 1:
        raise ValueError(f"`max_patches` must be a positive integer or None; got {max_patches}.")
    num_patches = tf.shape(patches)[0]
    message = (
        "Clip of {} patches cut to max_patches={} (the first {:.2f} s kept); "
        "raise `max_patches` or split the recording to keep all of it."
    )
    if tf.executing_eagerly():
        if int(num_patches) > max_patches:
            logger.warning(
                message.format(int(num_patches), max_patches, max_patches * 0.96)
            )
    else:
        def warn() -> tf.Tensor:
            tf.print(
                "WARNING: ser_keras.audio: clip of", num_patches,
                f"patches cut to max_patches={max_patches}; raise `max_patches` "
                "or split the recording to keep all of it.",
                output_stream=sys.stderr,
            )
            return tf.constant(True)

        tf.cond(num_patches > max_patches, warn, lambda: tf.constant(False))
    return patches[:max_patches]


def waveform_to_examples(
    waveform: np.ndarray | tf.Tensor,
    sample_rate: int = params.SAMPLE_RATE,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
) -> tf.Tensor:
    """Converts a waveform to VGGish log-mel patches `[num_patches, 96, 64]`.

    Args:
        waveform: float samples in [-1, 1], shape `[samples]` or
            `[samples, channels]` (channels are averaged to mono).
        sample_rate: the waveform's rate in Hz (a Python int); other rates
            than 16 kHz are resampled with `resample`.
        max_patches: keep at most this many patches (0.96 s each), warning
            when a clip is cut; `None` keeps all.

    Returns:
        A float32 tensor of shape `[num_patches, 96, 64]`, with
        `num_patches >= 1`: clips shorter than 0.975 s are zero-padded to one
        patch.

    Raises:
        ValueError: for a wrong rank or a bad sample rate.
        tf.errors.InvalidArgumentError: for an empty waveform or NaN/Inf samples.

    Example:

    >>> import numpy as np
    >>> waveform = np.zeros(3 * 16000, dtype="float32")
    >>> waveform_to_examples(waveform, 16000).shape
    TensorShape([3, 96, 64])
    """
    waveform = tf.cast(tf.convert_to_tensor(waveform), tf.float32)
    waveform = to_mono(waveform)
    tf.debugging.assert_positive(
        tf.size(waveform), message="The waveform is empty: there is no audio to analyse."
    )
    tf.debugging.assert_all_finite(waveform, "The waveform contains NaN or Inf samples.")
    waveform = resample(waveform, int(sample_rate))
    waveform = _pad_to_one_patch(waveform)
    log_mel = log_mel_spectrogram(waveform)
    patches = tf.signal.frame(
        log_mel, frame_length=params.NUM_FRAMES, frame_step=params.EXAMPLE_HOP_FRAMES, axis=0
    )
    return _cap_patches(patches, max_patches)
