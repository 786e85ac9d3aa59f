"""The three parts of the distillation loss, per example, and their global mean.

The paper's loss for one batch is

    alpha * KL(softmax(t / T) || softmax(s / T)) * T**2
    + (1 - alpha) * CE(y, s)
    + MSE(student text features, teacher text features)

with teacher logits `t`, student logits `s`, temperature `T` and labels `y`.
Each function here returns one value per example (shape `[B]`), so the parts can
be weighted, summed and reduced once with `global_batch_mean`.

Two choices differ from the authors' code, on purpose:

* Padded tokens are left out of the feature MSE. The authors ran batch size 1
  without padding and took a plain mean over all `L * H` elements; with batches
  that mean would pull the student's features at padding positions toward the
  teacher's, which carries no information and dilutes the real tokens.
  `masked_feature_mse` averages the squared error over the real tokens of each
  example (and the hidden axis), then the batch is averaged per example. With no
  padding it equals the authors' mean over all elements exactly.
* Reduction is over the GLOBAL batch under `tf.distribute`: `global_batch_mean`
  divides the replica's sum by the number of examples on all replicas together
  (a cross-replica sum), so the gradients summed by the strategy are those of
  the mean over the global batch, also when the last batch splits unevenly
  across replicas. A plain `mean` per replica would multiply the gradients by
  the number of replicas.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def distillation_kl_divergence(
    teacher_logits: tf.Tensor, student_logits: tf.Tensor, temperature: float = 2.0
) -> tf.Tensor:
    """`KL(softmax(t / T) || softmax(s / T)) * T**2` per example.

    The `T**2` factor keeps the gradient scale of the soft targets independent of
    the temperature (Hinton et al., 2015).

    Args:
        teacher_logits: `[B, C]` teacher logits (the target distribution).
        student_logits: `[B, C]` student logits.
        temperature: softmax temperature `T > 0`.

    Returns:
        `[B]` float32 divergences, each >= 0.

    Example:

    >>> kl = distillation_kl_divergence(tf.constant([[2.0, 0.0]]), tf.constant([[0.0, 2.0]]))
    >>> kl.shape
    TensorShape([1])
    """
    if temperature <= 0:
        raise ValueError(f"`temperature` must be positive; got {temperature}.")
    teacher_log_probs = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    student_log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    divergence = tf.reduce_sum(
        tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1
    )
    return divergence * temperature**2


def check_label_smoothing(value: float, name: str = "label_smoothing") -> float:
    """`value` as a float when it is a label smoothing in `[0, 1)`; a `ValueError` naming `name` otherwise.

    Example:

    >>> check_label_smoothing(0.1)
    0.1
    """
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {value}.")
    return float(value)


def classification_cross_entropy(labels: tf.Tensor, logits: tf.Tensor, label_smoothing: float = 0.0) -> tf.Tensor:
    """Sparse categorical cross-entropy from logits, per example, optionally label-smoothed.

    With smoothing `e` over `C` classes the target puts `1 - e + e / C` on the label and
    `e / C` on every other class: `-(1 - e) * log p[y] - (e / C) * sum_c log p[c]`.

    Args:
        labels: `[B]` integer class indices.
        logits: `[B, C]` logits.
        label_smoothing: `e` in `[0, 1)`; `0` is the plain cross-entropy.

    Returns:
        `[B]` float32 cross-entropies.

    Example:

    >>> classification_cross_entropy(tf.constant([0]), tf.constant([[0.0, 0.0]])).numpy()
    array([0.6931472], dtype=float32)
    >>> classification_cross_entropy(tf.constant([0]), tf.constant([[2.0, 0.0]]), 0.2).numpy()
    array([0.32692805], dtype=float32)
    """
    check_label_smoothing(label_smoothing)
    labels = tf.reshape(labels, [-1])
    logits = tf.cast(logits, tf.float32)
    if label_smoothing == 0.0:
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    log_probs = tf.nn.log_softmax(logits)
    label_log_probs = tf.gather(log_probs, tf.cast(labels, tf.int32), axis=-1, batch_dims=1)
    return -(1.0 - label_smoothing) * label_log_probs - label_smoothing * tf.reduce_mean(log_probs, axis=-1)


@keras.saving.register_keras_serializable(package="ser_keras")
class SmoothedSparseCrossEntropy(keras.losses.Loss):
    """`classification_cross_entropy` as a Keras loss (Keras' sparse cross-entropy has no smoothing).

    Example:

    >>> loss = SmoothedSparseCrossEntropy(label_smoothing=0.2)
    >>> float(loss(tf.constant([0]), tf.constant([[2.0, 0.0]])))  # doctest: +ELLIPSIS
    0.3269...
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "smoothed_sparse_cross_entropy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        return classification_cross_entropy(y_true, y_pred, self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_feature_mse(
    student_features: tf.Tensor, teacher_features: tf.Tensor, padding_mask: tf.Tensor
) -> tf.Tensor:
    """Mean squared feature error over each example's real tokens.

    For example `b` with real-token set `V_b` (where `padding_mask` is True) and
    hidden size `H`: `sum_{l in V_b, h} (s[b, l, h] - t[b, l, h])**2 / (|V_b| * H)`.
    An example without any real token contributes 0.

    Args:
        student_features: `[B, L, H]` student text features (BERT `sequence_output`).
        teacher_features: `[B, L, H]` teacher text features.
        padding_mask: `[B, L]` bool or 0/1, True for real tokens.

    Returns:
        `[B]` float32 errors.

    Raises:
        ValueError: if the sequence lengths or hidden sizes differ. Student and
            teacher share the tokenizer, so lengths match; the paper's students
            keep the teacher's hidden size, and a narrower student's features
            go through the Distiller's `feature_projection` first.

    Example:

    >>> features = tf.zeros([2, 3, 4])
    >>> masked_feature_mse(features, features + 1.0, tf.ones([2, 3], bool)).numpy()
    array([1., 1.], dtype=float32)
    """
    student_shape = student_features.shape
    teacher_shape = teacher_features.shape
    if student_shape[-1] is not None and teacher_shape[-1] is not None:
        if student_shape[-1] != teacher_shape[-1]:
            raise ValueError(
                f"Student text features have hidden size {student_shape[-1]} but the "
                f"teacher's have {teacher_shape[-1]}. Give the Distiller a "
                f"`feature_projection` to width {teacher_shape[-1]} (e.g. "
                f"keras.layers.Dense({teacher_shape[-1]})), or distil the logits only "
                "with `Distiller(..., feature_loss_weight=0.0)`."
            )
    if student_shape[1] is not None and teacher_shape[1] is not None:
        if student_shape[1] != teacher_shape[1]:
            raise ValueError(
                f"Student text features have {student_shape[1]} tokens but the teacher's "
                f"have {teacher_shape[1]}. Tokenize the text once with one sequence "
                "length for both models."
            )
    mask = tf.cast(padding_mask, tf.float32)
    squared_error = tf.square(
        tf.cast(student_features, tf.float32) - tf.cast(teacher_features, tf.float32)
    )
    per_token = tf.reduce_mean(squared_error, axis=-1)
    num_real_tokens = tf.reduce_sum(mask, axis=-1)
    return tf.math.divide_no_nan(tf.reduce_sum(per_token * mask, axis=-1), num_real_tokens)


def global_batch_mean(per_example_values: tf.Tensor) -> tf.Tensor:
    """Sums this replica's values and divides by the GLOBAL number of examples.

    Inside a `tf.distribute` replica context with several replicas, the example
    count is summed across replicas, so adding up the replicas' results (which
    the strategy does with their gradients) gives the mean over the global
    batch. Outside a strategy, or with one replica, it is the plain mean.
    Apply sample weights before: `global_batch_mean(weights * values)` matches
    Keras' `"sum_over_batch_size"` reduction.

    Example:

    >>> float(global_batch_mean(tf.constant([1.0, 2.0, 3.0])))
    2.0
    """
    values = tf.cast(tf.reshape(per_example_values, [-1]), tf.float32)
    local_count = tf.cast(tf.size(values), tf.float32)
    replica_context = tf.distribute.get_replica_context()
    if replica_context is not None and replica_context.num_replicas_in_sync > 1:
        global_count = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, local_count)
    else:
        global_count = local_count
    return tf.math.divide_no_nan(tf.reduce_sum(values), global_count)
