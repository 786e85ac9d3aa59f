"""Masked building blocks of the 3M-SER fusion head.

Every block takes a boolean mask (True = real token or audio patch) so that a
sample's result does not depend on how much padding its batch adds: padded
positions are never attended to and never pooled.

Example:

>>> import numpy as np
>>> block = MaskedSelfAttentionBlock(output_dim=128)
>>> features = block(np.zeros([2, 5, 32], "float32"), np.ones([2, 5], bool))
>>> tuple(features.shape)
(2, 5, 128)
"""

from __future__ import annotations

import keras
from keras import layers, ops

from ser_keras.modalities import POOLING_MODES


@keras.saving.register_keras_serializable(package="ser_keras")
class MaskedSelfAttentionBlock(layers.Layer):
    """Self-attention -> Dense -> LayerNormalization, without a residual (3M-SER block).

    The attention works on the input's own width `H` (`num_heads` heads of
    `H / num_heads` dimensions, projected back to `H`, like PyTorch's
    `nn.MultiheadAttention(H, num_heads)`); padded keys are masked out.

    Args:
        output_dim: units of the Dense projection after the attention.
        num_heads: attention heads; must divide the input width.
        dropout: dropout on the attention weights (training only).
        epsilon: LayerNormalization epsilon.

    Call arguments:
        inputs: float `[B, T, H]`.
        padding_mask: bool `[B, T]`, True for real positions.
        training: enables attention dropout.

    Example:

    >>> import numpy as np
    >>> block = MaskedSelfAttentionBlock(output_dim=8, num_heads=2)
    >>> tuple(block(np.ones([1, 3, 4], "float32"), np.array([[True, True, False]])).shape)
    (1, 3, 8)
    """

    def __init__(
        self,
        output_dim: int = 128,
        num_heads: int = 8,
        dropout: float = 0.5,
        epsilon: float = 1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.epsilon = epsilon
        self.attention = None
        self.projection = layers.Dense(output_dim, name="projection")
        self.layer_norm = layers.LayerNormalization(epsilon=epsilon, name="layer_norm")

    def build(self, inputs_shape):
        width = inputs_shape[-1]
        if width is None or width % self.num_heads:
            raise ValueError(
                f"{self.name}: the input width ({width}) must be known and divisible by "
                f"num_heads={self.num_heads}."
            )
        self.attention = layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=width // self.num_heads,
            dropout=self.dropout,
            name="attention",
        )
        self.attention.build(inputs_shape, inputs_shape)
        self.projection.build(inputs_shape)
        self.layer_norm.build((*inputs_shape[:-1], self.output_dim))

    def call(self, inputs, padding_mask, training=None):
        # [B, 1, S]: every query may attend to the real keys only.
        key_mask = ops.expand_dims(ops.cast(padding_mask, "bool"), axis=1)
        attended = self.attention(
            inputs, inputs, attention_mask=key_mask, training=training
        )
        return self.layer_norm(self.projection(attended))

    def compute_output_shape(self, inputs_shape):
        return (*inputs_shape[:-1], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="ser_keras")
class ConcatenateSequences(layers.Layer):
    """Concatenates sequences and their masks along the sequence axis.

    Call arguments:
        sequences: a list of float `[B, T_i, D]` tensors.
        masks: the matching list of bool `[B, T_i]` masks.

    Returns:
        `(features [B, sum T_i, D], mask [B, sum T_i])`.

    Example:

    >>> import numpy as np
    >>> features, mask = ConcatenateSequences()(
    ...     [np.ones([1, 2, 4], "float32"), np.ones([1, 3, 4], "float32")],
    ...     [np.ones([1, 2], bool), np.zeros([1, 3], bool)])
    >>> tuple(features.shape), tuple(mask.shape)
    ((1, 5, 4), (1, 5))
    """

    def call(self, sequences, masks):
        features = ops.concatenate(list(sequences), axis=1)
        mask = ops.concatenate([ops.cast(mask, "bool") for mask in masks], axis=1)
        return features, mask

    def compute_output_spec(self, sequences, masks):
        lengths = [sequence.shape[1] for sequence in sequences]
        length = None if None in lengths else sum(lengths)
        batch = sequences[0].shape[0]
        return (
            keras.KerasTensor((batch, length, sequences[0].shape[-1]), dtype=sequences[0].dtype),
            keras.KerasTensor((batch, length), dtype="bool"),
        )


@keras.saving.register_keras_serializable(package="ser_keras")
class MaskedPooling(layers.Layer):
    """Pools a sequence to one vector: its first position, or a masked mean or max.

    Args:
        mode: `"cls"` (position 0: the text's [CLS] token in 3M-SER),
            `"mean"` or `"max"` over the real positions only.

    Example:

    >>> import numpy as np
    >>> pooled = MaskedPooling("mean")(
    ...     np.array([[[1.0], [3.0], [100.0]]], "float32"), np.array([[True, True, False]]))
    >>> float(pooled[0, 0])
    2.0
    """

    def __init__(self, mode: str = "cls", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"pooling mode must be one of {POOLING_MODES}; got {mode!r}.")
        self.mode = mode

    def call(self, inputs, padding_mask):
        if self.mode == "cls":
            return inputs[:, 0]
        mask = ops.expand_dims(ops.cast(padding_mask, "bool"), axis=-1)
        if self.mode == "max":
            lowest = ops.full_like(inputs, float("-inf"))
            pooled = ops.max(ops.where(mask, inputs, lowest), axis=1)
            # A sample without any real position pools to zeros, not -inf.
            return ops.where(ops.any(mask, axis=1), pooled, ops.zeros_like(pooled))
        weights = ops.cast(mask, inputs.dtype)
        total = ops.sum(inputs * weights, axis=1)
        return total / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="ser_keras")
class PatchEncoder(layers.Layer):
    """Applies a per-patch audio encoder (VGGish) to every patch of every clip.

    `[B, N, 96, 64]` patches are flattened to `[B*N, 96, 64]`, encoded in one
    call, and reshaped to `[B, N, E]`.

    Args:
        encoder: a model mapping `[n, *patch_shape]` to `[n, E]`.

    Example:

    >>> import numpy as np
    >>> from ser_keras.vggish import build_vggish
    >>> tuple(PatchEncoder(build_vggish())(np.zeros([2, 3, 96, 64], "float32")).shape)  # doctest: +SKIP
    (2, 3, 128)
    """

    def __init__(self, encoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder

    def build(self, patches_shape):
        self.encoder.build((None, *patches_shape[2:]))

    def call(self, patches, training=None):
        shape = ops.shape(patches)
        flat = ops.reshape(patches, (-1, *patches.shape[2:]))
        embeddings = self.encoder(flat, training=training)
        return ops.reshape(embeddings, (shape[0], shape[1], embeddings.shape[-1]))

    def compute_output_shape(self, patches_shape):
        embedding_size = self.encoder.compute_output_shape((None, *patches_shape[2:]))[-1]
        return (patches_shape[0], patches_shape[1], embedding_size)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
