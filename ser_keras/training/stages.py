"""Running one training stage: optimiser, schedule, best checkpoint, backup, TensorBoard.

Each stage of the recipe (transfer learning, fine-tuning) is one `fit` with the
same set of callbacks:

* the step-decay learning rate of the stage (`LearningRateScheduler`);
* validation ACC/BACC/MF1/WF1 in the epoch logs (`ClassificationMetricsCallback`);
* `BestCheckpoint`: keeps the weights of the best epoch by the selection metric
  on disk, and remembers the best value across restarts;
* `keras.callbacks.BackupAndRestore`: a run killed mid-epoch and started again
  with the same command resumes from its last completed epoch;
* `EpochSeed`: makes the data order and dropout masks of an epoch depend on the
  epoch alone, so that a resumed run trains exactly as an uninterrupted one;
* `keras.callbacks.TensorBoard`: every loss part, metric and the learning rate.

Example:

>>> history = run_stage(model, train_ds, val_ds, recipe.transfer, stage_dir="runs/x/teacher/transfer",
...                     log_dir="runs/x/tensorboard/teacher/transfer")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ser_keras.config import OptimizerConfig, StageConfig
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.training.metrics import ClassificationMetricsCallback

logger = logging.getLogger(__name__)


def make_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    """Builds the optimiser of a stage (its schedule is applied per epoch by `run_stage`).

    Example:

    >>> make_optimizer(OptimizerConfig(name="sgd", learning_rate=1e-6, momentum=0.99)).momentum
    0.99
    """
    if config.name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay or None,
        )
    return keras.optimizers.AdamW(
        learning_rate=config.learning_rate, weight_decay=config.weight_decay
    )


class EpochSeed(keras.callbacks.Callback):
    """Makes every random draw of an epoch a function of the epoch number alone.

    At the start of each epoch it writes the epoch into `epoch_variable` (which
    the training data reads to shuffle) and resets the state of every
    `SeedGenerator` in the model (dropout masks) to its initial seed, offset by
    the epoch. `BackupAndRestore` does not save those states, so without this a
    resumed run would draw other dropout masks than an uninterrupted one.

    Example:

    >>> epoch = tf.Variable(0, dtype=tf.int64)
    >>> callback = EpochSeed(epoch)
    >>> callback.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5)]))
    >>> callback.on_epoch_begin(3)
    >>> int(epoch.numpy())
    3
    """

    #: Counter offset per epoch: far more draws than any epoch makes.
    EPOCH_STRIDE = 1_000_003

    def __init__(self, epoch_variable: tf.Variable | None = None):
        super().__init__()
        self.epoch_variable = epoch_variable
        self._initial_states: list[tuple[tf.Variable, np.ndarray]] = []

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self._initial_states = [
            (variable, np.array(variable.numpy()))
            for variable in model.variables
            if "seed_generator_state" in variable.path
        ]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.epoch_variable is not None:
            self.epoch_variable.assign(epoch)
        for variable, initial in self._initial_states:
            state = initial.copy()
            state[-1] = state[-1] + epoch * self.EPOCH_STRIDE
            variable.assign(state)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights of the best epoch by `monitor` (higher is better).

    Unlike `ModelCheckpoint(save_best_only=True)`, the best value and epoch are
    kept in a JSON file beside the weights, so a resumed run does not overwrite
    a better checkpoint from before the interruption.

    Args:
        filepath: where the best weights go (`.weights.h5`).
        monitor: the epoch-log key to maximise (e.g. `"val_acc"`).

    Example:

    >>> best = BestCheckpoint("runs/x/teacher/transfer/best.weights.h5", "val_acc")  # doctest: +SKIP
    """

    def __init__(self, filepath: str, monitor: str):
        super().__init__()
        self.filepath = filepath
        self.monitor = monitor
        self.state_path = filepath + ".json"
        self.best = -math.inf
        self.best_epoch = -1

    def on_train_begin(self, logs: dict | None = None) -> None:
        if os.path.isfile(self.state_path) and os.path.isfile(self.filepath):
            with open(self.state_path, encoding="utf-8") as handle:
                state = json.load(handle)
            self.best, self.best_epoch = state["best"], state["epoch"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(
                f"The selection metric '{self.monitor}' is not in the epoch logs "
                f"({sorted(logs)}); choose one of them as `selection_metric`."
            )
        value = float(logs[self.monitor])
        if value > self.best:
            self.best, self.best_epoch = value, epoch
            os.makedirs(os.path.dirname(self.filepath) or ".", exist_ok=True)
            self.model.save_weights(self.filepath, overwrite=True)
            with open(self.state_path, "w", encoding="utf-8") as handle:
                json.dump({"best": value, "epoch": epoch, "monitor": self.monitor}, handle)
            logger.info("Epoch %d: %s improved to %.4f; saved %s", epoch + 1, self.monitor, value, self.filepath)


def run_stage(
    model: keras.Model,
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset,
    stage: StageConfig,
    stage_dir: str,
    log_dir: str,
    selection_metric: str = "val_acc",
    epoch_variable: tf.Variable | None = None,
    class_names: Sequence[str] = DEFAULT_LABELS,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> dict:
    """Fits `model` for one stage and restores the weights of its best validation epoch.

    `model` must be compiled. If the stage already finished in an earlier run
    (its `done.json` exists), training is skipped and the best weights are
    loaded, so re-running a job continues where it stopped.

    Args:
        model: a compiled classifier or `Distiller` whose predictions yield
            logits (for the validation scores).
        train_data, validation_data: batched `(inputs, labels)` datasets.
        stage: epochs and optimiser settings (the schedule is applied here).
        stage_dir: where the best weights, the backup and the stage record go.
        log_dir: TensorBoard directory of this model and stage.
        selection_metric: the epoch-log key that picks the best epoch.
        epoch_variable: the variable the training data shuffles by (see `EpochSeed`).
        class_names: the label set, for the validation scores.
        extra_callbacks: more callbacks (e.g. a progress logger).
        verbose: passed to `fit`.

    Returns:
        The stage record: best epoch, best value and the per-epoch history.

    Example:

    >>> record = run_stage(model, train_ds, val_ds, StageConfig(epochs=3), "runs/x/s1", "runs/x/tb/s1")  # doctest: +SKIP
    >>> record["best_epoch"]  # doctest: +SKIP
    2
    """
    os.makedirs(stage_dir, exist_ok=True)
    best_path = os.path.join(stage_dir, "best.weights.h5")
    done_path = os.path.join(stage_dir, "done.json")
    if os.path.isfile(done_path) and os.path.isfile(best_path):
        model.load_weights(best_path)
        with open(done_path, encoding="utf-8") as handle:
            record = json.load(handle)
        logger.info("Stage %s already done (best epoch %d); reusing it.", stage_dir, record["best_epoch"] + 1)
        return record

    best = BestCheckpoint(best_path, selection_metric)
    backup_dir = os.path.join(stage_dir, "backup")
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch, _: stage.optimizer.learning_rate_at(epoch)),
        ClassificationMetricsCallback(validation_data, class_names),
        best,
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
        keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False),
        *extra_callbacks,
    ]
    callbacks.insert(0, EpochSeed(epoch_variable))
    try:
        history = model.fit(
            train_data,
            validation_data=validation_data,
            epochs=stage.epochs,
            callbacks=callbacks,
            shuffle=False,  # the datasets shuffle themselves, per epoch (see `EpochSeed`)
            verbose=verbose,
        )
    except KeyboardInterrupt:
        logger.warning("Interrupted: the last completed epoch of this stage is kept in %s.", backup_dir)
        raise
    if best.best_epoch < 0:
        raise RuntimeError(f"Stage {stage_dir} ran no epoch; check `epochs` ({stage.epochs}).")
    model.load_weights(best_path)
    record = {
        "best_epoch": best.best_epoch,
        "best_value": best.best,
        "selection_metric": selection_metric,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }
    with open(done_path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    return record
