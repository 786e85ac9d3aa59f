"""A teacher replayed from its recorded outputs: distillation without the teacher's forward pass.

A `Distiller`'s teacher is frozen and runs in inference mode, so its logits for an utterance
are the same at every step of every epoch. `record_teacher_logits` computes them once, in
one pass over the utterances a student trains and validates on; the input pipeline serves
them with the student's batches (`make_dataset(teacher_logits=...)`, the `"teacher_logits"`
input); and the `Distiller`'s
teacher becomes `build_recorded_teacher`, a model without weights that hands them back (with
the teacher's cached text features, which its cached model passes through unchanged, when the
feature loss needs them). The loss is the one the real teacher gives, for a fraction of the
cost per step.

Example:

>>> teacher = build_recorded_teacher(num_classes=4)
>>> sorted(teacher.input), sorted(teacher.output), len(teacher.weights)
(['logits'], ['logits'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

#: The output keys of the project's model contract (see `ser_keras.training.distiller`).
_LOGITS = "logits"
_TEXT_FEATURES = "text_features"


def build_recorded_teacher(
    num_classes: int, text_width: int | None = None, name: str = "recorded_teacher"
) -> keras.Model:
    """A weightless stand-in for a frozen teacher whose outputs are served as inputs.

    Args:
        num_classes: the width `C` of the recorded logits.
        text_width: the width `H` of the teacher's text features, when the feature loss
            needs them (`None`: logits only).
        name: the model's name.

    Returns:
        A `keras.Model` taking `{"logits": [B, C]}` (and `"text_features"` `[B, L, H]`) and
        returning the same dict.

    Example:

    >>> teacher = build_recorded_teacher(3, text_width=8)
    >>> outputs = teacher({"logits": np.ones([2, 3], "float32"), "text_features": np.zeros([2, 5, 8], "float32")})
    >>> tuple(outputs["logits"].shape), tuple(outputs["text_features"].shape)
    ((2, 3), (2, 5, 8))
    """
    inputs = {_LOGITS: keras.Input((num_classes,), name=_LOGITS)}
    if text_width is not None:
        inputs[_TEXT_FEATURES] = keras.Input((None, text_width), name=_TEXT_FEATURES)
    outputs = {key: keras.layers.Identity(name=f"recorded_{key}")(tensor) for key, tensor in inputs.items()}
    return keras.Model(inputs, outputs, name=name)


def record_teacher_logits(
    teacher: keras.Model, dataset: tf.data.Dataset, utterance_ids: Sequence[str]
) -> dict[str, np.ndarray]:
    """The teacher's logits (inference mode) for each utterance, `utterance id -> [C]`.

    Args:
        teacher: a model returning `{"logits": [B, C], ...}`.
        dataset: batches of its inputs (with or without labels) in the order of `utterance_ids`;
            all of it is read in this process (no sharding), so under a multi-worker strategy
            every worker records the same logits.
        utterance_ids: the id of each element of `dataset`, in order.

    Raises:
        ValueError: when `dataset` does not hold one element per id.

    Example:

    >>> logits = record_teacher_logits(teacher.models.cached_model, in_order_dataset, ids)  # doctest: +SKIP
    >>> logits[ids[0]].shape  # doctest: +SKIP
    (4,)
    """
    batches = []
    for batch in dataset:  # in this process, unsharded: every worker records the same logits
        inputs = batch[0] if isinstance(batch, tuple) else batch
        batches.append(np.asarray(teacher(inputs, training=False)[_LOGITS], np.float32))
    logits = np.concatenate(batches) if batches else np.zeros([0, 0], np.float32)
    if len(logits) != len(utterance_ids):
        raise ValueError(
            f"The teacher's dataset gave {len(logits)} predictions for {len(utterance_ids)} utterances; "
            "pass the ids of its elements, in order."
        )
    return dict(zip(utterance_ids, logits))
