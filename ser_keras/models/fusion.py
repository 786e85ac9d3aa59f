"""The 3M-SER fusion head: attention over text tokens and audio patches, then a classifier.

Architecture (the authors' code, with padding masks added for batching):

* text: BERT sequence output `[B, L, H]` -> self-attention (8 heads on `H`
  dims, dropout 0.5) -> Dense(128) -> LayerNorm(eps 1e-5);
* audio: VGGish embeddings `[B, N, 128]` -> LayerNorm(eps 1e-5);
* fusion: both concatenated along the sequence axis `[B, L + N, 128]` ->
  self-attention (8 heads, dropout 0.5) -> Dense(128) -> LayerNorm;
* pooling: the first position (the text's [CLS]), or a masked mean or max;
* classifier: Dropout(0.5) -> Dense(64) -> LeakyReLU(0.01) -> Dense(num_classes);
* with `audio_statistics` (not in 3M-SER): the clip's utterance statistics
  (`ser_keras.models.utterance_statistics`), standardised with the training
  clips' statistics (`set_statistics_standardization`), -> Dropout(0.2) ->
  Dense(num_classes) with an L2 penalty, added to the classifier's logits: a
  linear probe inside the model;
* with `sentence_logits` (not in 3M-SER): the masked mean of the text
  features (the sentence embedding MiniLM-style encoders are trained to give)
  -> Dropout(0.1) -> Dense(num_classes), added to the logits: the text probe
  inside the model, and a short gradient path to the encoder in fine-tuning.

No residual connections, as in the original. The text-only and audio-only
ablations keep the same blocks and drop the other modality's inputs.

Example:

>>> head = build_fusion_head(text_dim=768)
>>> sorted(head.input)
['audio_embeddings', 'audio_mask', 'padding_mask', 'text_features']
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from ser_keras.audio.params import EMBEDDING_SIZE
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.modalities import (  # noqa: F401  (re-exported: the choices are defined in ser_keras.modalities)
    MODALITIES,
    POOLING_MODES,
    default_pooling,
    uses_audio,
    uses_text,
)
from ser_keras.models.audio_cnn import BandStandardization
from ser_keras.models.layers import (
    ConcatenateSequences,
    MaskedPooling,
    MaskedSelfAttentionBlock,
)

#: Input and output names shared by the data pipeline, the models and the trainer.
TOKEN_IDS = "token_ids"
SEGMENT_IDS = "segment_ids"
PADDING_MASK = "padding_mask"
TEXT_FEATURES = "text_features"
AUDIO_PATCHES = "audio_patches"
AUDIO_EMBEDDINGS = "audio_embeddings"
AUDIO_MASK = "audio_mask"
AUDIO_STATISTICS = "audio_statistics"
LOGITS = "logits"

#: Width of the fused sequence, attention heads, dropout, classifier units (3M-SER).
FUSION_DIM = 128
NUM_ATTENTION_HEADS = 8
DROPOUT_RATE = 0.5
CLASSIFIER_UNITS = 64
LEAKY_RELU_SLOPE = 0.01
LAYER_NORM_EPSILON = 1e-5

#: Dropout on the standardised utterance statistics, and the L2 weight of their linear logits.
STATISTICS_DROPOUT = 0.2
STATISTICS_L2 = 1e-2

#: Dropout on the mean-pooled text features of the sentence logits.
SENTENCE_DROPOUT = 0.1

#: Name of the utterance statistics' standardisation layer (`set_statistics_standardization`).
STATISTICS_STANDARDIZATION = "statistics_standardization"


def _attention_block(name: str, dropout: float) -> MaskedSelfAttentionBlock:
    return MaskedSelfAttentionBlock(
        output_dim=FUSION_DIM,
        num_heads=NUM_ATTENTION_HEADS,
        dropout=dropout,
        epsilon=LAYER_NORM_EPSILON,
        name=name,
    )


def build_fusion_head(
    text_dim: int | None,
    num_classes: int = len(DEFAULT_LABELS),
    pooling: str = "cls",
    modality: str = "multimodal",
    audio_dim: int = EMBEDDING_SIZE,
    audio_statistics: int | None = None,
    sentence_logits: bool = False,
    dropout: float = DROPOUT_RATE,
    name: str = "fusion_head",
) -> keras.Model:
    """Builds the fusion head on encoder outputs (a functional model).

    Args:
        text_dim: width `H` of the text features (BERT hidden size); unused
            (may be `None`) for `modality="audio"`.
        num_classes: number of emotion classes.
        pooling: `"cls"` (3M-SER: the text's first token), `"mean"` or `"max"`.
        modality: `"multimodal"`, `"text"` or `"audio"`.
        audio_dim: width of the audio embeddings (VGGish: 128).
        audio_statistics: length of the utterance statistics to read beside
            the embeddings (`UTTERANCE_STATISTICS_SIZE`), or `None` for the
            paper's head; ignored for `modality="text"`.
        sentence_logits: add linear logits of the mean-pooled text features
            (the sentence embedding) to the classifier's; ignored for
            `modality="audio"`.
        dropout: the rate of the attention blocks' dropout and of the dropout
            before the classifier (3M-SER: 0.5).
        name: the model's name.

    Returns:
        A model taking a dict with `"text_features"` `[B, L, H]` and
        `"padding_mask"` `[B, L]` (text) and/or `"audio_embeddings"`
        `[B, N, audio_dim]`, `"audio_mask"` `[B, N]` and, with
        `audio_statistics`, `"audio_statistics"` `[B, audio_statistics]`
        (audio), returning logits `[B, num_classes]`.

    Example:

    >>> import numpy as np
    >>> head = build_fusion_head(text_dim=32, modality="text")
    >>> tuple(head({"text_features": np.zeros([2, 7, 32], "float32"),
    ...             "padding_mask": np.ones([2, 7], bool)}).shape)
    (2, 4)
    """
    with_text, with_audio = uses_text(modality), uses_audio(modality)
    if pooling not in POOLING_MODES:
        raise ValueError(f"pooling must be one of {POOLING_MODES}; got {pooling!r}.")
    if pooling == "cls" and not with_text:
        raise ValueError(
            "pooling='cls' takes the text's [CLS] position, which an audio-only head "
            "does not have; use pooling='mean' or 'max'."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"The head's dropout must be in [0, 1); got {dropout}.")
    if with_text and not text_dim:
        raise ValueError(f"text_dim (the text encoder's hidden size) is required for modality={modality!r}.")

    inputs, sequences, masks = {}, [], []
    if with_text:
        inputs[TEXT_FEATURES] = keras.Input((None, text_dim), name=TEXT_FEATURES)
        inputs[PADDING_MASK] = keras.Input((None,), dtype="bool", name=PADDING_MASK)
        sequences.append(_attention_block("text_attention", dropout)(inputs[TEXT_FEATURES], inputs[PADDING_MASK]))
        masks.append(inputs[PADDING_MASK])
    if with_audio:
        inputs[AUDIO_EMBEDDINGS] = keras.Input((None, audio_dim), name=AUDIO_EMBEDDINGS)
        inputs[AUDIO_MASK] = keras.Input((None,), dtype="bool", name=AUDIO_MASK)
        audio = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="audio_layer_norm")(
            inputs[AUDIO_EMBEDDINGS]
        )
        sequences.append(audio)
        masks.append(inputs[AUDIO_MASK])

    if len(sequences) > 1:
        sequence, mask = ConcatenateSequences(name="concatenate")(sequences, masks)
    else:
        sequence, mask = sequences[0], masks[0]
    fused = _attention_block("fusion_attention", dropout)(sequence, mask)
    pooled = MaskedPooling(pooling, name=f"{pooling}_pooling")(fused, mask)
    hidden = layers.Dropout(dropout, name="classifier_dropout")(pooled)
    hidden = layers.Dense(CLASSIFIER_UNITS, name="classifier_hidden")(hidden)
    hidden = layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name="classifier_activation")(hidden)
    extra_logits = []
    if with_text and sentence_logits:
        sentence = MaskedPooling("mean", name="sentence_pooling")(inputs[TEXT_FEATURES], inputs[PADDING_MASK])
        sentence = layers.Dropout(SENTENCE_DROPOUT, name="sentence_dropout")(sentence)
        extra_logits.append(layers.Dense(num_classes, name="sentence_logits")(sentence))
    if with_audio and audio_statistics:
        inputs[AUDIO_STATISTICS] = keras.Input((audio_statistics,), name=AUDIO_STATISTICS)
        statistics = BandStandardization(name=STATISTICS_STANDARDIZATION)(inputs[AUDIO_STATISTICS])
        statistics = layers.Dropout(STATISTICS_DROPOUT, name="statistics_dropout")(statistics)
        extra_logits.append(
            layers.Dense(
                num_classes, kernel_regularizer=keras.regularizers.L2(STATISTICS_L2), name="statistics_logits"
            )(statistics)
        )
    if not extra_logits:
        return keras.Model(inputs, layers.Dense(num_classes, name=LOGITS)(hidden), name=name)
    attention_logits = layers.Dense(num_classes, name="attention_logits")(hidden)
    return keras.Model(inputs, layers.Add(name=LOGITS)([attention_logits, *extra_logits]), name=name)


def set_statistics_standardization(head: keras.Model, statistics: np.ndarray) -> None:
    """Sets a head's utterance-statistics standardisation to the mean and std of the training clips' `statistics`.

    Args:
        head: a head built with `audio_statistics`.
        statistics: `[clips, D]`, the training clips with audio.

    Example:

    >>> head = build_fusion_head(None, modality="audio", pooling="mean", audio_statistics=3)
    >>> set_statistics_standardization(head, np.array([[0.0, 1, 2], [2, 3, 4]]))
    >>> head.get_layer(STATISTICS_STANDARDIZATION).mean.numpy().tolist()
    [1.0, 2.0, 3.0]
    """
    head.get_layer(STATISTICS_STANDARDIZATION).set_statistics(statistics)

