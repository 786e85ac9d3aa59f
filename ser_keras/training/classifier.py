"""Plain supervised training (no teacher) of a model that returns a dict with `"logits"`.

The teacher and the students without distillation train with cross-entropy
alone. `build_classifier` wraps the model's logits output in a functional model
that shares all its layers and works under every `tf.distribute` strategy (see
`MultiReplicaFitMixin`).

Example:

>>> classifier = build_classifier(models.cached_model, keras.optimizers.SGD(1e-3))  # doctest: +SKIP
>>> classifier.fit(train_ds, validation_data=val_ds, epochs=3)  # doctest: +SKIP
"""

from __future__ import annotations

import keras

from ser_keras.training.losses import SmoothedSparseCrossEntropy
from ser_keras.training.strategy import MultiReplicaModel


@keras.saving.register_keras_serializable(package="ser_keras")
class SERClassifier(MultiReplicaModel):
    """A functional model (inputs dict -> logits) with the multi-replica `fit` fixes.

    Example:

    >>> inputs = keras.Input((3,), name="x")
    >>> SERClassifier(inputs, keras.layers.Dense(4)(inputs)).output_shape
    (None, 4)
    """


def build_classifier(
    model: keras.Model, optimizer: keras.optimizers.Optimizer | str = "sgd", label_smoothing: float = 0.0
) -> SERClassifier:
    """Wraps `model`'s `"logits"` output for cross-entropy training, compiled.

    The wrapper shares every layer with `model`: training it trains `model`.
    Build and call it inside `strategy.scope()` under `tf.distribute`.
    `label_smoothing` above 0 trains on smoothed targets (`SmoothedSparseCrossEntropy`).

    Example:

    >>> inputs = keras.Input((3,), name="x")
    >>> model = keras.Model(inputs, {"logits": keras.layers.Dense(4)(inputs)})
    >>> build_classifier(model).loss.name
    'sparse_categorical_crossentropy'
    """
    classifier = SERClassifier(model.input, model.output["logits"], name=f"{model.name}_classifier")
    if label_smoothing:
        loss = SmoothedSparseCrossEntropy(label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    classifier.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return classifier
