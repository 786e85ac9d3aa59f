"""The `tf.distribute` strategy for a training job.

* `TF_CONFIG` set (one process per worker, each with the same script):
  `MultiWorkerMirroredStrategy`, synchronous data parallelism across workers.
* Otherwise `MirroredStrategy` over all visible GPUs, or, without GPUs, over
  the CPU devices (one, unless logical CPU devices were configured).

Batch size and learning rate: build every `tf.data` pipeline with the GLOBAL
batch size (the examples of one optimizer step on all replicas together);
Keras splits each global batch across the replicas, and the Distiller's losses
are means over the global batch (`ser_keras.training.losses.global_batch_mean`).
The learning rate therefore belongs to the global batch and is not rescaled
with the number of replicas: one device and N replicas given the same global
batch take the same step. Create models, the Distiller and the optimizer, and
call `compile`, inside `strategy.scope()`.

Keras 3.15 cannot `fit` the project's models under a strategy with several
replicas as they are: before the first step it averages one distributed batch
across the replicas just to learn the input shapes, and that average fails for
bool tensors (`padding_mask`, `audio_mask`: no `AddN` kernel) and, under
`MultiWorkerMirroredStrategy`, for any input (keras-team/keras#20329); with
several workers it also fails on the scalar logs of every step
(tensorflow/tensorflow#72388). `MultiReplicaFitMixin` works around both; the
`Distiller` uses it, and any model can (see its example).
"""

from __future__ import annotations

import logging
import os

import keras
import tensorflow as tf

from ser_keras.keras_internals import LocalReplicaSymbolicBuild
from ser_keras.training.losses import global_batch_mean

logger = logging.getLogger(__name__)

TF_CONFIG_VARIABLE = "TF_CONFIG"


#: The process's multi-worker strategy: its collective runtime starts once, before other TensorFlow work.
_multi_worker_strategy: tf.distribute.Strategy | None = None


def get_strategy() -> tf.distribute.Strategy:
    """The strategy for this process: multi-worker, multi-GPU or CPU mirrored.

    Call it before any other TensorFlow work in a multi-worker job (the
    collective runtime must start first); there every later call returns the
    same strategy (a job run once per seed, say).

    Example:

    >>> strategy = get_strategy()
    >>> with strategy.scope():  # doctest: +SKIP
    ...     distiller = Distiller(teacher, student)
    ...     distiller.compile(optimizer="sgd")
    """
    global _multi_worker_strategy
    if os.environ.get(TF_CONFIG_VARIABLE):
        if _multi_worker_strategy is None:
            _multi_worker_strategy = tf.distribute.MultiWorkerMirroredStrategy()
            logger.info(
                "TF_CONFIG is set: MultiWorkerMirroredStrategy with %d replicas in sync.",
                _multi_worker_strategy.num_replicas_in_sync,
            )
        return _multi_worker_strategy
    gpus = tf.config.list_logical_devices("GPU")
    devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    logger.info(
        "MirroredStrategy over %d %s device(s): %s.",
        len(devices),
        "GPU" if gpus else "CPU",
        ", ".join(devices),
    )
    return strategy


class MultiReplicaFitMixin(LocalReplicaSymbolicBuild):
    """Makes `fit`/`evaluate` of a `keras.Model` work with several replicas.

    Two Keras 3.15 defects are worked around, both only under `tf.distribute`:

    * Before the first step Keras averages one distributed batch across the
      replicas just to learn the input shapes, which fails for bool tensors and,
      with several workers, for every input (keras-team/keras#20329). The mixin
      builds from the first local replica's share instead (same structure and
      dtypes; `ser_keras.keras_internals.LocalReplicaSymbolicBuild`, the one
      Keras internal the mixin relies on).
    * With several workers Keras averages the step's logs along axis 0, which
      fails for scalar metrics (tensorflow/tensorflow#72388). The mixin returns
      them with shape `[1]`; the epoch logs are read from the metrics, so they
      stay scalars.

    It also makes the step of a compiled `keras.losses.Loss` the step one
    device takes on the same global batch: Keras divides each replica's own
    mean by the number of replicas, which weighs the examples of a global batch
    unevenly when it does not split evenly (the last batch of each length
    bucket); the mixin sums each replica's per-example losses and divides by the
    global example count (`global_batch_mean`), as the `Distiller` does; the
    logged `loss` keeps Keras' value, the exact mean over the epoch's examples.

    Put it before `keras.Model` in the bases. A subclass that overrides
    `train_step`/`test_step` passes its logs through `multi_worker_safe_logs`.

    Example:

    >>> import keras
    >>> class MultiReplicaModel(MultiReplicaFitMixin, keras.Model):
    ...     pass
    >>> inputs = keras.Input((3,), dtype="bool", name="mask")
    >>> outputs = keras.layers.Dense(2)(keras.ops.cast(inputs, "float32"))
    >>> model = MultiReplicaModel(inputs, outputs)  # a functional model with the fixes
    """

    def train_step(self, data):
        return self.multi_worker_safe_logs(super().train_step(data))

    def test_step(self, data):
        return self.multi_worker_safe_logs(super().test_step(data))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        replicas = self.distribute_strategy.num_replicas_in_sync
        if replicas == 1 or not isinstance(self.loss, keras.losses.Loss):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        per_example = self.loss.call(y, y_pred)
        if sample_weight is not None:
            per_example = per_example * tf.cast(tf.reshape(sample_weight, tf.shape(per_example)), per_example.dtype)
        # The gradient of the global-batch mean; the value of Keras' own (this replica's mean over the
        # replica count), which its loss tracker weighs by the local batch size into the exact epoch mean.
        global_mean = global_batch_mean(per_example)
        local_mean = tf.math.divide_no_nan(tf.reduce_sum(per_example), tf.cast(tf.size(per_example), per_example.dtype))
        loss = global_mean + tf.stop_gradient(local_mean / replicas - global_mean)
        if self.losses:  # regularisation: each replica adds its share
            loss = loss + tf.add_n(self.losses) / replicas
        return loss

    def multi_worker_safe_logs(self, logs: dict) -> dict:
        """Reshapes scalar logs to `[1]` when several workers train together.

        Example:

        >>> logs = model.multi_worker_safe_logs({"loss": tf.constant(1.0)})  # doctest: +SKIP
        """
        strategy = self.distribute_strategy
        several_workers = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
            len(strategy.extended.worker_devices) < strategy.num_replicas_in_sync
        )
        if not several_workers:
            return logs
        return {
            name: tf.reshape(value, [1]) if value.shape.rank == 0 else value
            for name, value in logs.items()
        }


@keras.saving.register_keras_serializable(package="ser_keras")
class MultiReplicaModel(MultiReplicaFitMixin, keras.Model):
    """A functional `keras.Model` with the `MultiReplicaFitMixin` fixes: build it like `keras.Model`.

    Example:

    >>> inputs = keras.Input((3,), name="x")
    >>> MultiReplicaModel(inputs, keras.layers.Dense(4)(inputs)).output_shape
    (None, 4)
    """
