"""Emotion classification scores (the paper's Table II metrics) and confusion matrices.

* `acc`: accuracy (the fraction of correct predictions; "WA" in SER papers).
* `bacc`: balanced accuracy, the mean per-class recall over the classes present
  in `y_true` ("UA"; the value of scikit-learn's `balanced_accuracy_score`,
  without its warning when a prediction names a class absent from `y_true`).
* `mf1`: macro F1, the unweighted mean of the per-class F1 scores.
* `wf1`: weighted F1, the per-class F1 scores weighted by class support.

Scores are fractions in [0, 1] (the paper prints percentages); the F1 scores
cover the classes present in `y_true` or `y_pred`, and a class that is never
predicted scores 0 there, without a warning.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics as sk_metrics

from ser_keras.labels import DEFAULT_LABELS

logger = logging.getLogger(__name__)

#: Metric keys in the column order of the paper's Table II.
METRIC_NAMES: tuple[str, ...] = ("bacc", "acc", "mf1", "wf1")


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """ACC, BACC, MF1 and WF1 of predicted class indices, with scikit-learn.

    Example:

    >>> scores = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1])
    >>> scores["acc"], scores["bacc"]
    (0.75, 0.75)
    """
    y_true, y_pred = _as_label_arrays(y_true, y_pred)
    return {
        "bacc": float(
            sk_metrics.recall_score(y_true, y_pred, labels=np.unique(y_true), average="macro")
        ),
        "acc": float(sk_metrics.accuracy_score(y_true, y_pred)),
        "mf1": float(sk_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "wf1": float(sk_metrics.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts `[num_classes, num_classes]`: row = true class, column = predicted class.

    Example:

    >>> confusion_matrix([0, 1, 1], [0, 0, 1], num_classes=2)
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred = _as_label_arrays(y_true, y_pred)
    out_of_range = np.concatenate([y_true, y_pred])
    out_of_range = out_of_range[(out_of_range < 0) | (out_of_range >= num_classes)]
    if out_of_range.size:
        raise ValueError(
            f"Class indices must be in [0, {num_classes}); "
            f"found {sorted(set(out_of_range.tolist()))}. "
            "Pass the size of the label set as `num_classes`."
        )
    return sk_metrics.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def predicts_one_class(confusion: np.ndarray) -> bool:
    """Whether a model collapsed: all its predictions (columns of `confusion`) fall in one class.

    Example:

    >>> predicts_one_class(np.array([[3, 0], [2, 0]])), predicts_one_class(np.array([[3, 0], [1, 1]]))
    (True, False)
    """
    confusion = np.asarray(confusion)
    return confusion.shape[0] > 1 and int(np.count_nonzero(confusion.sum(axis=0))) <= 1


def confusion_matrix_png(
    matrix: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"
) -> bytes:
    """Renders a confusion matrix as PNG bytes (matplotlib's Agg canvas, no display).

    Cells are coloured by row-normalised recall and show the counts. The bytes
    decode with `tf.io.decode_png` for `tf.summary.image`.

    Example:

    >>> png = confusion_matrix_png(np.array([[3, 1], [0, 4]]), ["sad", "happy"])
    >>> png[:4]
    b'\\x89PNG'
    """
    matrix = np.asarray(matrix)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"Expected a square matrix with one row per class name ({len(class_names)}); "
            f"got shape {matrix.shape}."
        )
    row_totals = matrix.sum(axis=1, keepdims=True)
    recall = np.divide(matrix, row_totals, out=np.zeros(matrix.shape), where=row_totals > 0)
    size = 1.2 + 0.9 * len(class_names)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(recall, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="recall")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for row, column in np.ndindex(*matrix.shape):
        colour = "white" if recall[row, column] > 0.5 else "black"
        axes.text(column, row, str(matrix[row, column]), ha="center", va="center", color=colour)
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def save_confusion_matrix_png(
    matrix: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
) -> Path:
    """Writes `confusion_matrix_png(...)` to `path` (parent folders are created).

    Example:

    >>> save_confusion_matrix_png(np.eye(2, dtype=int), ["sad", "happy"], "cm.png")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(confusion_matrix_png(matrix, class_names, title))
    logger.info("Wrote confusion matrix %s.", path)
    return path


def predict_classes(
    model: Callable, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `model` over a labelled dataset: `(true classes, predicted classes)`.

    `dataset` yields `(inputs, labels)` or `(inputs, labels, sample_weight)`;
    `model(inputs, training=False)` returns logits `[B, C]` or a dict with
    `"logits"`. The whole dataset is used in this process (no sharding), so
    under a multi-worker strategy every worker gets the same answer.

    Example:

    >>> y_true, y_pred = predict_classes(model, test_ds)  # doctest: +SKIP
    """
    true_batches, predicted_batches = [], []
    for batch in dataset:
        inputs, labels = batch[0], batch[1]
        outputs = model(inputs, training=False)
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs
        true_batches.append(np.asarray(labels).reshape(-1))
        predicted_batches.append(np.argmax(np.asarray(logits), axis=-1))
    if not true_batches:
        raise ValueError("The dataset to evaluate is empty; check the split it was built from.")
    return np.concatenate(true_batches), np.concatenate(predicted_batches)


class ClassificationMetricsCallback(keras.callbacks.Callback):
    """Adds ACC, BACC, MF1 and WF1 on validation data to the epoch logs.

    At the end of each epoch the model predicts `validation_data` and the scores
    go into `logs` as `val_bacc`, `val_acc`, `val_mf1` and `val_wf1` (with
    `prefix="val_"`), where `ModelCheckpoint`, `EarlyStopping`, `TensorBoard`
    and the `History` see them: list this callback BEFORE those. The latest
    confusion matrix is kept in `confusion_matrix` (a numpy array, rows = true
    classes).

    Args:
        validation_data: a `tf.data.Dataset` of `(inputs, labels)`.
        class_names: the label set (its size is the number of classes).
        prefix: prepended to each metric name in the logs.

    Example:

    >>> scores = ClassificationMetricsCallback(val_ds)  # doctest: +SKIP
    >>> model.fit(train_ds, callbacks=[scores, keras.callbacks.ModelCheckpoint(  # doctest: +SKIP
    ...     "best.weights.h5", monitor="val_acc", mode="max", save_best_only=True,
    ...     save_weights_only=True)])
    """

    def __init__(
        self,
        validation_data: tf.data.Dataset,
        class_names: Sequence[str] = DEFAULT_LABELS,
        prefix: str = "val_",
    ) -> None:
        super().__init__()
        self.validation_data = validation_data
        self.class_names = tuple(class_names)
        self.prefix = prefix
        self.confusion_matrix: np.ndarray | None = None
        self._predict: Callable | None = None

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        # Traced once for every batch shape: the dataset's own spec (None for the batch and for
        # bucketed lengths) is the signature, so length buckets and a last smaller batch do not retrace.
        element_spec = getattr(self.validation_data, "element_spec", None)
        predict = tf.function(
            lambda inputs: model(inputs, training=False),
            input_signature=None if element_spec is None else [element_spec[0]],
            reduce_retracing=True,
        )
        self._predict = lambda inputs, training=False: predict(inputs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        y_true, y_pred = predict_classes(self._predict, self.validation_data)
        scores = classification_metrics(y_true, y_pred)
        self.confusion_matrix = confusion_matrix(y_true, y_pred, len(self.class_names))
        if logs is not None:
            logs.update({self.prefix + name: scores[name] for name in METRIC_NAMES})
        logger.info(
            "Epoch %d: %s",
            epoch + 1,
            ", ".join(f"{self.prefix}{name}={scores[name]:.4f}" for name in METRIC_NAMES),
        )


def _as_label_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same length; got {y_true.size} and {y_pred.size}."
        )
    if y_true.size == 0:
        raise ValueError("Cannot score an empty set of predictions.")
    return y_true.astype(np.int64), y_pred.astype(np.int64)
