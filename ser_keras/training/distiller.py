"""Knowledge distillation from a frozen 3M-SER teacher into a smaller student.

Both models follow the project's model contract: a `keras.Model` taking a dict
of inputs and returning `{"logits": [B, C], "text_features": [B, L, H]}`; the
inputs include `"padding_mask"` `[B, L]` (True for real tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import keras
import tensorflow as tf

from ser_keras.training.losses import (
    check_label_smoothing,
    classification_cross_entropy,
    distillation_kl_divergence,
    global_batch_mean,
    masked_feature_mse,
)
from ser_keras.training.strategy import MultiReplicaFitMixin

logger = logging.getLogger(__name__)

_TEACHER_KEY = "teacher"
_STUDENT_KEY = "student"


@keras.saving.register_keras_serializable(package="ser_keras")
class Distiller(MultiReplicaFitMixin, keras.Model):
    """Trains `student` to match a frozen `teacher` and the labels.

    Per example, the loss is

        alpha * KL(softmax(t / T) || softmax(s / T)) * T**2
        + (1 - alpha) * CE(y, s)
        + feature_loss_weight * MSE(student text features, teacher text features)

    with padded tokens left out of the MSE (see `ser_keras.training.losses` for
    why and how). The teacher is frozen and always runs in inference mode
    (`training=False`: no dropout). The batch loss is the mean over the GLOBAL
    batch under `tf.distribute` (see `global_batch_mean`), so the same global
    batch gives the same update on one device or on several; sample weights
    (also from `fit(class_weight=...)`) scale each example, as in Keras'
    `"sum_over_batch_size"` reduction (the loss parts; `accuracy` stays unweighted).

    Metrics: `loss` (the weighted sum), `kl_loss` (the KL term times `T**2`),
    `ce_loss`, `feature_loss` (each part before its weight) and the student's
    `accuracy`; `evaluate` and validation report the same with the `val_`
    prefix. Layer regularization losses (`model.losses`) are not added: use the
    optimizer's `weight_decay`, as the paper does.

    Inputs: one dict shared by both models, or, when they read different inputs
    (e.g. precomputed encoder outputs of different encoders), a dict with
    exactly the keys `"teacher"` and `"student"`, each holding that model's
    input dict. `call`/`predict` run the student only, so saving the student
    alone is `distiller.student.save("student.keras")` (or `.export(...)`).
    The Distiller itself saves too (teacher, student and loss settings) and
    loads with `keras.saving.load_model` after `import ser_keras.models, ser_keras.training`.

    Args:
        teacher: the trained teacher; it is set to `trainable = False`.
        student: the model to train.
        alpha: weight of the KL term in `[0, 1]`; the CE term gets `1 - alpha`.
        temperature: softmax temperature `T > 0` of the KL term.
        feature_loss_weight: weight `>= 0` of the feature MSE (1 in the paper).
            0 distils the logits only; then `"text_features"` outputs and
            `"padding_mask"` are not needed (e.g. audio-only models).
        feature_projection: a layer mapping the student's text features to the
            teacher's width, for a student narrower than its teacher (for
            example `keras.layers.Dense(768)`); it trains with the student but
            is not part of it, so saving the student leaves it out. `None`:
            the widths must be equal.
        label_smoothing: smoothing in `[0, 1)` of the CE term's targets (0 in the paper).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> distiller = Distiller(teacher, student)  # doctest: +SKIP
    >>> distiller.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.99))  # doctest: +SKIP
    >>> distiller.fit(train_ds, validation_data=val_ds, epochs=3)  # doctest: +SKIP
    >>> distiller.student.save("student.keras")  # doctest: +SKIP
    """

    def __init__(
        self,
        teacher: keras.Model,
        student: keras.Model,
        alpha: float = 0.5,
        temperature: float = 2.0,
        feature_loss_weight: float = 1.0,
        feature_projection: keras.layers.Layer | None = None,
        label_smoothing: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]; got {alpha}.")
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive; got {temperature}.")
        if feature_loss_weight < 0:
            raise ValueError(f"`feature_loss_weight` must be >= 0; got {feature_loss_weight}.")
        label_smoothing = check_label_smoothing(label_smoothing, "`label_smoothing`")
        teacher.trainable = False
        self.teacher = teacher
        self.student = student
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.feature_loss_weight = float(feature_loss_weight)
        self.feature_projection = feature_projection
        self.label_smoothing = label_smoothing
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.ce_loss_tracker = keras.metrics.Mean(name="ce_loss")
        self.feature_loss_tracker = keras.metrics.Mean(name="feature_loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        # No weights of its own: built as soon as it exists, as callbacks such as
        # BackupAndRestore require before `fit`.
        self.built = True
        logger.info(
            "Distiller: alpha=%s, temperature=%s, feature_loss_weight=%s.",
            self.alpha,
            self.temperature,
            self.feature_loss_weight,
        )

    def get_config(self) -> dict:
        """The constructor's arguments, the models and the projection serialized.

        Example:

        >>> sorted(distiller.get_config())  # doctest: +SKIP
        ['alpha', 'feature_loss_weight', 'feature_projection', 'name', 'student', 'teacher', 'temperature', ...]
        """
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "teacher": serialize(self.teacher),
            "student": serialize(self.student),
            "alpha": self.alpha,
            "temperature": self.temperature,
            "feature_loss_weight": self.feature_loss_weight,
            "feature_projection": None if self.feature_projection is None else serialize(self.feature_projection),
            "label_smoothing": self.label_smoothing,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Distiller:
        """Rebuilds a Distiller from `get_config` (its weights are loaded by `load_model`).

        Example:

        >>> Distiller.from_config(distiller.get_config()).alpha  # doctest: +SKIP
        0.5
        """
        config = dict(config)
        for key in ("teacher", "student", "feature_projection"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    def compile(self, optimizer="sgd", **kwargs) -> None:
        """Sets the optimizer; the losses and metrics are the Distiller's own.

        Example:

        >>> distiller.compile(optimizer=keras.optimizers.SGD(0.01))  # doctest: +SKIP
        """
        for argument in ("loss", "loss_weights", "metrics", "weighted_metrics"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"Distiller.compile() does not take `{argument}`: the distillation "
                    "loss and its metrics are built in. Set `alpha`, `temperature` and "
                    "`feature_loss_weight` on the Distiller instead."
                )
        super().compile(optimizer=optimizer, **kwargs)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [
            self.loss_tracker,
            self.kl_loss_tracker,
            self.ce_loss_tracker,
            self.feature_loss_tracker,
            self.accuracy_tracker,
        ]

    def call(self, inputs, training=None):
        _, student_inputs = split_distillation_inputs(inputs)
        return self.student(student_inputs, training=training)

    def train_step(self, data):
        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        teacher_inputs, student_inputs = split_distillation_inputs(inputs)
        teacher_outputs = self.teacher(teacher_inputs, training=False)
        with tf.GradientTape() as tape:
            student_outputs = self.student(student_inputs, training=True)
            parts = self.compute_loss_parts(
                labels, teacher_outputs, student_outputs, student_inputs, sample_weight
            )
            loss = global_batch_mean(parts["loss"])
            scaled_loss = self.optimizer.scale_loss(loss)
        trainable_weights = self.trainable_weights
        gradients = tape.gradient(scaled_loss, trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, trainable_weights))
        return self._update_metrics(labels, student_outputs, parts)

    def test_step(self, data):
        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        teacher_inputs, student_inputs = split_distillation_inputs(inputs)
        teacher_outputs = self.teacher(teacher_inputs, training=False)
        student_outputs = self.student(student_inputs, training=False)
        parts = self.compute_loss_parts(
            labels, teacher_outputs, student_outputs, student_inputs, sample_weight
        )
        return self._update_metrics(labels, student_outputs, parts)

    def compute_loss_parts(
        self,
        labels: tf.Tensor,
        teacher_outputs: Mapping[str, tf.Tensor],
        student_outputs: Mapping[str, tf.Tensor],
        student_inputs: Mapping[str, tf.Tensor],
        sample_weight: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """The per-example loss parts, each `[B]` and multiplied by `sample_weight`.

        Returns a dict with `"kl_loss"`, `"ce_loss"`, `"feature_loss"` (each
        unweighted by its coefficient) and `"loss"` (their weighted sum).

        Example:

        >>> t, s = distiller.teacher(x), distiller.student(x)  # doctest: +SKIP
        >>> parts = distiller.compute_loss_parts(y, t, s, x)  # doctest: +SKIP
        >>> loss = global_batch_mean(parts["loss"])  # doctest: +SKIP
        """
        teacher_logits = _model_output(teacher_outputs, "logits", "teacher")
        student_logits = _model_output(student_outputs, "logits", "student")
        kl_loss = distillation_kl_divergence(teacher_logits, student_logits, self.temperature)
        ce_loss = classification_cross_entropy(labels, student_logits, self.label_smoothing)
        if self.feature_loss_weight > 0:
            if "padding_mask" not in student_inputs:
                raise ValueError(
                    "The student inputs have no 'padding_mask' [B, L], which the feature "
                    f"loss needs; got inputs {sorted(student_inputs)}. Add it, or set "
                    "`feature_loss_weight=0.0` to distil the logits only."
                )
            student_features = _model_output(student_outputs, "text_features", "student")
            if self.feature_projection is not None:
                student_features = self.feature_projection(student_features)
            feature_loss = masked_feature_mse(
                student_features,
                _model_output(teacher_outputs, "text_features", "teacher"),
                student_inputs["padding_mask"],
            )
        else:
            feature_loss = tf.zeros_like(ce_loss)
        parts = {
            "kl_loss": kl_loss,
            "ce_loss": ce_loss,
            "feature_loss": feature_loss,
            "loss": self.alpha * kl_loss
            + (1.0 - self.alpha) * ce_loss
            + self.feature_loss_weight * feature_loss,
        }
        if sample_weight is not None:
            weights = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
            parts = {name: weights * values for name, values in parts.items()}
        return parts

    def _update_metrics(self, labels, student_outputs, parts):
        self.loss_tracker.update_state(parts["loss"])
        self.kl_loss_tracker.update_state(parts["kl_loss"])
        self.ce_loss_tracker.update_state(parts["ce_loss"])
        self.feature_loss_tracker.update_state(parts["feature_loss"])
        # Unweighted, as a classifier's compiled `metrics` are: the same training accuracy with or without weights.
        self.accuracy_tracker.update_state(labels, student_outputs["logits"])
        return self.multi_worker_safe_logs(
            {metric.name: metric.result() for metric in self.metrics}
        )


def split_distillation_inputs(inputs):
    """Returns `(teacher_inputs, student_inputs)` from a Distiller input dict.

    A dict with exactly the keys `"teacher"` and `"student"` is split; anything
    else is shared by both models.

    Example:

    >>> split_distillation_inputs({"teacher": {"a": 1}, "student": {"b": 2}})
    ({'a': 1}, {'b': 2})
    >>> split_distillation_inputs({"token_ids": 1})
    ({'token_ids': 1}, {'token_ids': 1})
    """
    if isinstance(inputs, Mapping) and set(inputs) == {_TEACHER_KEY, _STUDENT_KEY}:
        return inputs[_TEACHER_KEY], inputs[_STUDENT_KEY]
    return inputs, inputs


def _model_output(outputs, key: str, role: str) -> tf.Tensor:
    if not isinstance(outputs, Mapping) or key not in outputs:
        found = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
        raise ValueError(
            f"The {role} model must return a dict with '{key}' (the project's model "
            f"contract: {{'logits': [B, C], 'text_features': [B, L, H]}}); got {found}."
        )
    return outputs[key]
