"""Training: the Distiller, its loss parts, classification metrics and the strategy.

Example:

>>> from ser_keras.training import Distiller, get_strategy
>>> strategy = get_strategy()  # doctest: +SKIP
>>> with strategy.scope():  # doctest: +SKIP
...     distiller = Distiller(teacher, student, alpha=0.5, temperature=2.0)
...     distiller.compile(optimizer="sgd")

Importing `ser_keras.training` registers its models (`Distiller`, `SERClassifier`,
`MultiReplicaModel`); the layers of the 3M-SER models they wrap are registered by
`ser_keras.models` (a higher layer, which this package does not import), so a saved training
wrapper loads after both imports:

>>> import ser_keras.models, ser_keras.training
>>> classifier = keras.saving.load_model("classifier.keras")  # doctest: +SKIP
"""

from ser_keras.training.classifier import SERClassifier, build_classifier
from ser_keras.training.distiller import Distiller, split_distillation_inputs
from ser_keras.training.losses import (
    SmoothedSparseCrossEntropy,
    classification_cross_entropy,
    distillation_kl_divergence,
    global_batch_mean,
    masked_feature_mse,
)
from ser_keras.training.metrics import (
    METRIC_NAMES,
    ClassificationMetricsCallback,
    classification_metrics,
    confusion_matrix,
    confusion_matrix_png,
    predict_classes,
    predicts_one_class,
    save_confusion_matrix_png,
)
from ser_keras.training.recorded_teacher import build_recorded_teacher, record_teacher_logits
from ser_keras.training.strategy import MultiReplicaFitMixin, MultiReplicaModel, get_strategy

__all__ = [
    "METRIC_NAMES",
    "ClassificationMetricsCallback",
    "Distiller",
    "MultiReplicaFitMixin",
    "MultiReplicaModel",
    "SERClassifier",
    "SmoothedSparseCrossEntropy",
    "build_classifier",
    "build_recorded_teacher",
    "classification_cross_entropy",
    "classification_metrics",
    "confusion_matrix",
    "confusion_matrix_png",
    "distillation_kl_divergence",
    "get_strategy",
    "global_batch_mean",
    "masked_feature_mse",
    "predict_classes",
    "predicts_one_class",
    "record_teacher_logits",
    "save_confusion_matrix_png",
    "split_distillation_inputs",
]
