"""Encoder-output cache: values, reuse across instances, invalidation by weights and content."""

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from keras_hub.models import BertBackbone, BertTextClassifierPreprocessor, BertTokenizer

from ser_keras.audio import load_audio, waveform_to_examples
from ser_keras.data import EncoderCache, SkipReport, Utterance, make_dataset, weights_fingerprint

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "a", "mat"]


class CountingEncoder:
    """Forwards to a Keras model and counts the rows it was given."""

    def __init__(self, model):
        self.model = model
        self.rows = 0

    @property
    def weights(self):
        return self.model.weights

    def __call__(self, inputs):
        first = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        self.rows += len(first)
        return self.model(inputs)


def tiny_audio_encoder(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((96, 64)), keras.layers.Flatten(), keras.layers.Dense(128)]
    )


def tiny_text_encoder(seed):
    keras.utils.set_random_seed(seed)
    return BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )


@pytest.fixture(scope="module")
def preprocessor():
    return BertTextClassifierPreprocessor(BertTokenizer(vocabulary=VOCABULARY), sequence_length=16)


@pytest.fixture
def items(tmp_path):
    rng = np.random.default_rng(0)
    result = []
    for name, seconds, text in (
        ("a", 0.5, "the cat"),
        ("b", 2.0, "a cat sat on the mat"),
        ("c", 3.0, ""),
    ):
        path = tmp_path / f"{name}.flac"
        soundfile.write(path, 0.1 * rng.standard_normal(int(16000 * seconds)), 16000)
        result.append(Utterance(name, text, "sad", audio_path=str(path)))
    return result


def test_audio_embeddings_are_computed_once_and_reused(items, tmp_path):
    encoder = CountingEncoder(tiny_audio_encoder(0))
    embeddings = EncoderCache(tmp_path / "cache", show_progress=False).audio_embeddings(
        items, encoder
    )
    for item in items:
        expected = encoder.model(waveform_to_examples(load_audio(item.audio_path))).numpy()
        np.testing.assert_allclose(embeddings[item.utterance_id], expected, rtol=1e-5, atol=1e-5)
    assert [len(embeddings[name]) for name in "abc"] == [1, 2, 3]
    assert encoder.rows == 6
    (stored,) = (tmp_path / "cache").glob("audio_embeddings-*.npz")
    assert weights_fingerprint(encoder)[:24] in stored.name
    again = EncoderCache(tmp_path / "cache", show_progress=False).audio_embeddings(items, encoder)
    assert encoder.rows == 6  # nothing recomputed by a new cache object on the same folder
    for name in "abc":
        np.testing.assert_array_equal(again[name], embeddings[name])


def test_new_weights_invalidate_the_audio_cache(items, tmp_path):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    first = CountingEncoder(tiny_audio_encoder(0))
    before = cache.audio_embeddings(items, first)
    retrained = CountingEncoder(tiny_audio_encoder(0))
    kernel = retrained.model.layers[-1].kernel
    kernel.assign(kernel + 0.01)
    after = cache.audio_embeddings(items, retrained)
    assert retrained.rows == 6
    assert not np.allclose(after["b"], before["b"])
    assert len(list((tmp_path / "cache").glob("audio_embeddings-*.npz"))) == 2


def test_changed_clip_content_is_recomputed_alone(items, tmp_path):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    encoder = CountingEncoder(tiny_audio_encoder(0))
    cache.audio_embeddings(items, encoder)
    soundfile.write(items[1].audio_path, 0.2 * np.ones(16000 * 4), 16000)  # b: new audio, 4 patches
    updated = cache.audio_embeddings(items, encoder)
    assert encoder.rows == 6 + 4
    expected = encoder.model(waveform_to_examples(load_audio(items[1].audio_path))).numpy()
    np.testing.assert_allclose(updated["b"], expected, rtol=1e-5, atol=1e-5)


def test_unreadable_clips_are_reported_and_left_out(items, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    clips = [
        *items,
        Utterance("broken", "x", "sad", audio_path=str(broken)),
        Utterance("gone", "x", "sad", audio_path=str(tmp_path / "gone.wav")),
        Utterance("text", "the mat", "sad"),
    ]
    report = SkipReport()
    embeddings = EncoderCache(tmp_path / "cache").audio_embeddings(
        clips, CountingEncoder(tiny_audio_encoder(0)), skip_report=report
    )
    assert sorted(embeddings) == ["a", "b", "c"]
    assert sorted(item.item_id for item in report) == ["broken", "gone"]
    assert "4/4" in capsys.readouterr().out  # the progress bar counted the 4 clips to compute


def test_text_features_match_the_encoder_at_real_tokens(items, tmp_path, preprocessor):
    encoder = CountingEncoder(tiny_text_encoder(0))
    features = EncoderCache(tmp_path / "cache", show_progress=False).text_features(
        items, encoder, preprocessor, batch_size=2
    )
    for item in items:  # reference: each text alone, at full sequence length
        tokens = preprocessor(tf.constant([item.text]))
        length = int(tokens["padding_mask"].numpy().sum())
        expected = encoder.model(tokens)["sequence_output"].numpy()[0, :length]
        np.testing.assert_allclose(features[item.utterance_id], expected, rtol=1e-4, atol=1e-5)
    assert [len(features[name]) for name in "abc"] == [4, 8, 2]
    assert encoder.rows == 3


def test_text_cache_reuse_and_invalidation(items, tmp_path, preprocessor):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    encoder = CountingEncoder(tiny_text_encoder(0))
    first = cache.text_features(items, encoder, preprocessor)
    cache.text_features(items, encoder, preprocessor)
    assert encoder.rows == 3
    edited = [items[0], Utterance("b", "the mat", "sad", audio_path=items[1].audio_path), items[2]]
    changed = cache.text_features(edited, encoder, preprocessor)
    assert encoder.rows == 4 and changed["b"].shape == (4, 8)
    np.testing.assert_array_equal(changed["a"], first["a"])
    other = CountingEncoder(tiny_text_encoder(1))
    cache.text_features(items, other, preprocessor)
    assert other.rows == 3


def test_corrupt_cache_file_is_rebuilt(items, tmp_path, caplog):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    encoder = CountingEncoder(tiny_audio_encoder(0))
    cache.audio_embeddings(items, encoder)
    (stored,) = (tmp_path / "cache").glob("audio_embeddings-*.npz")
    stored.write_bytes(b"PK\x03\x04 truncated")
    rebuilt = cache.audio_embeddings(items, encoder)
    assert encoder.rows == 12 and sorted(rebuilt) == ["a", "b", "c"]
    assert "unreadable" in caplog.text
    with np.load(stored, allow_pickle=False) as reloaded:
        assert reloaded["values"].shape == (6, 128)


def test_cached_outputs_feed_the_pipeline(items, tmp_path, preprocessor):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    features = cache.text_features(items, tiny_text_encoder(0), preprocessor)
    embeddings = cache.audio_embeddings(items, tiny_audio_encoder(0))
    dataset = make_dataset(
        items, text_features=features, audio_embeddings=embeddings, bucket_boundaries=None
    )
    ((inputs, labels),) = list(dataset)
    assert inputs["text_features"].shape == (3, 8, 8) and inputs["audio_embeddings"].shape == (
        3,
        3,
        128,
    )
    assert inputs["padding_mask"].numpy().sum(axis=1).tolist() == [4, 8, 2]
    assert inputs["audio_mask"].numpy().sum(axis=1).tolist() == [1, 2, 3]
    assert labels.numpy().tolist() == [2, 2, 2]


def test_plain_callables_need_a_fingerprint(items, tmp_path):
    cache = EncoderCache(tmp_path / "cache", show_progress=False)
    with pytest.raises(TypeError, match="encoder_fingerprint"):
        cache.audio_embeddings(items, lambda patches: np.zeros((len(patches), 128)))
    embeddings = cache.audio_embeddings(
        items, lambda patches: np.ones((len(patches), 128)), encoder_fingerprint="ones-v1"
    )
    assert embeddings["c"].shape == (3, 128) and embeddings["c"].all()
