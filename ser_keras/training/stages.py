"""Running one training stage: optimiser, schedule, best checkpoint, backup, TensorBoard.

Each stage of the recipe (transfer learning, fine-tuning) is one `fit` with the
same set of callbacks:

* the learning rate of the stage: its warm-up and step decay (`StepLearningRate`);
* validation ACC/BACC/MF1/WF1 in the epoch logs (`ClassificationMetricsCallback`);
* `BestCheckpoint`: keeps the weights of the best epoch by the selection metric
  on disk, and remembers the best value across restarts; with `LAST_EPOCH` as
  the metric it keeps the final epoch (no choice made on validation);
* `keras.callbacks.BackupAndRestore`: a run killed mid-epoch and started again
  with the same command resumes from its last completed epoch;
* `EpochSeed`: makes the data order and dropout masks of an epoch depend on the
  seed, the stage and the epoch alone, so that a run resumed in any stage trains
  exactly as an uninterrupted one;
* `EpochHistory`: the per-epoch logs on disk, so that the stage record of a
  resumed run holds every epoch, not only those after the restart;
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
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from ser_keras.atomic import atomic_path, atomic_write
from ser_keras.config import LAST_EPOCH, OptimizerConfig, StageConfig
from ser_keras.keras_internals import seed_generator_states, set_seed_generator_counter
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.training.metrics import ClassificationMetricsCallback
from ser_keras.training.optimizers import LayerwiseAdamW, StepLearningRate

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
    if config.layer_decay < 1.0:
        return LayerwiseAdamW(
            layer_decay=config.layer_decay, learning_rate=config.learning_rate, weight_decay=config.weight_decay
        )
    return keras.optimizers.AdamW(
        learning_rate=config.learning_rate, weight_decay=config.weight_decay
    )


class EpochSeed(keras.callbacks.Callback):
    """Makes every random draw of an epoch a function of (seed, stage, epoch) alone.

    At the start of each epoch it writes the epoch into `epoch_variable` (which
    the training data reads to shuffle) and sets the counter of every
    `SeedGenerator` in the model (dropout masks) to a value computed from the
    stage's `stream` and the epoch; the generator's seed itself is kept.
    `BackupAndRestore` does not save those states, and a stage that follows
    another would otherwise inherit the counters the earlier stage left behind,
    which a run resumed after that stage was done never sees.

    Args:
        epoch_variable: the variable the training data shuffles by, or `None`.
        stream: the stage's index (0, 1, ...): each stage draws from its own
            range of counters, so two stages never repeat each other's masks.

    Example:

    >>> epoch = tf.Variable(0, dtype=tf.int64)
    >>> callback = EpochSeed(epoch, stream=1)
    >>> callback.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5)]))
    >>> callback.on_epoch_begin(3)
    >>> int(epoch.numpy())
    3
    """

    #: Counter offset per epoch: far more draws than any epoch makes.
    EPOCH_STRIDE = 1_000_003
    #: Counter offset per stage: room for about 1,000 epochs a stage (uint32 counters, 4 streams).
    STREAM_STRIDE = 1_000_000_007
    MAX_STREAMS = 4

    def __init__(self, epoch_variable: tf.Variable | None = None, stream: int = 0):
        super().__init__()
        if not 0 <= stream < self.MAX_STREAMS:
            raise ValueError(f"stream must be in [0, {self.MAX_STREAMS}); got {stream}.")
        self.epoch_variable = epoch_variable
        self.stream = stream
        self._generators: list[tf.Variable] = []

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self._generators = seed_generator_states(model)

    def counter_at(self, epoch: int) -> int:
        """The seed-generator counter at the start of `epoch` of this stage.

        Example:

        >>> EpochSeed(stream=1).counter_at(2)
        1002000013
        """
        return (self.stream * self.STREAM_STRIDE + epoch * self.EPOCH_STRIDE) % 2**32

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.epoch_variable is not None:
            self.epoch_variable.assign(epoch)
        counter = self.counter_at(epoch)
        for state in self._generators:
            set_seed_generator_counter(state, counter)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights of the best epoch by `monitor` (higher is better).

    Unlike `ModelCheckpoint(save_best_only=True)`, the best value and epoch are
    kept in a JSON file beside the weights, so a resumed run does not overwrite
    a better checkpoint from before the interruption.

    Both files are written atomically (a temporary file in the same folder,
    then `os.replace`), the weights first: a run killed or failing at any
    point leaves the previous checkpoint or the new one, each complete, never
    a partial file that a resumed run would load. The JSON never names a
    better value than the weights on disk hold: killed between the two
    renames, it still has the previous (lower) value, and the epoch, not yet
    in the resume backup, runs again and saves both.

    Args:
        filepath: where the best weights go (`.weights.h5`).
        monitor: the epoch-log key to maximise (e.g. `"val_acc"`), or
            `LAST_EPOCH`: every epoch replaces the previous one (its value is
            the epoch's index).
        kept_model: the model whose weights are saved (default: the fitted
            model). Pass the uncompiled model being trained (a Distiller's
            student, a classifier's inner model) to keep the teacher (if it
            has weights) and the optimizer state out of the file; the resume
            backup has those.

    Example:

    >>> best = BestCheckpoint("runs/x/teacher/transfer/best.weights.h5", "val_acc")  # doctest: +SKIP
    """

    def __init__(self, filepath: str, monitor: str, kept_model: keras.Model | None = None):
        super().__init__()
        self.filepath = filepath
        self.monitor = monitor
        self.kept_model = kept_model
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
        last = self.monitor == LAST_EPOCH
        if last:
            logs = {**logs, LAST_EPOCH: float(epoch)}
        if self.monitor not in logs:
            raise KeyError(
                f"The selection metric '{self.monitor}' is not in the epoch logs "
                f"({sorted(logs)}); choose one of them as `selection_metric`."
            )
        value = float(logs[self.monitor])
        if value > self.best or (last and value == self.best):  # an epoch run again after a kill replaces itself
            with atomic_path(self.filepath) as weights_path:
                (self.kept_model or self.model).save_weights(weights_path, overwrite=True)
            with atomic_write(self.state_path) as handle:
                json.dump({"best": value, "epoch": epoch, "monitor": self.monitor}, handle)
            self.best, self.best_epoch = value, epoch
            if last:
                logger.info("Epoch %d: saved as the latest epoch, %s", epoch + 1, self.filepath)
            else:
                logger.info("Epoch %d: %s improved to %.4f; saved %s", epoch + 1, self.monitor, value, self.filepath)


class EpochHistory(keras.callbacks.Callback):
    """Keeps every epoch's logs in a JSON file that survives an interrupted run.

    A resumed `fit` only returns the epochs it ran itself; this file also holds
    those before the interruption (an epoch run again replaces its entry).

    Args:
        path: the JSON file (one list of floats per log key, indexed by epoch).

    Example:

    >>> history = EpochHistory("runs/x/teacher/transfer/history.json")  # doctest: +SKIP
    >>> history.history["loss"]  # doctest: +SKIP
    [1.38, 1.21]
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.epochs: list[dict[str, float]] = []

    @property
    def history(self) -> dict[str, list[float]]:
        """The logs as `{key: [value per epoch]}`, like `History.history`."""
        keys = sorted({key for logs in self.epochs for key in logs})
        return {key: [logs.get(key, math.nan) for logs in self.epochs] for key in keys}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epochs = []
        if os.path.isfile(self.path):
            with open(self.path, encoding="utf-8") as handle:
                self.epochs = json.load(handle)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        del self.epochs[epoch:]
        self.epochs.append({key: float(value) for key, value in (logs or {}).items()})
        with atomic_write(self.path) as handle:
            json.dump(self.epochs, handle)


def stage_is_done(stage_dir: str) -> bool:
    """Whether `run_stage` finished this stage in an earlier run (its record and best weights exist).

    Example:

    >>> stage_is_done("runs/never_trained/transfer")
    False
    """
    return all(os.path.isfile(os.path.join(stage_dir, name)) for name in ("done.json", "best.weights.h5"))


def load_done_stage(stage_dir: str, kept_model: keras.Model) -> dict:
    """Loads a finished stage's best weights into `kept_model` and returns its record.

    Example:

    >>> record = load_done_stage("runs/x/s1", model)  # doctest: +SKIP
    >>> record["best_epoch"]  # doctest: +SKIP
    2
    """
    kept_model.load_weights(os.path.join(stage_dir, "best.weights.h5"))
    with open(os.path.join(stage_dir, "done.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    logger.info("Stage %s already done (best epoch %d); reusing it.", stage_dir, record["best_epoch"] + 1)
    return record


def run_stage(
    model: keras.Model,
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset,
    stage: StageConfig,
    stage_dir: str,
    log_dir: str,
    selection_metric: str = "val_acc",
    epoch_variable: tf.Variable | None = None,
    seed_stream: int = 0,
    class_names: Sequence[str] = DEFAULT_LABELS,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    kept_model: keras.Model | None = None,
    metrics_callback: keras.callbacks.Callback | None = None,
    class_weight: Mapping[int, float] | None = None,
) -> dict:
    """Fits `model` for one stage and restores the weights of its best validation epoch (or its last).

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
        selection_metric: the epoch-log key that picks the best epoch, or
            `LAST_EPOCH` to keep the final one.
        epoch_variable: the variable the training data shuffles by (see `EpochSeed`).
        seed_stream: the stage's index among the stages of one model (0 for the
            first): its dropout masks are a function of (seed, stream, epoch).
        class_names: the label set, for the validation scores.
        extra_callbacks: more callbacks (e.g. a progress logger).
        verbose: passed to `fit`.
        kept_model: the model the best checkpoint holds (see `BestCheckpoint`);
            default: a Distiller's `student`, else `model`.
        metrics_callback: the callback that adds the validation scores to the
            epoch logs before the best epoch is chosen; default: ACC, BACC, MF1
            and WF1 (`ClassificationMetricsCallback`). A stage that does not
            classify (audio embedding distillation) passes its own.
        class_weight: class index -> weight of the training examples (`fit`'s;
            `ser_keras.training.class_weights`), or `None`: unweighted.

    Returns:
        The stage record: best epoch, best value and the per-epoch history.

    Example:

    >>> record = run_stage(model, train_ds, val_ds, StageConfig(epochs=3), "runs/x/s1", "runs/x/tb/s1")  # doctest: +SKIP
    >>> record["best_epoch"]  # doctest: +SKIP
    2
    """
    kept_model = kept_model or getattr(model, "student", model)
    if stage_is_done(stage_dir):
        return load_done_stage(stage_dir, kept_model)
    os.makedirs(stage_dir, exist_ok=True)
    best_path = os.path.join(stage_dir, "best.weights.h5")
    done_path = os.path.join(stage_dir, "done.json")
    best = BestCheckpoint(best_path, selection_metric, kept_model)
    history = EpochHistory(os.path.join(stage_dir, "history.json"))
    backup_dir = os.path.join(stage_dir, "backup")
    callbacks = [
        StepLearningRate(stage.optimizer),
        metrics_callback or ClassificationMetricsCallback(validation_data, class_names),
        best,
        history,
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
        keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False),
        *extra_callbacks,
    ]
    callbacks.insert(0, EpochSeed(epoch_variable, seed_stream))
    try:
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=stage.epochs,
            callbacks=callbacks,
            shuffle=False,  # the datasets shuffle themselves, per epoch (see `EpochSeed`)
            class_weight=None if class_weight is None else dict(class_weight),
            verbose=verbose,
        )
    except KeyboardInterrupt:
        logger.warning("Interrupted: the last completed epoch of this stage is kept in %s.", backup_dir)
        raise
    if best.best_epoch < 0:
        raise RuntimeError(f"Stage {stage_dir} ran no epoch; check `epochs` ({stage.epochs}).")
    kept_model.load_weights(best_path)
    record = {
        "best_epoch": best.best_epoch,
        "best_value": best.best,
        "selection_metric": selection_metric,
        "history": history.history,
    }
    with atomic_write(done_path) as handle:
        json.dump(record, handle, indent=2)
    return record
