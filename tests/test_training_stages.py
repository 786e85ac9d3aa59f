"""`run_stage` and its callbacks: what the best checkpoint holds, per-stage seeds, the epoch history."""

import json

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from training_stand_ins import build_stand_in_model, make_examples

from ser_keras.config import LAST_EPOCH, OptimizerConfig, Recipe, StageConfig
from ser_keras.training import Distiller
from ser_keras.training.stages import BestCheckpoint, EpochHistory, EpochSeed, run_stage


def datasets():
    inputs, labels = make_examples(16, seed=3)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(8)
    return dataset, dataset


def h5_groups_and_arrays(path) -> tuple[set[str], int]:
    groups, arrays = set(), []
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else groups.add(name)
        )
    return groups, len(arrays)


def test_a_distilled_students_best_checkpoint_holds_the_student_alone(tmp_path):
    teacher = build_stand_in_model(seed=1, name="teacher")
    student = build_stand_in_model(seed=2, dropout_rate=0.3, name="student")
    distiller = Distiller(teacher, student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    train, validation = datasets()
    stage = StageConfig(epochs=2, optimizer=OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9))
    run_stage(distiller, train, validation, stage, str(tmp_path / "stage"), str(tmp_path / "tb"), "val_acc")

    best = tmp_path / "stage" / "best.weights.h5"
    groups, num_arrays = h5_groups_and_arrays(best)
    assert not any(group.startswith("optimizer") for group in groups)  # optimizer state: backup only
    assert num_arrays == len(student.weights) < len(distiller.weights)  # no teacher weights
    fresh = build_stand_in_model(seed=9, dropout_rate=0.3, name="student")
    fresh.load_weights(best)  # a student alone reads it
    for expected, actual in zip(student.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_the_seed_counter_depends_on_stage_and_epoch_not_on_earlier_draws():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=7)])
    callback = EpochSeed(stream=1)
    callback.set_model(model)
    (state,) = [v for v in model.variables if "seed_generator_state" in v.path]
    seed = int(state.numpy()[0])
    masks = []
    for draws_before in (0, 5):  # as if an earlier stage had drawn masks, or not
        for _ in range(draws_before):
            model(np.ones((2, 4)), training=True)
        callback.on_epoch_begin(2)
        assert int(state.numpy()[0]) == seed
        assert int(state.numpy()[-1]) == EpochSeed.STREAM_STRIDE + 2 * EpochSeed.EPOCH_STRIDE
        masks.append(np.asarray(model(np.ones((2, 4)), training=True)))
    np.testing.assert_array_equal(masks[0], masks[1])
    other_stage = EpochSeed(stream=0)
    other_stage.set_model(model)
    other_stage.on_epoch_begin(2)
    assert int(state.numpy()[-1]) == 2 * EpochSeed.EPOCH_STRIDE


def test_epoch_history_keeps_epochs_from_before_a_restart_and_replaces_a_rerun_epoch(tmp_path):
    path = str(tmp_path / "history.json")
    first = EpochHistory(path)
    first.on_train_begin()
    for epoch, loss in enumerate((3.0, 2.0, 1.5)):
        first.on_epoch_end(epoch, {"loss": loss})
    resumed = EpochHistory(path)  # killed after epoch 3 was logged but before its backup: rerun it
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"loss": 1.25, "val_acc": 0.5})
    resumed.on_epoch_end(3, {"loss": 1.0, "val_acc": 0.75})
    assert resumed.history["loss"] == [3.0, 2.0, 1.25, 1.0]
    assert np.isnan(resumed.history["val_acc"][0]) and resumed.history["val_acc"][2:] == [0.5, 0.75]
    assert len(json.loads((tmp_path / "history.json").read_text())) == 4


def _cut_in_half_and_fail(path) -> None:
    """What a kill or a full disk midway leaves: half the file, and an error."""
    with open(path, "r+b") as handle:
        handle.truncate(handle.seek(0, 2) // 2)
    raise OSError("No space left on device")


def test_a_best_checkpoint_write_failing_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = build_stand_in_model(seed=1)
    path = tmp_path / "stage" / "best.weights.h5"
    checkpoint = BestCheckpoint(str(path), "val_acc", model)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_acc": 0.5})
    saved = model.get_weights()
    state = path.with_name("best.weights.h5.json").read_text()

    # A better epoch whose weights file is cut half way: the previous checkpoint stays whole.
    model.set_weights(build_stand_in_model(seed=2).get_weights())
    save_weights = keras.Model.save_weights

    def half_written_weights(self, filepath, **kwargs):
        save_weights(self, filepath, **kwargs)
        _cut_in_half_and_fail(filepath)

    monkeypatch.setattr(keras.Model, "save_weights", half_written_weights)
    with pytest.raises(OSError, match="No space"):
        checkpoint.on_epoch_end(1, {"val_acc": 0.75})
    monkeypatch.undo()
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["best.weights.h5", "best.weights.h5.json"]
    assert path.with_name("best.weights.h5.json").read_text() == state
    resumed = BestCheckpoint(str(path), "val_acc", model)
    resumed.on_train_begin()
    assert (resumed.best, resumed.best_epoch) == (0.5, 0)
    fresh = build_stand_in_model(seed=3)
    fresh.load_weights(path)
    for expected, actual in zip(saved, fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)

    # The weights land but the JSON is cut half way: the JSON still reads, with the previous value
    # (never more than the weights on disk hold), and the weights file is the new one, whole.
    dump = json.dump

    def half_written_json(value, stream, **kwargs):
        dump(value, stream, **kwargs)
        stream.flush()
        _cut_in_half_and_fail(stream.name)

    monkeypatch.setattr(json, "dump", half_written_json)
    with pytest.raises(OSError, match="No space"):
        checkpoint.on_epoch_end(1, {"val_acc": 0.75})
    monkeypatch.undo()
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["best.weights.h5", "best.weights.h5.json"]
    assert json.loads(path.with_name("best.weights.h5.json").read_text()) == {
        "best": 0.5, "epoch": 0, "monitor": "val_acc"}
    fresh.load_weights(path)
    for expected, actual in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)


def test_selection_last_keeps_the_final_epoch_and_a_score_keeps_the_best(tmp_path):
    model = build_stand_in_model(seed=1)
    scores = (0.5, 0.9, 0.6, 0.4)  # validation falls after epoch 2
    final_weights = {}
    for monitor in ("val_acc", LAST_EPOCH):
        path = tmp_path / monitor / "best.weights.h5"
        checkpoint = BestCheckpoint(str(path), monitor, model)
        checkpoint.on_train_begin()
        for epoch, score in enumerate(scores):
            model.set_weights(build_stand_in_model(seed=10 + epoch).get_weights())
            checkpoint.on_epoch_end(epoch, {"val_acc": score})
        final_weights[monitor] = (checkpoint.best_epoch, build_stand_in_model(seed=0))
        final_weights[monitor][1].load_weights(path)
    assert final_weights["val_acc"][0] == 1 and final_weights[LAST_EPOCH][0] == 3
    for monitor, seed in (("val_acc", 11), (LAST_EPOCH, 13)):
        for expected, actual in zip(build_stand_in_model(seed=seed).get_weights(),
                                    final_weights[monitor][1].get_weights(), strict=True):
            np.testing.assert_array_equal(actual, expected)
    resumed = BestCheckpoint(str(tmp_path / LAST_EPOCH / "best.weights.h5"), LAST_EPOCH, model)
    resumed.on_train_begin()  # a resumed run goes on replacing it
    resumed.on_epoch_end(4, {"val_acc": 0.1})
    assert resumed.best_epoch == 4


def test_an_unknown_selection_metric_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="val_bacc.*last"):
        Recipe(selection_metric="val_los")


@pytest.mark.parametrize("distilled", [False, True])
def test_class_weights_train_as_the_same_weights_given_per_example(tmp_path, distilled):
    from ser_keras.training import build_classifier

    inputs, labels = make_examples(32, seed=5)
    class_weight = {0: 0.25, 1: 3.0, 2: 1.0, 3: 0.5}
    per_example = np.array([class_weight[label] for label in labels], "float32")
    stage = StageConfig(epochs=2, optimizer=OptimizerConfig(name="sgd", learning_rate=0.5, momentum=0.9))

    def trained(name, data, weights=None):
        model = build_stand_in_model(seed=4)
        if distilled:
            trainee = Distiller(build_stand_in_model(seed=6, name="teacher"), model, alpha=0.5)
            trainee.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        else:
            trainee = build_classifier(model, keras.optimizers.SGD(0.5, momentum=0.9))
        validation = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(8)
        run_stage(trainee, data.batch(8), validation, stage, str(tmp_path / name), str(tmp_path / f"{name}_tb"),
                  LAST_EPOCH, class_weight=weights)
        return np.concatenate([weight.ravel() for weight in model.get_weights()])

    weighted = trained("class_weight", tf.data.Dataset.from_tensor_slices((inputs, labels)), class_weight)
    reference = trained("sample_weight", tf.data.Dataset.from_tensor_slices((inputs, labels, per_example)))
    plain = trained("plain", tf.data.Dataset.from_tensor_slices((inputs, labels)))
    np.testing.assert_allclose(weighted, reference, rtol=1e-5, atol=1e-6)
    assert np.abs(weighted - plain).max() > 1e-3
