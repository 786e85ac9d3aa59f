"""The VGGish front end against an independent float64 NumPy version of the original algorithm."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from ser_keras.audio import params, waveform_to_examples


def reference_examples(waveform: np.ndarray) -> np.ndarray:
    """The original VGGish front end, written from its published description, in float64."""
    x = np.asarray(waveform, dtype=np.float64)
    window_length, hop, fft_length = 400, 160, 512
    num_frames = 1 + (len(x) - window_length) // hop
    frames = np.stack([x[i * hop : i * hop + window_length] for i in range(num_frames)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window_length) / window_length)
    magnitude = np.abs(np.fft.rfft(frames * window, fft_length))

    def hertz_to_mel(hertz):
        return 1127.0 * np.log(1.0 + hertz / 700.0)

    bin_mels = hertz_to_mel(np.linspace(0.0, 8000.0, fft_length // 2 + 1))
    edges = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 64 + 2)
    weights = np.zeros((fft_length // 2 + 1, 64))
    for band in range(64):
        lower, center, upper = edges[band : band + 3]
        rising = (bin_mels - lower) / (center - lower)
        falling = (upper - bin_mels) / (upper - center)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    log_mel = np.log(magnitude @ weights + 0.01)
    num_patches = 1 + (num_frames - 96) // 96
    return np.stack([log_mel[i * 96 : (i + 1) * 96] for i in range(num_patches)])


def chirp_plus_noise(seconds: float = 3.3, rate: int = 16000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + 0.5 * (6000 / seconds) * t**2))
    noise = 0.05 * np.random.default_rng(seed).standard_normal(t.shape)
    return (chirp + noise).astype(np.float32)


def test_matches_float64_reference_on_chirp_plus_noise():
    waveform = chirp_plus_noise()
    expected = reference_examples(waveform)
    actual = waveform_to_examples(waveform, 16000).numpy()
    assert actual.shape == expected.shape == (3, 96, 64)
    assert np.max(np.abs(actual - expected)) < 1e-3
    # The signal is real: the patches vary over time and frequency.
    assert expected.std() > 1.0


@pytest.mark.parametrize("num_samples, num_patches", [(15599, 1), (15600, 1), (31200, 2), (46319, 2), (46320, 3)])
def test_patch_count_follows_the_original_framing(num_samples, num_patches):
    waveform = np.random.default_rng(1).uniform(-0.5, 0.5, num_samples).astype(np.float32)
    assert waveform_to_examples(waveform).shape == (num_patches, 96, 64)


def test_short_clip_is_zero_padded_to_one_patch():
    waveform = chirp_plus_noise(seconds=0.4)
    padded = np.pad(waveform, (0, params.EXAMPLE_SAMPLES - len(waveform)))
    actual = waveform_to_examples(waveform).numpy()
    assert actual.shape == (1, 96, 64)
    np.testing.assert_allclose(actual, reference_examples(padded), atol=1e-3)
    # The padded tail is silence: log(0.01) in every band.
    np.testing.assert_allclose(actual[0, -1], np.log(0.01), atol=1e-6)


def test_long_clip_is_capped_with_a_warning(caplog):
    waveform = np.zeros(params.EXAMPLE_SAMPLES * 5, np.float32)
    with caplog.at_level(logging.WARNING, logger="ser_keras.audio.features"):
        patches = waveform_to_examples(waveform, max_patches=2)
    assert patches.shape == (2, 96, 64)
    assert "cut to max_patches=2" in caplog.text
    assert waveform_to_examples(waveform, max_patches=None).shape[0] > 2


def test_multichannel_is_averaged_to_mono():
    left, right = chirp_plus_noise(seed=1), chirp_plus_noise(seed=2)
    stereo = np.stack([left, right], axis=1)
    expected = waveform_to_examples((left + right) / 2).numpy()
    np.testing.assert_allclose(waveform_to_examples(stereo).numpy(), expected, atol=1e-5)


def test_other_sample_rates_are_resampled_to_16k():
    def tone(rate):
        t = np.arange(int(2.0 * rate)) / rate
        return (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)

    at_16k = waveform_to_examples(tone(16000), 16000).numpy()
    at_44k = waveform_to_examples(tone(44100), 44100).numpy()
    assert at_44k.shape == at_16k.shape
    # Same spectral content: the same loudest band and nearly the same log-mel values.
    assert np.argmax(at_44k.mean(axis=(0, 1))) == np.argmax(at_16k.mean(axis=(0, 1)))
    assert np.median(np.abs(at_44k - at_16k)) < 0.05


def test_runs_inside_a_graph_with_unknown_length():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def featurize(waveform):
        return waveform_to_examples(waveform)

    waveform = chirp_plus_noise()
    np.testing.assert_allclose(
        featurize(waveform).numpy(), waveform_to_examples(waveform).numpy(), atol=1e-6
    )
    assert featurize(waveform[:1000]).shape == (1, 96, 64)


def test_bad_waveforms_raise_clear_errors():
    with pytest.raises(ValueError, match="shape \\[samples\\] or \\[samples, channels\\]"):
        waveform_to_examples(np.zeros([2, 3, 4], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty"):
        waveform_to_examples(np.zeros([0], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        waveform_to_examples(np.array([0.1, np.nan] * 9000, np.float32))
    with pytest.raises(ValueError, match="max_patches"):
        waveform_to_examples(np.zeros([16000], np.float32), max_patches=0)
