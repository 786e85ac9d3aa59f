"""The sentence logits: a linear readout of the mean-pooled text features inside the fusion head."""

from __future__ import annotations

import keras
import numpy as np

from ser_keras.models import build_fusion_head


def _sentence_part(head: keras.Model) -> keras.Model:
    """The head's sentence-logits branch alone (pooling -> dropout -> Dense)."""
    inputs = head.input
    pooled = head.get_layer("sentence_pooling")(inputs["text_features"], inputs["padding_mask"])
    return keras.Model(inputs, head.get_layer("sentence_logits")(pooled))


def test_sentence_logits_ignore_the_padded_tail():
    head = build_fusion_head(text_dim=8, num_classes=3, modality="text", sentence_logits=True)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(2, 4, 8)).astype("float32")
    garbage = 100 * rng.normal(size=(2, 3, 8)).astype("float32")
    padded = np.concatenate([real, garbage], axis=1)
    mask = np.array([[True] * 4 + [False] * 3] * 2)
    whole = head({"text_features": real, "padding_mask": np.ones((2, 4), bool)})
    tail = head({"text_features": padded, "padding_mask": mask})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(whole), keras.ops.convert_to_numpy(tail), atol=1e-5)
    # The branch is the linear map of the real tokens' mean (an independent reference).
    dense = head.get_layer("sentence_logits")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
    expected = real.mean(axis=1) @ kernel + bias
    branch = _sentence_part(head)({"text_features": padded, "padding_mask": mask})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(branch), expected, rtol=1e-5, atol=1e-5)


def test_sentence_logits_are_added_to_the_attention_logits():
    plain = build_fusion_head(text_dim=8, modality="text")
    with_sentence = build_fusion_head(text_dim=8, modality="text", sentence_logits=True)
    names = {layer.name for layer in with_sentence.layers}
    assert {"sentence_pooling", "sentence_logits", "attention_logits"} <= names
    assert "sentence_logits" not in {layer.name for layer in plain.layers}
    assert with_sentence.count_params() - plain.count_params() == 8 * 4 + 4
    audio = build_fusion_head(None, modality="audio", pooling="mean", sentence_logits=True)
    assert "sentence_logits" not in {layer.name for layer in audio.layers}
