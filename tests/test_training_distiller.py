"""The Distiller on tiny stand-in models (one device; several: test_training_distribution.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_stand_ins import build_stand_in_model, make_examples, numpy_softmax

from ser_keras.training import Distiller, build_recorded_teacher, record_teacher_logits


def as_dataset(inputs, labels, batch_size=4, sample_weight=None):
    elements = (inputs, labels) if sample_weight is None else (inputs, labels, sample_weight)
    return tf.data.Dataset.from_tensor_slices(elements).batch(batch_size)


def numpy_loss_parts(teacher_outputs, student_outputs, labels, padding_mask, temperature=2.0):
    """Per-example KL * T^2, CE and masked feature MSE, from model outputs."""
    p = numpy_softmax(teacher_outputs["logits"] / temperature)
    q = numpy_softmax(student_outputs["logits"] / temperature)
    kl = (p * np.log(p / q)).sum(axis=-1) * temperature**2
    ce = -np.log(numpy_softmax(student_outputs["logits"])[np.arange(len(labels)), labels])
    squared = ((student_outputs["text_features"] - teacher_outputs["text_features"]) ** 2).mean(-1)
    feature = (squared * padding_mask).sum(-1) / padding_mask.sum(-1)
    return kl, ce, feature


def compiled_distiller(teacher, student, learning_rate=0.1, **kwargs):
    distiller = Distiller(teacher, student, **kwargs)
    distiller.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate))
    return distiller


def test_each_loss_part_is_its_own_metric_and_matches_numpy():
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    inputs, labels = make_examples(10, seed=1)
    weights = np.linspace(0.5, 2.0, 10).astype("float32")
    kl, ce, feature = numpy_loss_parts(
        teacher.predict(inputs, verbose=0),
        student.predict(inputs, verbose=0),
        labels,
        inputs["padding_mask"],
    )
    assert not np.all(inputs["padding_mask"])  # the fixture has padded tokens
    distiller = compiled_distiller(teacher, student, alpha=0.3)

    unweighted = distiller.evaluate(as_dataset(inputs, labels), return_dict=True, verbose=0)
    weighted = distiller.evaluate(
        as_dataset(inputs, labels, sample_weight=weights), return_dict=True, verbose=0
    )

    total = 0.3 * kl + 0.7 * ce + feature
    assert unweighted["kl_loss"] == pytest.approx(kl.mean(), rel=1e-4)
    assert unweighted["ce_loss"] == pytest.approx(ce.mean(), rel=1e-4)
    assert unweighted["feature_loss"] == pytest.approx(feature.mean(), rel=1e-4)
    assert unweighted["loss"] == pytest.approx(total.mean(), rel=1e-4)
    student_classes = student.predict(inputs, verbose=0)["logits"].argmax(-1)
    assert unweighted["accuracy"] == pytest.approx(np.mean(student_classes == labels))
    assert weighted["loss"] == pytest.approx(np.mean(weights * total), rel=1e-4)
    assert weighted["kl_loss"] == pytest.approx(np.mean(weights * kl), rel=1e-4)
    assert weighted["accuracy"] == unweighted["accuracy"]  # as a classifier's compiled metrics: unweighted


def test_distillation_moves_the_student_toward_the_teacher():
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    inputs, _ = make_examples(32, seed=2)
    teacher_outputs = teacher.predict(inputs, verbose=0)
    labels = teacher_outputs["logits"].argmax(-1).astype("int32")
    teacher_weights = [np.array(weight) for weight in teacher.get_weights()]

    def distance_to_teacher():
        student_outputs = student.predict(inputs, verbose=0)
        kl, _, feature = numpy_loss_parts(
            teacher_outputs, student_outputs, labels, inputs["padding_mask"], temperature=1.0
        )
        return kl.mean(), feature.mean()

    kl_before, feature_before = distance_to_teacher()
    distiller = compiled_distiller(teacher, student, learning_rate=0.5)
    history = distiller.fit(as_dataset(inputs, labels, batch_size=8), epochs=25, verbose=0)
    kl_after, feature_after = distance_to_teacher()

    assert kl_before > 0.05
    assert kl_after < 0.5 * kl_before
    assert feature_after < 0.5 * feature_before
    assert history.history["kl_loss"][-1] < history.history["kl_loss"][0]
    for before, after in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_teacher_runs_in_inference_mode_during_training():
    # A teacher with heavy dropout: in training mode its logits would change every step.
    teacher = build_stand_in_model(seed=10, dropout_rate=0.9, name="teacher")
    student = build_stand_in_model(seed=20)
    inputs, labels = make_examples(8, seed=3)
    dataset = as_dataset(inputs, labels, batch_size=8)
    distiller = compiled_distiller(teacher, student, learning_rate=0.0)

    trained = distiller.fit(dataset, epochs=1, verbose=0).history
    evaluated = distiller.evaluate(dataset, return_dict=True, verbose=0)

    assert trained["kl_loss"][0] == pytest.approx(evaluated["kl_loss"], rel=1e-6)
    assert not teacher.trainable


def test_predict_runs_the_student_which_saves_and_reloads_alone(tmp_path):
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    inputs, _ = make_examples(5, seed=4)
    distiller = compiled_distiller(teacher, student)

    predicted = distiller.predict(inputs, verbose=0)
    student.save(tmp_path / "student.keras")
    reloaded = keras.models.load_model(tmp_path / "student.keras")

    expected = student.predict(inputs, verbose=0)
    np.testing.assert_allclose(predicted["logits"], expected["logits"], rtol=1e-6)
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0)["logits"], expected["logits"], rtol=1e-6
    )
    assert not np.allclose(expected["logits"], teacher.predict(inputs, verbose=0)["logits"])


def test_teacher_and_student_can_read_different_inputs():
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    student_inputs, labels = make_examples(6, seed=5)
    teacher_inputs = dict(student_inputs, token_ids=(student_inputs["token_ids"] * 3) % 16)
    kl, _, feature = numpy_loss_parts(
        teacher.predict(teacher_inputs, verbose=0),
        student.predict(student_inputs, verbose=0),
        labels,
        student_inputs["padding_mask"],
    )
    distiller = compiled_distiller(teacher, student)

    results = distiller.evaluate(
        as_dataset({"teacher": teacher_inputs, "student": student_inputs}, labels),
        return_dict=True,
        verbose=0,
    )

    assert results["kl_loss"] == pytest.approx(kl.mean(), rel=1e-4)
    assert results["feature_loss"] == pytest.approx(feature.mean(), rel=1e-4)


def test_a_recorded_teacher_trains_the_student_as_the_live_teacher_does():
    teacher = build_stand_in_model(seed=10, dropout_rate=0.5)  # inference mode: the dropout must not show
    inputs, labels = make_examples(12, seed=6)
    ids = [f"u{index}" for index in range(12)]
    logits = record_teacher_logits(teacher, as_dataset(inputs, labels, batch_size=5), ids)
    features = teacher.predict(inputs, verbose=0)["text_features"]
    recorded = build_recorded_teacher(len(logits["u0"]), text_width=features.shape[-1])
    replayed = {"logits": np.stack([logits[name] for name in ids]), "text_features": features}
    trained = {}
    for kind, teacher_model, teacher_inputs in (("live", teacher, inputs), ("recorded", recorded, replayed)):
        distiller = compiled_distiller(teacher_model, build_stand_in_model(seed=20), alpha=0.4)
        data = as_dataset({"teacher": teacher_inputs, "student": inputs}, labels)
        history = distiller.fit(data, epochs=3, verbose=0).history
        trained[kind] = ([weight.numpy() for weight in distiller.student.weights], history)

    assert not recorded.weights
    (live_weights, live_history), (recorded_weights, recorded_history) = trained["live"], trained["recorded"]
    assert live_history["kl_loss"][0] > 0 and live_history["feature_loss"][0] > 0
    for name in ("loss", "kl_loss", "feature_loss"):
        np.testing.assert_allclose(recorded_history[name], live_history[name], rtol=1e-5)
    for live, replayed_weight in zip(live_weights, recorded_weights, strict=True):
        np.testing.assert_allclose(replayed_weight, live, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="gave 12 predictions for 11 utterances"):
        record_teacher_logits(teacher, as_dataset(inputs, labels), ids[:-1])


def test_different_hidden_sizes_need_a_projection_or_logits_only_distillation():
    inputs, labels = make_examples(4, seed=6)
    dataset = as_dataset(inputs, labels)
    teacher = build_stand_in_model(seed=10, hidden_size=8)

    with pytest.raises(ValueError, match="hidden size 6 but the teacher's have 8.*feature_projection"):
        compiled_distiller(teacher, build_stand_in_model(seed=20, hidden_size=6)).fit(
            dataset, epochs=1, verbose=0
        )
    logits_only = compiled_distiller(
        teacher, build_stand_in_model(seed=20, hidden_size=6), feature_loss_weight=0.0
    )
    history = logits_only.fit(dataset, epochs=1, verbose=0).history
    assert history["feature_loss"] == [0.0]
    assert history["kl_loss"][0] > 0


def test_a_projection_to_the_teachers_width_defines_the_feature_loss_and_stays_out_of_the_student(tmp_path):
    inputs, labels = make_examples(6, seed=7)
    teacher = build_stand_in_model(seed=10, hidden_size=8)
    student = build_stand_in_model(seed=20, hidden_size=4, name="narrow")
    kernel = np.arange(32, dtype="float32").reshape(4, 8) / 32.0 - 0.5
    bias = np.linspace(-0.2, 0.2, 8).astype("float32")
    projection = keras.layers.Dense(
        8, kernel_initializer=keras.initializers.Constant(kernel), bias_initializer=keras.initializers.Constant(bias)
    )
    distiller = compiled_distiller(teacher, student, feature_projection=projection)

    teacher_outputs, student_outputs = teacher.predict(inputs, verbose=0), student.predict(inputs, verbose=0)
    parts = distiller.compute_loss_parts(labels, teacher_outputs, student_outputs, inputs)
    # By hand: project the student's tokens, then the mean squared error over real tokens and 8 widths.
    projected = student_outputs["text_features"] @ kernel + bias
    squared = ((projected - teacher_outputs["text_features"]) ** 2).sum(-1)
    mask = inputs["padding_mask"]
    expected = (squared * mask).sum(-1) / (mask.sum(-1) * 8)
    np.testing.assert_allclose(parts["feature_loss"].numpy(), expected, rtol=1e-5)

    distiller.fit(as_dataset(inputs, labels), epochs=1, verbose=0)
    assert not np.allclose(projection.kernel.numpy(), kernel)  # it trains with the student
    student_weights = {id(weight) for weight in student.weights}
    assert not any(id(weight) in student_weights for weight in projection.weights)
    student.save(tmp_path / "student.keras")
    reloaded = keras.saving.load_model(tmp_path / "student.keras")
    assert reloaded.count_params() == student.count_params()
    assert "text_features" in reloaded.output and reloaded.output["text_features"].shape[-1] == 4


def test_label_smoothing_smooths_the_ce_term_alone():
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    inputs, labels = make_examples(10, seed=1)
    dataset = as_dataset(inputs, labels)
    plain = compiled_distiller(teacher, student, alpha=0.3).evaluate(dataset, return_dict=True, verbose=0)
    smoothed = compiled_distiller(teacher, student, alpha=0.3, label_smoothing=0.2).evaluate(
        dataset, return_dict=True, verbose=0
    )
    student_logits = student.predict(inputs, verbose=0)["logits"]
    log_probs = np.log(numpy_softmax(student_logits))
    expected_ce = -(0.8 * log_probs[np.arange(10), labels] + 0.2 * log_probs.mean(-1))

    assert smoothed["ce_loss"] == pytest.approx(expected_ce.mean(), rel=1e-4)
    assert smoothed["ce_loss"] != pytest.approx(plain["ce_loss"], rel=1e-3)
    assert (smoothed["kl_loss"], smoothed["feature_loss"]) == pytest.approx((plain["kl_loss"], plain["feature_loss"]))
    assert smoothed["loss"] - plain["loss"] == pytest.approx(0.7 * (smoothed["ce_loss"] - plain["ce_loss"]), rel=1e-3)


def test_bad_arguments_get_clear_errors():
    teacher, student = build_stand_in_model(seed=10), build_stand_in_model(seed=20)
    with pytest.raises(ValueError, match="alpha"):
        Distiller(teacher, student, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        Distiller(teacher, student, temperature=0.0)
    with pytest.raises(ValueError, match="feature_loss_weight"):
        Distiller(teacher, student, feature_loss_weight=-1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        Distiller(teacher, student, label_smoothing=1.0)
    with pytest.raises(ValueError, match="does not take `loss`"):
        Distiller(teacher, student).compile(optimizer="sgd", loss="mse")
    inputs, labels = make_examples(4, seed=7)
    distiller = Distiller(teacher, student)
    with pytest.raises(ValueError, match="no 'padding_mask'"):
        distiller.compute_loss_parts(
            labels, teacher(inputs), student(inputs), {"token_ids": inputs["token_ids"]}
        )
    with pytest.raises(ValueError, match="must return a dict with 'logits'"):
        distiller.compute_loss_parts(labels, teacher(inputs)["logits"], student(inputs), inputs)


def test_backup_and_restore_resumes_to_the_uninterrupted_weights(tmp_path):
    inputs, labels = make_examples(8, seed=8)
    dataset = as_dataset(inputs, labels)

    class InterruptAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    def new_distiller():
        distiller = Distiller(build_stand_in_model(seed=10), build_stand_in_model(seed=20))
        distiller.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
        return distiller

    uninterrupted = new_distiller()
    uninterrupted.fit(dataset, epochs=4, verbose=0)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        new_distiller().fit(
            dataset, epochs=4, verbose=0, callbacks=[backup, InterruptAfterSecondEpoch()]
        )
    resumed = new_distiller()
    history = resumed.fit(dataset, epochs=4, verbose=0, callbacks=[backup]).history

    assert len(history["loss"]) == 2  # epochs 3 and 4 only
    for expected, actual in zip(uninterrupted.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
