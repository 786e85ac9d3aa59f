"""Builders of 3M-SER teachers and students, from encoder outputs or from raw inputs.

One fusion head is wrapped twice, so both wrappers share its weights:

* the cached-input model takes precomputed encoder outputs (`"text_features"`,
  `"padding_mask"`, `"audio_embeddings"`, `"audio_mask"`): stage 1, encoders
  frozen;
* the raw-input model runs the encoders itself (`"token_ids"`,
  `"segment_ids"`, `"padding_mask"`, and `"audio_patches"` + `"audio_mask"`,
  or `"audio_embeddings"` + `"audio_mask"` when the frozen audio encoder's
  outputs are cached): stage 2, text encoder fine-tuned.

Both return `{"logits": [B, C], "text_features": [B, L, H]}` (the BERT sequence
output, for the feature-distillation loss); audio-only models return logits only.

Example:

>>> student = build_ser_models(load_text_encoder("bert_base_en_uncased", num_layers=2),
...                            build_vggish(weights="vggish_model.ckpt"))  # doctest: +SKIP
>>> student.raw_model.output.keys()  # doctest: +SKIP
dict_keys(['logits', 'text_features'])

The encoders are loaded on their own (`ser_keras.text.load_text_encoder`,
`ser_keras.vggish.build_vggish`, or the compact audio CNN) and passed in:
the training job, the benchmark and the examples all build through
`build_ser_models`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from ser_keras.audio.params import NUM_BANDS, NUM_FRAMES
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.models.fusion import (
    AUDIO_EMBEDDINGS,
    AUDIO_MASK,
    AUDIO_PATCHES,
    AUDIO_STATISTICS,
    DROPOUT_RATE,
    LOGITS,
    PADDING_MASK,
    SEGMENT_IDS,
    TEXT_FEATURES,
    TOKEN_IDS,
    build_fusion_head,
    uses_audio,
    uses_text,
)
from ser_keras.models.layers import PatchEncoder
from ser_keras.models.utterance_statistics import UtteranceStatistics


@dataclass(frozen=True)
class PaperModel:
    """One of the paper's four models: BERT with `num_text_layers` layers + VGGish.

    Example:

    >>> PAPER_MODELS["bert_4"].num_text_layers
    4
    """

    name: str
    label: str
    num_text_layers: int


#: The paper's teacher and students (Table I), by name.
PAPER_MODELS: dict[str, PaperModel] = {
    model.name: model
    for model in (
        PaperModel("bert_base", "BERT_BASE-VGGish (teacher)", 12),
        PaperModel("bert_6", "BERT_6-VGGish", 6),
        PaperModel("bert_4", "BERT_4-VGGish", 4),
        PaperModel("bert_2", "BERT_2-VGGish", 2),
    )
}


@dataclass(frozen=True)
class SERModels:
    """A teacher or student: its encoders, its fusion head and the two models sharing it.

    Attributes:
        head: the fusion head (encoder outputs in, logits out).
        cached_model: precomputed encoder outputs in.
        raw_model: token ids (and audio patches, or cached audio embeddings
            when there is no `audio_encoder`) in.
        text_encoder: the BERT backbone, or `None` for audio-only models.
        audio_encoder: the per-patch audio encoder (VGGish), or `None`.

    Example:

    >>> models = build_ser_models(tiny_bert, build_vggish())  # doctest: +SKIP
    >>> models.cached_model.get_layer("fusion_head") is models.head  # doctest: +SKIP
    True
    """

    head: keras.Model
    cached_model: keras.Model
    raw_model: keras.Model
    text_encoder: keras.Model | None
    audio_encoder: keras.Model | None


def _head_uses(head: keras.Model, name: str) -> bool:
    return name in head.input


def build_cached_model(head: keras.Model, name: str = "ser_cached") -> keras.Model:
    """Wraps a fusion head for precomputed encoder outputs.

    The inputs are the head's inputs; the text features pass through as the
    `"text_features"` output (the encoder is frozen, so they are the cache).

    Example:

    >>> model = build_cached_model(build_fusion_head(text_dim=32))
    >>> sorted(model.output)
    ['logits', 'text_features']
    """
    inputs = {
        key: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=key)
        for key, tensor in head.input.items()
    }
    outputs = {LOGITS: head(inputs)}
    if _head_uses(head, TEXT_FEATURES):
        outputs[TEXT_FEATURES] = layers.Identity(name=f"{TEXT_FEATURES}_output")(inputs[TEXT_FEATURES])
    return keras.Model(inputs, outputs, name=name)


def build_raw_model(
    head: keras.Model,
    text_encoder: keras.Model | None = None,
    audio_encoder: keras.Model | None = None,
    name: str = "ser",
) -> keras.Model:
    """Wraps a fusion head with its encoders, for token ids and audio patches.

    Args:
        head: a fusion head from `build_fusion_head`.
        text_encoder: a keras-hub `BertBackbone`; required when the head has
            text inputs.
        audio_encoder: a model mapping `[n, 96, 64]` patches to `[n, 128]`
            (VGGish), applied to every patch; `None` keeps the audio input as
            precomputed `"audio_embeddings"` `[B, N, 128]` (a frozen encoder),
            and a head's utterance statistics as precomputed
            `"audio_statistics"`; with an encoder they are computed from the
            patches (`UtteranceStatistics`).
        name: the model's name.

    Example:

    >>> model = build_raw_model(head, bert, build_vggish())  # doctest: +SKIP
    >>> sorted(model.input)  # doctest: +SKIP
    ['audio_mask', 'audio_patches', 'padding_mask', 'segment_ids', 'token_ids']
    """
    inputs, head_inputs, outputs = {}, {}, {}
    if _head_uses(head, TEXT_FEATURES):
        if text_encoder is None:
            raise ValueError(f"The head '{head.name}' has text inputs: pass a text_encoder.")
        for key in (TOKEN_IDS, SEGMENT_IDS):
            inputs[key] = keras.Input((None,), dtype="int32", name=key)
        inputs[PADDING_MASK] = keras.Input((None,), dtype="bool", name=PADDING_MASK)
        encoded = text_encoder(
            {
                TOKEN_IDS: inputs[TOKEN_IDS],
                SEGMENT_IDS: inputs[SEGMENT_IDS],
                PADDING_MASK: inputs[PADDING_MASK],
            }
        )
        head_inputs[TEXT_FEATURES] = encoded["sequence_output"]
        head_inputs[PADDING_MASK] = inputs[PADDING_MASK]
        outputs[TEXT_FEATURES] = layers.Identity(name=f"{TEXT_FEATURES}_output")(encoded["sequence_output"])
    if _head_uses(head, AUDIO_EMBEDDINGS):
        if audio_encoder is None:
            inputs[AUDIO_EMBEDDINGS] = keras.Input(
                head.input[AUDIO_EMBEDDINGS].shape[1:], name=AUDIO_EMBEDDINGS
            )
            head_inputs[AUDIO_EMBEDDINGS] = inputs[AUDIO_EMBEDDINGS]
        else:
            inputs[AUDIO_PATCHES] = keras.Input((None, NUM_FRAMES, NUM_BANDS), name=AUDIO_PATCHES)
            head_inputs[AUDIO_EMBEDDINGS] = PatchEncoder(audio_encoder, name="patch_encoder")(
                inputs[AUDIO_PATCHES]
            )
        inputs[AUDIO_MASK] = keras.Input((None,), dtype="bool", name=AUDIO_MASK)
        head_inputs[AUDIO_MASK] = inputs[AUDIO_MASK]
    if _head_uses(head, AUDIO_STATISTICS):
        if audio_encoder is None:
            inputs[AUDIO_STATISTICS] = keras.Input(head.input[AUDIO_STATISTICS].shape[1:], name=AUDIO_STATISTICS)
            head_inputs[AUDIO_STATISTICS] = inputs[AUDIO_STATISTICS]
        else:
            head_inputs[AUDIO_STATISTICS] = UtteranceStatistics(name="utterance_statistics")(
                inputs[AUDIO_PATCHES], inputs[AUDIO_MASK]
            )
    return keras.Model(inputs, {LOGITS: head(head_inputs), **outputs}, name=name)


def build_ser_models(
    text_encoder: keras.Model | None,
    audio_encoder: keras.Model | None,
    num_classes: int = len(DEFAULT_LABELS),
    pooling: str = "cls",
    modality: str = "multimodal",
    audio_statistics: int | None = None,
    sentence_logits: bool = False,
    head_dropout: float = DROPOUT_RATE,
    name: str = "ser",
) -> SERModels:
    """Builds a fusion head for given encoders and both models around it.

    Args:
        text_encoder: a keras-hub `BertBackbone` (ignored for `"audio"`).
        audio_encoder: the per-patch audio encoder, or `None` to feed cached
            audio embeddings to the raw-input model (ignored for `"text"`).
        num_classes: number of emotion classes.
        pooling: `"cls"`, `"mean"` or `"max"`.
        modality: `"multimodal"`, `"text"` or `"audio"`.
        audio_statistics: the head also reads the clip's utterance statistics
            (their length, `UTTERANCE_STATISTICS_SIZE`); `None`: the paper's head.
        sentence_logits: the head adds linear logits of the mean-pooled text
            features (see `build_fusion_head`).
        head_dropout: the fusion head's dropout rate (`build_fusion_head`'s `dropout`).
        name: prefix of the models' names.

    Example:

    >>> bert = keras_hub.models.BertBackbone(100, 2, 2, 32, 64)  # doctest: +SKIP
    >>> models = build_ser_models(bert, None, pooling="mean")  # doctest: +SKIP
    """
    text_encoder = text_encoder if uses_text(modality) else None
    audio_encoder = audio_encoder if uses_audio(modality) else None
    if uses_text(modality) and text_encoder is None:
        raise ValueError(f"modality={modality!r} needs a text_encoder.")
    head = build_fusion_head(
        text_dim=text_encoder.hidden_dim if text_encoder is not None else None,
        num_classes=num_classes,
        pooling=pooling,
        modality=modality,
        audio_statistics=audio_statistics,
        sentence_logits=sentence_logits,
        dropout=head_dropout,
        name="fusion_head",
    )
    return SERModels(
        head=head,
        cached_model=build_cached_model(head, name=f"{name}_cached"),
        raw_model=build_raw_model(head, text_encoder, audio_encoder, name=name),
        text_encoder=text_encoder,
        audio_encoder=audio_encoder,
    )
