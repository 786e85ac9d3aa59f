"""Analytic FLOPs per sample: the matmuls and convolutions of BERT, the audio encoder and the fusion head.

Conventions: one multiply-accumulate is 2 FLOPs; only matrix products and
convolutions are counted (biases, activations, LayerNorm, softmax and pooling
are a few per cent and left out), as is usual for transformer and CNN FLOP
figures. Everything is counted at the shapes the model really computes:

* BERT at the padded sequence length `L` (the preprocessor pads every
  transcript to `L`; padded positions are computed, then masked): per layer the
  Q, K, V and output projections `4 L H^2`, the scores and the weighted sum
  `2 L^2 H`, and the feed-forward network `2 L H I` multiply-accumulates. The
  pooler is not counted: 3M-SER reads the token outputs, so TensorFlow prunes
  the unused pooler from the graph.
* The audio encoder (VGGish) per 0.96 s patch, from its Conv2D and Dense layers.
* The fusion head: the text attention block on `[L, H]`, the fusion attention
  block on `[L + N, 128]` (`N` patches), and the classifier.

Example:

>>> transformer_layer_flops(sequence_length=4, hidden_dim=8, intermediate_dim=16)
4608
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras

from ser_keras.models.fusion import CLASSIFIER_UNITS, FUSION_DIM


def transformer_layer_flops(sequence_length: int, hidden_dim: int, intermediate_dim: int) -> int:
    """FLOPs of one BERT encoder layer on `sequence_length` tokens.

    Example:

    >>> transformer_layer_flops(1, 1, 1)  # 4 + 2 + 2 multiply-accumulates
    16
    """
    length, hidden = sequence_length, hidden_dim
    macs = 4 * length * hidden * hidden + 2 * length * length * hidden + 2 * length * hidden * intermediate_dim
    return 2 * macs


def bert_flops(backbone: keras.Model, sequence_length: int) -> int:
    """FLOPs of a keras-hub `BertBackbone`'s encoder layers on one padded transcript.

    Example:

    >>> bert_flops(keras_hub.models.BertBackbone(100, 2, 2, 32, 64), 10)  # doctest: +SKIP
    353280
    """
    return backbone.num_layers * transformer_layer_flops(
        sequence_length, backbone.hidden_dim, backbone.intermediate_dim
    )


def attention_block_flops(sequence_length: int, width: int, output_dim: int) -> int:
    """FLOPs of a `MaskedSelfAttentionBlock` (self-attention of `width`, then Dense to `output_dim`).

    Example:

    >>> attention_block_flops(2, 4, 3)  # 2 * (4*2*4*4 + 2*2*2*4 + 2*4*3)
    368
    """
    length = sequence_length
    macs = 4 * length * width * width + 2 * length * length * width + length * width * output_dim
    return 2 * macs


def fusion_head_flops(sequence_length: int, text_dim: int | None, num_patches: int, num_classes: int) -> int:
    """FLOPs of the 3M-SER fusion head on `sequence_length` tokens and `num_patches` audio patches.

    `text_dim=None`: an audio-only head (no text block; the fused sequence is the patches).

    Example:

    >>> fusion_head_flops(48, 384, 2, 4) > fusion_head_flops(48, None, 2, 4) > 0
    True
    """
    text = attention_block_flops(sequence_length, text_dim, FUSION_DIM) if text_dim else 0
    fused_length = num_patches + (sequence_length if text_dim else 0)
    fused = attention_block_flops(fused_length, FUSION_DIM, FUSION_DIM)
    classifier = 2 * (FUSION_DIM * CLASSIFIER_UNITS + CLASSIFIER_UNITS * num_classes)
    return text + fused + classifier


def dense_and_conv_flops(model: keras.Model) -> int:
    """FLOPs per sample of a functional model's `Dense` and `Conv2D` layers, at its static input shape.

    Conv2D: `2 * H_out * W_out * C_out * k_h * k_w * C_in / groups`; Dense:
    `2 * positions * inputs * units`. Other layers are not counted.

    Raises:
        ValueError: a counted layer has a dimension that is not static.

    Example:

    >>> inputs = keras.Input((3,))
    >>> dense_and_conv_flops(keras.Model(inputs, keras.layers.Dense(5)(inputs)))
    30
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            output_shape = tuple(layer.output.shape[1:])
            input_channels = layer.input.shape[-1]
            _check_static(layer, (*output_shape, input_channels))
            kernel = math.prod(layer.kernel_size)
            total += 2 * math.prod(output_shape) * kernel * input_channels // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            input_shape = tuple(layer.input.shape[1:])
            _check_static(layer, input_shape)
            total += 2 * math.prod(input_shape) * layer.units
    return total


def _check_static(layer: keras.layers.Layer, shape: tuple) -> None:
    if any(dimension is None for dimension in shape):
        raise ValueError(
            f"Cannot count the FLOPs of layer '{layer.name}': its shape {shape} is not static; "
            "build the model on a fixed input shape."
        )


@dataclass(frozen=True)
class FlopsBreakdown:
    """FLOPs per sample of one model, by branch.

    Example:

    >>> FlopsBreakdown(text=10, audio=20, head=5).total
    35
    """

    text: int
    audio: int
    head: int

    @property
    def total(self) -> int:
        """All counted FLOPs of one sample."""
        return self.text + self.audio + self.head

    def to_dict(self) -> dict[str, int]:
        """The breakdown and its total, JSON-ready."""
        return {**asdict(self), "total": self.total}


def model_flops(
    text_encoder: keras.Model | None,
    audio_flops_per_patch: int,
    sequence_length: int,
    num_patches: float,
    num_classes: int,
) -> FlopsBreakdown:
    """FLOPs per sample of a 3M-SER model on a transcript padded to `sequence_length` and `num_patches` patches.

    Args:
        text_encoder: the model's `BertBackbone` (its first k layers for a student),
            or `None` for an audio-only model.
        audio_flops_per_patch: from `dense_and_conv_flops(audio_encoder)`.
        sequence_length: the padded token length.
        num_patches: audio patches of the clip (a mean over clips may be fractional).
        num_classes: classifier outputs.

    Example:

    >>> model_flops(bert, dense_and_conv_flops(vggish), 48, 2, 4).total  # doctest: +SKIP
    """
    patches_low, fraction = math.floor(num_patches), num_patches - math.floor(num_patches)
    text_dim = text_encoder.hidden_dim if text_encoder is not None else None
    head = (1 - fraction) * fusion_head_flops(sequence_length, text_dim, patches_low, num_classes)
    if fraction:
        head += fraction * fusion_head_flops(sequence_length, text_dim, patches_low + 1, num_classes)
    return FlopsBreakdown(
        text=bert_flops(text_encoder, sequence_length) if text_encoder is not None else 0,
        audio=round(audio_flops_per_patch * num_patches),
        head=round(head),
    )
