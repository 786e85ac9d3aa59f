"""Loading the BERT text encoder (a keras-hub `BertBackbone`) for teachers and students.

A student keeps the FIRST `num_layers` transformer layers of the pretrained
model, with its embeddings, pooler, hidden size and heads unchanged: keras-hub
builds the shorter backbone and loads only the weights it has.

Example:

>>> from ser_keras.text import load_text_encoder
>>> teacher = load_text_encoder("bert_base_en_uncased")  # doctest: +SKIP
>>> student = load_text_encoder("bert_base_en_uncased", num_layers=2)  # doctest: +SKIP
>>> student.num_layers, student.hidden_dim  # doctest: +SKIP
(2, 768)
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ser_keras.text.presets import TextPresetError, preset_num_layers, resolve_preset

if TYPE_CHECKING:
    import keras_hub

logger = logging.getLogger(__name__)


def _check_num_layers(num_layers: int | None, available: int | None, preset: str) -> None:
    if num_layers is None:
        return
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive integer or None; got {num_layers!r}.")
    if available is not None and num_layers > available:
        raise TextPresetError(
            f"num_layers={num_layers} asks for more transformer layers than the preset "
            f"{preset!r} has ({available}); a student keeps at most all of them.",
            preset=preset,
        )


def load_text_encoder(
    preset: str | os.PathLike | None = None,
    num_layers: int | None = None,
    load_weights: bool = True,
) -> keras_hub.models.BertBackbone:
    """Loads a BERT backbone, optionally keeping only its first `num_layers` layers.

    Args:
        preset: see `ser_keras.text.presets.resolve_preset` (`None`: the
            offline all-MiniLM-L6-v2 directory).
        num_layers: `None` for all layers (a teacher); `k` for a student made
            of the embeddings, the first `k` transformer layers and the pooler.
        load_weights: `False` builds the architecture with random weights.

    Returns:
        A `keras_hub.models.BertBackbone`; its outputs are a dict with
        `"sequence_output"` `[B, L, H]` and `"pooled_output"` `[B, H]`.

    Example:

    >>> encoder = load_text_encoder(num_layers=2)  # MiniLM, first 2 layers  # doctest: +SKIP
    >>> encoder.num_layers  # doctest: +SKIP
    2
    """
    import keras_hub

    resolved = resolve_preset(preset)
    _check_num_layers(num_layers, preset_num_layers(resolved), resolved)
    overrides = {} if num_layers is None else {"num_layers": num_layers}
    backbone = keras_hub.models.BertBackbone.from_preset(
        resolved, load_weights=load_weights, **overrides
    )
    logger.info(
        "Text encoder from %s: %d layers, hidden size %d, %s weights.",
        resolved,
        backbone.num_layers,
        backbone.hidden_dim,
        "pretrained" if load_weights else "random",
    )
    return backbone
