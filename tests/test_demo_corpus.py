"""Checks of the shipped synthetic demo corpus (data/demo) and of its generator."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser_keras.labels import DEFAULT_LABELS
from tools.demo_corpus import (
    CONTRAST_TEMPLATES,
    DEMO_VOICES,
    MANIFEST_COLUMNS,
    DemoCorpusConfig,
    espeak_version,
    find_espeak,
    generate_demo_corpus,
    plan_demo_corpus,
    render_clip,
    to_pcm16,
)

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"
SAMPLE_RATE = 16000
CHANCE = 1.0 / len(DEFAULT_LABELS)

requires_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def manifest_rows() -> list[dict[str, str]]:
    with (DEMO_DIR / "manifest.csv").open(newline="", encoding="utf-8") as manifest_file:
        reader = csv.DictReader(manifest_file)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        return list(reader)


@pytest.fixture(scope="module")
def waveforms(manifest_rows) -> dict[str, np.ndarray]:
    """Decoded clips of the train and test voices, keyed by utterance id."""
    return {
        row["utterance_id"]: soundfile.read(DEMO_DIR / row["path"], dtype="float32")[0]
        for row in manifest_rows
        if row["split"] in ("train", "test")
    }


def test_manifest_counts_and_balance(manifest_rows):
    assert len(manifest_rows) >= 800
    assert {row["label"] for row in manifest_rows} == set(DEFAULT_LABELS)
    for split in ("train", "validation", "test"):
        label_counts = Counter(row["label"] for row in manifest_rows if row["split"] == split)
        assert len(set(label_counts.values())) == 1, f"unbalanced {split}: {label_counts}"
    ids = [row["utterance_id"] for row in manifest_rows]
    assert len(set(ids)) == len(ids)
    assert all(Path(row["path"]).stem == row["utterance_id"] for row in manifest_rows)
    assert all(row["text"].strip() for row in manifest_rows)


def test_voices_are_disjoint_between_splits(manifest_rows):
    speakers_by_split: dict[str, set[str]] = {}
    for row in manifest_rows:
        speakers_by_split.setdefault(row["split"], set()).add(row["speaker"])
    assert {split: len(speakers) for split, speakers in speakers_by_split.items()} == {
        "train": 8, "validation": 2, "test": 2,
    }
    assert not speakers_by_split["train"] & speakers_by_split["validation"]
    assert not speakers_by_split["train"] & speakers_by_split["test"]
    assert not speakers_by_split["validation"] & speakers_by_split["test"]


def test_audio_files_are_short_16k_mono_flac_within_size_budget(manifest_rows):
    durations = []
    for row in manifest_rows:
        info = soundfile.info(DEMO_DIR / row["path"])
        assert (info.format, info.samplerate, info.channels) == ("FLAC", SAMPLE_RATE, 1), row["path"]
        durations.append(info.duration)
    assert DemoCorpusConfig().min_seconds <= min(durations) and max(durations) <= DemoCorpusConfig().max_seconds
    audio_files = sorted((DEMO_DIR / "audio").glob("*.flac"))
    assert len(audio_files) == len(manifest_rows)
    total_bytes = sum(path.stat().st_size for path in DEMO_DIR.rglob("*") if path.is_file())
    assert total_bytes <= 20 * 1024 * 1024


def test_readme_says_synthetic_and_lists_every_voice(manifest_rows):
    readme = (DEMO_DIR / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme and "not a measure\nof real emotion recognition" in readme
    assert "make_demo_corpus.py" in readme
    for speaker in {row["speaker"] for row in manifest_rows}:
        assert f"| {speaker} |" in readme


def prosody_features(waveform: np.ndarray) -> list[float]:
    """Duration, loudness, voicing, pitch and syllable-rate statistics of one clip."""
    frame, hop = 640, 160
    num_frames = 1 + (waveform.shape[0] - frame) // hop
    frames = waveform[np.arange(frame)[None, :] + hop * np.arange(num_frames)[:, None]] * np.hanning(frame)
    level_db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-6)
    speech = level_db > level_db.max() - 30
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(frames, n=2 * frame)) ** 2)[:, :frame]
    autocorrelation /= autocorrelation[:, :1] + 1e-9
    min_lag, max_lag = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    lags = min_lag + np.argmax(autocorrelation[:, min_lag:max_lag], axis=1)
    voiced = speech & (autocorrelation[np.arange(num_frames), lags] > 0.5)
    log_f0 = np.log2(SAMPLE_RATE / lags[voiced]) if voiced.any() else np.zeros(1)
    envelope = np.convolve(level_db, np.ones(5) / 5, mode="same")
    peaks = (envelope[1:-1] > envelope[:-2]) & (envelope[1:-1] >= envelope[2:]) & speech[1:-1]
    speech_seconds = max(speech.sum() * hop / SAMPLE_RATE, 0.1)
    return [
        waveform.shape[0] / SAMPLE_RATE,
        level_db[speech].mean(),
        level_db[speech].std(),
        level_db.max(),
        speech.mean(),
        voiced.mean(),
        log_f0.mean(),
        log_f0.std(),
        np.percentile(log_f0, 90) - np.percentile(log_f0, 10),
        peaks.sum() / speech_seconds,
    ]


def split_rows(manifest_rows, split):
    return [row for row in manifest_rows if row["split"] == split]


def test_text_alone_and_audio_alone_beat_chance_and_fusion_beats_both(manifest_rows, waveforms):
    train, test = split_rows(manifest_rows, "train"), split_rows(manifest_rows, "test")
    train_labels = [row["label"] for row in train]
    test_labels = np.array([row["label"] for row in test])

    text_model = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000))
    text_model.fit([row["text"] for row in train], train_labels)
    text_probabilities = text_model.predict_proba([row["text"] for row in test])

    def audio_features(rows):
        return np.array([prosody_features(waveforms[row["utterance_id"]]) for row in rows])

    audio_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    audio_model.fit(audio_features(train), train_labels)
    audio_probabilities = audio_model.predict_proba(audio_features(test))
    assert list(text_model.classes_) == list(audio_model.classes_)
    classes = audio_model.classes_

    def accuracy(probabilities):
        return float(np.mean(classes[np.argmax(probabilities, axis=1)] == test_labels))

    text_accuracy = accuracy(text_probabilities)
    audio_accuracy = accuracy(audio_probabilities)
    fused_accuracy = accuracy(np.log(text_probabilities) + np.log(audio_probabilities))
    # 144 test clips: chance is 25% with a standard deviation of about 3.6 points.
    assert text_accuracy > CHANCE + 0.15, text_accuracy
    assert audio_accuracy > CHANCE + 0.15, audio_accuracy
    # Neither modality is sufficient: the text misleads on a fifth of the clips and is
    # ambiguous for a bag of words on the contrast sentences.
    assert text_accuracy < 0.7, text_accuracy
    assert fused_accuracy > max(text_accuracy, audio_accuracy), (fused_accuracy, text_accuracy, audio_accuracy)


def test_config_rejects_unbalanced_or_unknown_settings():
    with pytest.raises(ValueError, match="multiple of the number of labels"):
        DemoCorpusConfig(clips_per_voice=6)
    with pytest.raises(ValueError, match="calm"):
        DemoCorpusConfig(labels=("angry", "calm"), clips_per_voice=4)
    with pytest.raises(ValueError, match="at least two distinct"):
        DemoCorpusConfig(labels=("sad",), clips_per_voice=4)
    with pytest.raises(ValueError, match="sum to 1"):
        DemoCorpusConfig(text_kind_weights=(0.5, 0.5, 0.5))


def test_to_pcm16_uses_only_the_requested_resolution():
    waveform = np.random.default_rng(0).uniform(-1.2, 1.2, size=1000).astype(np.float32)
    samples = to_pcm16(waveform, resolution_bits=9)
    assert samples.dtype == np.int16
    assert np.all(samples % 128 == 0)
    inside = np.abs(waveform) < 0.99
    np.testing.assert_allclose(samples[inside] / 32768.0, waveform[inside], atol=0.5 / 256 + 1e-7)
    assert samples.max() == 255 * 128 and samples.min() == -256 * 128


def _corpus_digest(corpus_dir: Path) -> dict[str, str]:
    """SHA-256 of the manifest, of every FLAC file and of every clip's decoded samples."""
    digest = {"manifest.csv": hashlib.sha256((corpus_dir / "manifest.csv").read_bytes()).hexdigest()}
    for path in sorted((corpus_dir / "audio").glob("*.flac")):
        samples, _ = soundfile.read(path, dtype="int16")
        digest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        digest[path.name + ":samples"] = hashlib.sha256(samples.tobytes()).hexdigest()
    return digest


@requires_espeak
def test_generator_is_deterministic(tmp_path):
    config = DemoCorpusConfig(voices=DEMO_VOICES[:2], clips_per_voice=4)
    generate_demo_corpus(tmp_path / "first", config, num_workers=1)
    generate_demo_corpus(tmp_path / "second", config, num_workers=2)
    first = _corpus_digest(tmp_path / "first")
    assert len(first) == 1 + 2 * 8
    assert first == _corpus_digest(tmp_path / "second")
    other_seed = DemoCorpusConfig(voices=DEMO_VOICES[:2], clips_per_voice=4, seed=1)
    generate_demo_corpus(tmp_path / "other_seed", other_seed)
    assert _corpus_digest(tmp_path / "other_seed") != first


@requires_espeak
def test_committed_clips_are_reproduced_by_the_generator(manifest_rows):
    espeak = find_espeak()
    if espeak_version(espeak) not in (DEMO_DIR / "README.md").read_text(encoding="utf-8"):
        pytest.skip("the installed espeak-ng differs from the one that made the committed corpus")
    config = DemoCorpusConfig()
    rows_by_id = {row["utterance_id"]: row for row in manifest_rows}
    plans = plan_demo_corpus(config)
    for plan in (plans[0], plans[1], plans[-1]):
        clip, waveform = render_clip(plan, config, espeak)
        row = rows_by_id[plan.utterance_id]
        assert (clip.text, clip.label, clip.voice.speaker_id, clip.voice.split) == (
            row["text"], row["label"], row["speaker"], row["split"],
        )
        committed, _ = soundfile.read(DEMO_DIR / row["path"], dtype="int16")
        np.testing.assert_array_equal(to_pcm16(waveform, config.resolution_bits), committed)


def is_contrast_sentence(text: str) -> bool:
    for template in CONTRAST_TEMPLATES:
        pattern = re.escape(template)
        for field, words in (("{topic}", ".+"), ("{before}", r"\w+"), ("{now}", r"\w+")):
            pattern = pattern.replace(re.escape(field), words)
        if re.fullmatch(pattern, text, flags=re.IGNORECASE):
            return True
    return False


def test_contrast_sentences_need_word_order(manifest_rows):
    """A bag of words can only guess which of the two named feelings is the present one."""
    train, test = split_rows(manifest_rows, "train"), split_rows(manifest_rows, "test")
    contrast = [row for row in test if is_contrast_sentence(row["text"])]
    assert 0.3 < len(contrast) / len(test) < 0.5

    def contrast_accuracy(ngram_range: tuple[int, int]) -> float:
        model = make_pipeline(CountVectorizer(ngram_range=ngram_range), LogisticRegression(max_iter=3000))
        model.fit([row["text"] for row in train], [row["label"] for row in train])
        predictions = model.predict([row["text"] for row in contrast])
        return float(np.mean(predictions == np.array([row["label"] for row in contrast])))

    assert contrast_accuracy((1, 1)) < 0.6  # words alone: about half, one of the two feelings
    assert contrast_accuracy((1, 3)) > 0.85  # word order ("now I am ...") tells
