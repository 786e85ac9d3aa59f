"""Reading audio files: formats, channels, resampling and clear errors."""

import numpy as np
import pytest
import soundfile
import soxr

from ser_keras.audio import AudioReadError, load_audio


def tone(rate: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.4 * np.sin(2 * np.pi * 440.0 * t)
    return np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1)


@pytest.mark.parametrize(
    "extension, subtype",
    [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")],
)
def test_reads_every_format_as_16k_mono_float32(tmp_path, extension, subtype):
    path = tmp_path / f"clip.{extension}"
    soundfile.write(path, tone(16000), 16000, subtype=subtype)
    waveform = load_audio(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    # Lossy codecs add encoder delay/padding; the length stays close to one second.
    assert abs(len(waveform) - 16000) <= 2000
    assert 0.2 < np.abs(waveform).max() < 0.6


def test_stereo_44k_is_averaged_then_resampled_with_soxr(tmp_path):
    path = tmp_path / "stereo.wav"
    stereo = tone(44100, seconds=0.5, channels=2)
    soundfile.write(path, stereo, 44100, subtype="FLOAT")
    expected = soxr.resample(stereo.mean(axis=1).astype(np.float32), 44100, 16000, quality="HQ")
    waveform = load_audio(path)
    assert waveform.shape == (8000,)
    np.testing.assert_allclose(waveform, expected, atol=1e-6)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "missing.wav"
    with pytest.raises(AudioReadError, match="missing.wav") as info:
        load_audio(path)
    assert info.value.path == str(path)


def test_corrupt_file_is_a_read_error(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(500))
    with pytest.raises(AudioReadError, match="corrupt.wav.*not a decodable audio file"):
        load_audio(path)


def test_zero_byte_and_zero_sample_files_are_read_errors(tmp_path):
    zero_bytes = tmp_path / "zero.flac"
    zero_bytes.write_bytes(b"")
    with pytest.raises(AudioReadError, match="zero.flac"):
        load_audio(zero_bytes)
    no_samples = tmp_path / "empty.wav"
    soundfile.write(no_samples, np.zeros((0, 1)), 16000)
    with pytest.raises(AudioReadError, match="empty.wav.*no audio samples"):
        load_audio(no_samples)


def test_nan_samples_are_a_read_error(tmp_path):
    path = tmp_path / "nan.wav"
    samples = np.zeros(1600, np.float32)
    samples[10] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN"):
        load_audio(path)
