"""The distillation loss parts against numpy references."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_stand_ins import numpy_softmax

from ser_keras.training import (
    build_classifier,
    classification_cross_entropy,
    distillation_kl_divergence,
    global_batch_mean,
    masked_feature_mse,
)

TEACHER_LOGITS = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0]], dtype="float32")
STUDENT_LOGITS = np.array([[0.5, 1.5, 0.0, -0.5], [1.0, -1.0, 0.5, 0.0]], dtype="float32")


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_kl_divergence_matches_numpy_with_temperature_squared(temperature):
    p = numpy_softmax(TEACHER_LOGITS / temperature)
    q = numpy_softmax(STUDENT_LOGITS / temperature)
    expected = (p * np.log(p / q)).sum(axis=-1) * temperature**2

    actual = distillation_kl_divergence(TEACHER_LOGITS, STUDENT_LOGITS, temperature).numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    assert expected.min() > 0.05  # the fixture really differs between the models


def test_kl_divergence_is_zero_for_identical_logits_and_rejects_bad_temperature():
    np.testing.assert_allclose(
        distillation_kl_divergence(TEACHER_LOGITS, TEACHER_LOGITS).numpy(), [0.0, 0.0], atol=1e-6
    )
    with pytest.raises(ValueError, match="temperature"):
        distillation_kl_divergence(TEACHER_LOGITS, STUDENT_LOGITS, temperature=0.0)


def test_cross_entropy_matches_numpy():
    labels = np.array([1, 2], dtype="int32")
    expected = -np.log(numpy_softmax(STUDENT_LOGITS)[[0, 1], labels])

    actual = classification_cross_entropy(labels, STUDENT_LOGITS).numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothed_cross_entropy_is_the_cross_entropy_against_smoothed_one_hot_targets(smoothing):
    labels = np.array([1, 2], dtype="int32")
    classes = STUDENT_LOGITS.shape[1]
    targets = np.full((2, classes), smoothing / classes)
    targets[[0, 1], labels] += 1.0 - smoothing
    expected = -(targets * np.log(numpy_softmax(STUDENT_LOGITS))).sum(axis=-1)

    actual = classification_cross_entropy(labels, STUDENT_LOGITS, smoothing).numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    assert np.all(np.abs(actual - classification_cross_entropy(labels, STUDENT_LOGITS).numpy()) > 1e-3)
    with pytest.raises(ValueError, match="label_smoothing"):
        classification_cross_entropy(labels, STUDENT_LOGITS, 1.0)


def test_a_classifier_with_label_smoothing_evaluates_the_smoothed_loss_and_reloads(tmp_path):
    inputs = keras.Input((4,), name="x")
    dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(seed=0))
    model = keras.Model(inputs, {"logits": dense(inputs)})
    features, labels = STUDENT_LOGITS, np.array([1, 2], dtype="int32")
    classifier = build_classifier(model, "sgd", label_smoothing=0.2)
    logits = model.predict(features, verbose=0)["logits"]
    expected, unsmoothed = (classification_cross_entropy(labels, logits, e).numpy().mean() for e in (0.2, 0.0))

    loss = classifier.evaluate({"x": features}, labels, return_dict=True, verbose=0)["loss"]

    assert loss == pytest.approx(expected, rel=1e-5) and abs(expected - unsmoothed) > 1e-3
    plain = build_classifier(model).evaluate({"x": features}, labels, return_dict=True, verbose=0)["loss"]
    assert plain == pytest.approx(unsmoothed, rel=1e-5)
    classifier.save(tmp_path / "smoothed.keras")
    reloaded = keras.saving.load_model(tmp_path / "smoothed.keras")
    assert reloaded.loss.label_smoothing == 0.2
    with pytest.raises(ValueError, match="label_smoothing"):
        build_classifier(model, "sgd", label_smoothing=-0.1)


def feature_fixture():
    rng = np.random.default_rng(3)
    student = rng.normal(size=(3, 4, 5)).astype("float32")
    teacher = rng.normal(size=(3, 4, 5)).astype("float32")
    # Example 0: 2 real tokens, example 1: 4 (no padding), example 2: none.
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    return student, teacher, mask


def test_feature_mse_averages_over_real_tokens_only():
    student, teacher, mask = feature_fixture()
    expected = []
    for example in range(3):
        real = [token for token in range(4) if mask[example, token]]
        errors = [
            (student[example, t, h] - teacher[example, t, h]) ** 2 for t in real for h in range(5)
        ]
        expected.append(sum(errors) / len(errors) if errors else 0.0)

    actual = masked_feature_mse(student, teacher, mask).numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5)
    # Without padding it is the authors' plain mean over all L x H elements.
    np.testing.assert_allclose(actual[1], np.mean((student[1] - teacher[1]) ** 2), rtol=1e-5)


def test_feature_mse_ignores_whatever_sits_at_padded_positions():
    student, teacher, mask = feature_fixture()
    changed = student.copy()
    changed[~mask] += 100.0

    np.testing.assert_allclose(
        masked_feature_mse(changed, teacher, mask).numpy(),
        masked_feature_mse(student, teacher, mask).numpy(),
        rtol=1e-6,
    )
    # An int 0/1 mask means the same as a bool one.
    np.testing.assert_allclose(
        masked_feature_mse(student, teacher, mask.astype("int32")).numpy(),
        masked_feature_mse(student, teacher, mask).numpy(),
    )


def test_feature_mse_rejects_different_hidden_sizes_and_lengths():
    student, teacher, mask = feature_fixture()
    with pytest.raises(ValueError, match="hidden size 3 but the teacher's have 5"):
        masked_feature_mse(student[..., :3], teacher, mask)
    with pytest.raises(ValueError, match="3 tokens but the teacher's have 4"):
        masked_feature_mse(student[:, :3], teacher, mask)


def test_global_batch_mean_is_the_plain_mean_on_one_replica():
    # Several replicas: see test_training_distribution.py (an uneven 2 + 1 split).
    assert float(global_batch_mean(tf.constant([1.0, 2.0, 6.0]))) == pytest.approx(3.0)

