"""Embedding distillation: a student encoder learns to reproduce a teacher's embeddings.

The loss compares, per example (one 0.96 s patch for the audio encoders),
the student's embedding `s` with the teacher's `t`:

    loss = ||s - t||^2 / (D * v) + (1 - cos(s, t))

where `D` is the embedding width and `v` the teacher embeddings' mean
per-dimension variance on the training examples, so the first term is the
relative MSE (1.0 for a student that outputs the teachers' mean) and the two
terms have the same scale whatever the teacher's. `embedding_fidelity` reports
the same two quantities (mean cosine similarity, relative MSE) on held-out
examples, and `EmbeddingFidelityCallback` adds them to the epoch logs as
`val_cosine` and `val_relative_mse`.

Example:

>>> import numpy as np
>>> teacher = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
>>> fidelity = embedding_fidelity(teacher, teacher, variance=1.0)
>>> round(fidelity["cosine"], 3), round(fidelity["relative_mse"], 3)
(1.0, 0.0)
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf
from keras import ops

logger = logging.getLogger(__name__)

#: Added to norms and variances so that all-zero embeddings give finite values.
EPSILON = 1e-8


def embedding_variance(embeddings: np.ndarray) -> float:
    """The mean per-dimension variance of `[N, D]` embeddings (the relative MSE's scale).

    Example:

    >>> import numpy as np
    >>> embedding_variance(np.array([[0.0, 1.0], [2.0, 3.0]]))
    1.0
    """
    values = np.asarray(embeddings, np.float64)
    return float(max(values.var(axis=0).mean(), EPSILON)) if len(values) else 1.0


def embedding_fidelity(student: np.ndarray, teacher: np.ndarray, variance: float | None = None) -> dict[str, float]:
    """How well `[N, D]` student embeddings reproduce the teacher's: mean cosine similarity and relative MSE.

    Args:
        student, teacher: embeddings of the same examples, row for row.
        variance: the relative MSE's scale; default: `embedding_variance(teacher)`.

    Example:

    >>> import numpy as np
    >>> teacher = np.array([[1.0, 1.0], [3.0, -1.0]])
    >>> embedding_fidelity(np.zeros_like(teacher) + teacher.mean(0), teacher)["relative_mse"]
    1.0
    """
    student, teacher = np.asarray(student, np.float64), np.asarray(teacher, np.float64)
    if student.shape != teacher.shape or student.ndim != 2 or not len(student):
        raise ValueError(f"Need two [N, D] arrays of the same shape, N > 0; got {student.shape} and {teacher.shape}.")
    variance = embedding_variance(teacher) if variance is None else variance
    norms = np.linalg.norm(student, axis=1) * np.linalg.norm(teacher, axis=1)
    cosine = np.sum(student * teacher, axis=1) / np.maximum(norms, EPSILON)
    return {"cosine": float(cosine.mean()), "relative_mse": float(np.mean((student - teacher) ** 2) / variance)}


@keras.saving.register_keras_serializable(package="ser_keras")
class EmbeddingDistillationLoss(keras.losses.Loss):
    """Relative MSE plus cosine distance between student (`y_pred`) and teacher (`y_true`) embeddings.

    Args:
        variance: the teacher embeddings' mean per-dimension variance on the
            training examples (`embedding_variance`).

    Example:

    >>> import numpy as np
    >>> loss = EmbeddingDistillationLoss(variance=1.0)
    >>> round(float(loss(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))), 3)  # MSE 1, cosine 0
    2.0
    """

    def __init__(self, variance: float = 1.0, name: str = "embedding_distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.variance = float(variance)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        squared_error = ops.mean(ops.square(y_pred - y_true), axis=-1) / self.variance
        norms = ops.norm(y_pred, axis=-1) * ops.norm(y_true, axis=-1)
        cosine = ops.sum(y_pred * y_true, axis=-1) / ops.maximum(norms, EPSILON)
        return squared_error + 1.0 - cosine

    def get_config(self) -> dict:
        return {**super().get_config(), "variance": self.variance}


class EmbeddingFidelityCallback(keras.callbacks.Callback):
    """Adds `val_cosine` and `val_relative_mse` of the student on held-out examples to the epoch logs.

    List it before the callbacks that read the logs (best checkpoint,
    TensorBoard), as `run_stage(metrics_callback=...)` does.

    Args:
        validation_data: a dataset of `(inputs, teacher embeddings)` batches.
        variance: the relative MSE's scale (the training targets' variance).

    Example:

    >>> fidelity = EmbeddingFidelityCallback(validation_batches, variance=0.8)  # doctest: +SKIP
    """

    def __init__(self, validation_data: tf.data.Dataset, variance: float) -> None:
        super().__init__()
        self.validation_data = validation_data
        self.variance = variance
        self.latest: dict[str, float] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        student, teacher = predict_embeddings(self.model, self.validation_data)
        self.latest = embedding_fidelity(student, teacher, self.variance)
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in self.latest.items()})
        logger.info(
            "Epoch %d: val_cosine=%.4f, val_relative_mse=%.4f", epoch + 1, self.latest["cosine"], self.latest["relative_mse"]
        )


def predict_embeddings(encoder, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Runs `encoder` over `(inputs, targets)` batches: `(its outputs, the targets)`, each `[N, D]`.

    Example:

    >>> student, teacher = predict_embeddings(encoder, validation_batches)  # doctest: +SKIP
    """
    outputs, targets = [], []
    for inputs, target in dataset:
        outputs.append(np.asarray(encoder(inputs, training=False)))
        targets.append(np.asarray(target))
    if not outputs:
        raise ValueError("The dataset of embeddings to compare is empty.")
    return np.concatenate(outputs), np.concatenate(targets)
