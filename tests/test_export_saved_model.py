"""SavedModel export: layout, both signatures, reload in a fresh TensorFlow-only process."""

from __future__ import annotations

import numpy as np
import pytest

from export_stand_ins import serve_in_fresh_process, stack_inputs, tiny_export


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


def test_layout_metadata_and_side_files_reload(tiny):
    import keras

    import ser_keras.models  # noqa: F401  (registers the custom layers)
    from ser_keras.export import load_export_preprocessor, read_metadata, side_files_dir

    assert tiny.saved_model_dir == tiny.export_dir / "1"
    assert (tiny.saved_model_dir / "saved_model.pb").is_file()
    side_files = side_files_dir(tiny.saved_model_dir)
    metadata = read_metadata(side_files)
    assert metadata["label_names"] == list(tiny.label_names)
    assert metadata["format"] == "ser_keras.export"
    assert set(metadata["input_names"]) == set(tiny.model.input)
    assert metadata["sequence_length"] == 24
    assert metadata["sample_rate"] == 16000
    assert metadata["signatures"] == {"raw": "serving_default", "tokens": "serving_tokens"}
    assert set(metadata["versions"]) == {"tensorflow", "keras", "keras_hub"}

    # Every weight is stored once (float32), not once per Keras and TensorFlow variable.
    stored = sum(path.stat().st_size for path in (tiny.saved_model_dir / "variables").iterdir())
    assert 4 * tiny.model.count_params() <= stored < 1.2 * 4 * tiny.model.count_params()

    batch = stack_inputs(tiny.test_clips[:4], tiny.preprocessor)
    reloaded = keras.saving.load_model(side_files / "model.keras")
    np.testing.assert_allclose(
        reloaded(batch, training=False)["logits"],
        tiny.model(batch, training=False)["logits"],
        atol=1e-6,
    )
    preprocessor = load_export_preprocessor(side_files)
    texts = ["I am so [LAUGHTER] happy about the trip!", "stop"]
    for key, value in tiny.preprocessor(texts).items():
        np.testing.assert_array_equal(preprocessor(texts)[key], value)


def test_fresh_tensorflow_process_matches_keras(tiny, tmp_path):
    clips = tiny.test_clips[:6]
    assert len({len(clip.waveform) for clip in clips}) > 1, "the batch must mix lengths to exercise padding"
    tokens_batch = stack_inputs(clips, tiny.preprocessor)
    outputs = serve_in_fresh_process(tiny.saved_model_dir, clips, tmp_path, **tokens_batch)
    expected = tiny.keras_probabilities(tokens_batch)

    assert list(outputs["signatures"]) == ["serving_default", "serving_tokens"]
    assert list(outputs["foreign_modules"]) == []
    assert outputs["serving_default/probabilities"].shape == (6, 4)
    np.testing.assert_allclose(outputs["serving_default/probabilities"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(outputs["serving_tokens/probabilities"], expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(outputs["serving_default/label_id"], expected.argmax(axis=1))
    assert list(outputs["serving_default/label"]) == [tiny.label_names[i] for i in expected.argmax(axis=1)]
    # The model is trained: confident, not uniform, predictions (measured over SER_TEST_SEED_OFFSET 0-4: 0.49 to 0.69).
    assert expected.max(axis=1).min() > 0.3


def test_batch_audio_patches_match_the_front_end_per_clip():
    import tensorflow as tf

    from ser_keras.audio import waveform_to_examples
    from ser_keras.export import batch_audio_patches

    rng = np.random.default_rng(0)
    lengths = [40_000, 9_000, 16_000]
    waveform = np.zeros((3, 40_000), np.float32)
    for index, length in enumerate(lengths):
        waveform[index, :length] = 0.1 * rng.standard_normal(length)
    patches, mask = batch_audio_patches(tf.constant(waveform), tf.constant(lengths), max_patches=64)
    assert patches.shape == (3, 2, 96, 64)
    np.testing.assert_array_equal(mask, [[True, True], [True, False], [True, False]])
    for index, length in enumerate(lengths):
        expected = waveform_to_examples(waveform[index, :length]).numpy()
        np.testing.assert_allclose(patches[index, : len(expected)], expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty audio"):
        batch_audio_patches(tf.constant(waveform), tf.constant([40_000, 0, 5]), max_patches=64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds"):
        batch_audio_patches(tf.constant(waveform), tf.constant([40_001, 1, 5]), max_patches=64)


def test_export_refuses_bad_requests(tiny, tmp_path):
    from ser_keras.export import export_model
    from ser_keras.models import build_ser_models
    from text_model_stand_ins import build_tiny_bert

    with pytest.raises(FileExistsError, match="already exists"):
        export_model(tiny.model, tiny.preprocessor, tiny.label_names, tiny.export_dir, version=1)
    with pytest.raises(ValueError, match="4 classes but 3 label names"):
        export_model(tiny.model, tiny.preprocessor, ["a", "b", "c"], tmp_path)
    with pytest.raises(ValueError, match="positive integer"):
        export_model(tiny.model, tiny.preprocessor, tiny.label_names, tmp_path, version=0)
    cached = build_ser_models(build_tiny_bert(), None).cached_model
    with pytest.raises(ValueError, match="text_features"):
        export_model(cached, tiny.preprocessor, tiny.label_names, tmp_path)
    assert list(tmp_path.iterdir()) == []
