"""The fusion head's masked blocks against independent NumPy references."""

import numpy as np
import pytest
from text_model_stand_ins import build_tiny_audio_encoder

from ser_keras.models import ConcatenateSequences, MaskedPooling, MaskedSelfAttentionBlock, PatchEncoder

RNG = np.random.default_rng(0)


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def reference_block(block, x, mask):
    """Masked multi-head self-attention -> Dense -> LayerNorm, written out in NumPy."""
    attention = block.attention
    (wq, bq), (wk, bk), (wv, bv) = (
        dense.get_weights() for dense in (attention.query_dense, attention.key_dense, attention.value_dense)
    )
    wo, bo = attention.output_dense.get_weights()
    q = np.einsum("btd,dhk->bthk", x, wq) + bq
    k = np.einsum("bsd,dhk->bshk", x, wk) + bk
    v = np.einsum("bsd,dhk->bshk", x, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(mask[:, None, None, :], scores, -np.inf)
    attended = np.einsum("bhts,bshk->bthk", softmax(scores), v)
    attended = np.einsum("bthk,hkd->btd", attended, wo) + bo
    kernel, bias = block.projection.get_weights()
    projected = attended @ kernel + bias
    gamma, beta = block.layer_norm.get_weights()
    mean = projected.mean(-1, keepdims=True)
    variance = projected.var(-1, keepdims=True)
    return (projected - mean) / np.sqrt(variance + block.epsilon) * gamma + beta


def test_attention_block_matches_numpy_reference_with_masks():
    block = MaskedSelfAttentionBlock(output_dim=16, num_heads=4, dropout=0.5, epsilon=1e-5)
    x = RNG.standard_normal((3, 5, 24)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 1, 0, 1]], bool)
    outputs = np.asarray(block(x, mask, training=False))
    assert block.attention.count_params() == 4 * 24 * 24 + 4 * 24  # like nn.MultiheadAttention(24, 4)
    np.testing.assert_allclose(outputs, reference_block(block, x, mask), atol=1e-5)
    # Without the mask the padded keys would change the result.
    unmasked = np.asarray(block(x, np.ones_like(mask), training=False))
    assert np.abs(unmasked[1] - outputs[1]).max() > 1e-3


def test_attention_block_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible by num_heads=8"):
        MaskedSelfAttentionBlock(num_heads=8)(np.zeros((1, 2, 12), "float32"), np.ones((1, 2), bool))


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("cls", [[1.0, -1.0], [0.5, 4.0]]),
        ("mean", [[2.0, 0.0], [0.5, 4.0]]),
        ("max", [[3.0, 1.0], [0.5, 4.0]]),
    ],
)
def test_masked_pooling(mode, expected):
    x = np.array(
        [[[1.0, -1.0], [3.0, 1.0], [99.0, 99.0]], [[0.5, 4.0], [99.0, 99.0], [99.0, 99.0]]], "float32"
    )
    mask = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(np.asarray(MaskedPooling(mode)(x, mask)), expected)


def test_masked_pooling_of_an_empty_sequence_is_zero_and_modes_are_checked():
    x = -RNG.random((1, 3, 2)).astype("float32")
    empty = np.zeros((1, 3), bool)
    for mode in ("mean", "max"):
        np.testing.assert_array_equal(np.asarray(MaskedPooling(mode)(x, empty)), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="pooling mode"):
        MaskedPooling("attention")


def test_concatenate_sequences_joins_features_and_masks():
    text, audio = RNG.random((2, 3, 4)), RNG.random((2, 2, 4))
    text_mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
    audio_mask = np.array([[1, 0], [1, 1]], bool)
    features, mask = ConcatenateSequences()([text, audio], [text_mask, audio_mask])
    np.testing.assert_allclose(np.asarray(features), np.concatenate([text, audio], axis=1), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(mask), [[1, 1, 0, 1, 0], [1, 0, 0, 1, 1]])


def test_patch_encoder_applies_the_encoder_to_every_patch():
    encoder = build_tiny_audio_encoder()
    patches = RNG.standard_normal((2, 3, 96, 64)).astype("float32")
    embeddings = np.asarray(PatchEncoder(encoder)(patches))
    assert embeddings.shape == (2, 3, 128)
    for clip in range(2):
        np.testing.assert_allclose(embeddings[clip], np.asarray(encoder(patches[clip])), atol=1e-6)
    assert PatchEncoder(encoder).compute_output_shape((None, None, 96, 64)) == (None, None, 128)

