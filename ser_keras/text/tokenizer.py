"""Turning transcripts into BERT inputs: non-speech tokens out, then keras-hub's packer.

Transcripts such as IEMOCAP's carry bracketed non-speech events (`[LAUGHTER]`,
`[BREATHING]`); they are removed before WordPiece tokenization. The output is
keras-hub's BERT input dict: `"token_ids"` and `"segment_ids"` int32 `[B, L]`
and `"padding_mask"` bool `[B, L]`, `[CLS] ... [SEP]` padded or truncated to
`sequence_length`.

Example:

>>> from ser_keras.text import load_text_preprocessor
>>> preprocessor = load_text_preprocessor(sequence_length=16)  # doctest: +SKIP
>>> preprocessor(["Oh [LAUGHTER] that's great."])["padding_mask"]  # doctest: +SKIP
"""

from __future__ import annotations

import os

import keras
import keras_hub
import tensorflow as tf

from ser_keras.text.presets import resolve_preset
from ser_keras.transcripts import NON_SPEECH_TOKEN_PATTERN

#: A bracketed non-speech token, e.g. `[LAUGHTER]` or `[BREATHING]`.

#: Default packed length: IEMOCAP utterances are far shorter than BERT's 512.
DEFAULT_SEQUENCE_LENGTH = 128


def remove_non_speech_tokens(texts) -> tf.Tensor:
    """Replaces bracketed tokens (`[LAUGHTER]`) by a space; works inside `tf.data`.

    Args:
        texts: a string, a list of strings or a string tensor.

    Returns:
        A string tensor of the same shape.

    Example:

    >>> remove_non_speech_tokens(["Oh [LAUGHTER] great"]).numpy()
    array([b'Oh   great'], dtype=object)
    """
    return tf.strings.regex_replace(texts, NON_SPEECH_TOKEN_PATTERN, " ")


@keras.saving.register_keras_serializable(package="ser_keras")
class TranscriptPreprocessor(keras_hub.models.BertTextClassifierPreprocessor):
    """keras-hub's BERT preprocessor with bracketed non-speech tokens removed first.

    Takes transcripts (one segment, or a tuple of segments) and returns the
    backbone's input dict; labels and sample weights pass through as in
    keras-hub, so it maps `(text, label)` datasets directly.

    Example:

    >>> preprocessor = TranscriptPreprocessor.from_preset(  # doctest: +SKIP
    ...     minilm_preset_dir(), sequence_length=32)
    >>> preprocessor(["[BREATHING] I'm fine."])["token_ids"].shape  # doctest: +SKIP
    TensorShape([1, 32])
    """

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, tuple):
            x = tuple(remove_non_speech_tokens(segment) for segment in x)
        else:
            x = remove_non_speech_tokens(x)
        return super().call(x, y=y, sample_weight=sample_weight)


def load_text_preprocessor(
    preset: str | os.PathLike | None = None,
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
) -> TranscriptPreprocessor:
    """Loads the tokenizer of a text-encoder preset as a `TranscriptPreprocessor`.

    Args:
        preset: see `ser_keras.text.presets.resolve_preset` (`None`: MiniLM).
        sequence_length: packed length `L` (longer transcripts are truncated).

    Example:

    >>> preprocessor = load_text_preprocessor("bert_base_en_uncased", 64)  # doctest: +SKIP
    """
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 2:
        raise ValueError(
            "sequence_length must be an integer >= 2 (room for [CLS] and [SEP]); "
            f"got {sequence_length!r}."
        )
    return TranscriptPreprocessor.from_preset(
        resolve_preset(preset), sequence_length=sequence_length
    )


def count_truncated(preprocessor: keras_hub.models.BertTextClassifierPreprocessor, texts) -> int:
    """How many of `texts` the preprocessor cuts: more word pieces than its length minus [CLS] and [SEP].

    Example:

    >>> count_truncated(load_text_preprocessor(sequence_length=4), ["a b c d e", "hi"])  # doctest: +SKIP
    1
    """
    texts = list(texts)
    if not texts:
        return 0
    pieces = preprocessor.tokenizer(remove_non_speech_tokens(tf.constant(texts)))
    if isinstance(pieces, tf.RaggedTensor):
        pieces = pieces.to_list()  # eager keras-hub tokenizers return lists, graph ones ragged tensors
    return sum(len(row) > preprocessor.sequence_length - 2 for row in pieces)
