"""Utterance statistics as a model input: the in-graph layer, the cached path, and what they let a head learn."""

import keras
import numpy as np
import pytest
from seed_offset import shifted

from ser_keras.audio.statistics import UTTERANCE_STATISTICS_SIZE, dct_matrix, utterance_statistics
from ser_keras.models import (
    AUDIO_STATISTICS,
    UtteranceStatistics,
    build_ser_models,
    clip_statistics,
    set_statistics_standardization,
)
from ser_keras.models.audio_cnn import build_compact_audio_encoder
from ser_keras.training.classifier import build_classifier


def test_dct_matrix_matches_scipy_orthonormal_dct():
    from scipy.fft import dct

    frames = np.random.default_rng(0).normal(size=(5, 64))
    np.testing.assert_allclose(frames @ dct_matrix(), dct(frames, type=2, norm="ortho", axis=1)[:, :20], atol=1e-5)


def test_layer_on_padded_batches_equals_the_numpy_reference_per_clip():
    rng = np.random.default_rng(1)
    lengths = [1, 3, 2, 0]  # the last clip has no audio
    patches = rng.normal(2.0, 3.0, size=(4, 3, 96, 64)).astype(np.float32)
    mask = np.arange(3)[None, :] < np.array(lengths)[:, None]
    values = UtteranceStatistics()(patches, mask).numpy()
    assert values.shape == (4, UTTERANCE_STATISTICS_SIZE)
    for row, length in enumerate(lengths[:3]):
        np.testing.assert_allclose(values[row], utterance_statistics(patches[row, :length]), atol=2e-4)
    np.testing.assert_array_equal(values[3], 0.0)
    # Padding patches do not leak in: other values there change nothing.
    noisy = patches.copy()
    noisy[~mask] = 1e3
    np.testing.assert_allclose(UtteranceStatistics()(noisy, mask).numpy(), values, atol=1e-4)


def test_clip_statistics_are_the_layer_per_clip_in_any_batching():
    rng = np.random.default_rng(2)
    clips = {f"c{index}": rng.normal(size=(length, 96, 64)).astype(np.float32) for index, length in enumerate([2, 1, 4, 2, 3])}
    small, large = clip_statistics(clips, batch_size=2), clip_statistics(clips, batch_size=64)
    for key, clip in clips.items():
        np.testing.assert_allclose(small[key], utterance_statistics(clip), atol=2e-4)
        np.testing.assert_allclose(small[key], large[key], atol=1e-5)


def test_patch_and_utterance_statistics_are_one_computation():
    """`frame_statistics` serves both layers: its unmasked path (`PatchStatistics`) equals its masked path with every
    frame in, and a one-patch clip's log-mel statistics are that patch's `PatchStatistics`."""
    from ser_keras.models.audio_cnn import PatchStatistics
    from ser_keras.models.frame_statistics import frame_statistics

    patches = np.random.default_rng(4).normal(1.0, 2.0, size=(5, 96, 64)).astype(np.float32)
    per_patch = PatchStatistics()(patches).numpy()
    np.testing.assert_array_equal(per_patch, frame_statistics(patches, np.ones((5, 96, 1), np.float32)).numpy())
    clips = UtteranceStatistics()(patches[:, None], np.ones((5, 1), bool)).numpy()
    np.testing.assert_allclose(clips.reshape(5, 4, -1)[..., :64], per_patch.reshape(5, 4, 64), atol=1e-6)


def test_raw_model_computes_the_statistics_the_cached_model_reads():
    encoder = build_compact_audio_encoder(conv_widths=(4,))
    models = build_ser_models(None, encoder, modality="audio", pooling="mean", audio_statistics=UTTERANCE_STATISTICS_SIZE)
    assert AUDIO_STATISTICS in models.cached_model.input and AUDIO_STATISTICS not in models.raw_model.input
    rng = np.random.default_rng(3)
    patches = rng.normal(size=(3, 2, 96, 64)).astype(np.float32)
    mask = np.array([[True, True], [True, False], [True, True]])
    set_statistics_standardization(models.head, rng.normal(size=(10, UTTERANCE_STATISTICS_SIZE)))
    raw = models.raw_model({"audio_patches": patches, "audio_mask": mask}, training=False)["logits"]
    embeddings = np.stack([encoder(clip, training=False).numpy() for clip in patches])
    statistics = np.stack([utterance_statistics(clip[row_mask]) for clip, row_mask in zip(patches, mask)])
    cached = models.cached_model(
        {"audio_embeddings": embeddings, "audio_mask": mask, AUDIO_STATISTICS: statistics}, training=False
    )["logits"]
    np.testing.assert_allclose(np.asarray(raw), np.asarray(cached), atol=1e-4)


def _tremolo_corpus(rng, count):
    """Clips whose label (4 classes) is only in how much the frames vary over time; same mean level."""
    labels = np.arange(count) % 4
    base = rng.normal(0.0, 1.0, size=(count, 1, 1, 64))
    wobble = rng.normal(size=(count, 2, 96, 64)) * (0.5 + 0.5 * labels)[:, None, None, None]
    return (base + wobble).astype(np.float32), labels


@pytest.mark.parametrize("with_statistics", [True, False])
def test_a_head_learns_a_label_that_only_its_statistics_carry(with_statistics):
    # The audio embeddings are noise that ignores the clip (an encoder that missed the cue), so a head
    # learns the label from the utterance statistics or not at all. Chance is 0.25 on 200 test clips
    # (standard error about 0.03); both bounds held for SER_TEST_SEED_OFFSET 0-3.
    rng = np.random.default_rng(shifted(5))
    keras.utils.set_random_seed(shifted(5))
    patches, labels = _tremolo_corpus(rng, 600)
    statistics = np.stack([utterance_statistics(clip) for clip in patches])
    models = build_ser_models(
        None, None, modality="audio", pooling="mean",
        audio_statistics=UTTERANCE_STATISTICS_SIZE if with_statistics else None,
    )
    inputs = {
        "audio_embeddings": rng.normal(size=(600, 2, 128)).astype(np.float32),
        "audio_mask": np.ones([600, 2], bool),
    }
    if with_statistics:
        set_statistics_standardization(models.head, statistics[:400])
        inputs[AUDIO_STATISTICS] = statistics
    classifier = build_classifier(models.cached_model, keras.optimizers.Adam(3e-3))
    train = {key: value[:400] for key, value in inputs.items()}
    classifier.fit(train, labels[:400], batch_size=32, epochs=15, verbose=0)
    logits = models.cached_model({key: value[400:] for key, value in inputs.items()}, training=False)["logits"]
    accuracy = float((np.argmax(np.asarray(logits), axis=-1) == labels[400:]).mean())
    if with_statistics:
        assert accuracy > 0.8
    else:
        assert accuracy < 0.4
