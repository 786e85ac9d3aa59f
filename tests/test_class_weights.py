import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from ser_keras.training.class_weights import balanced_class_weights


def test_balanced_weights_equal_scikit_learns_and_average_to_one_over_the_examples():
    labels = ["neutral"] * 47 + ["joy"] * 17 + ["anger"] * 11 + ["fear"] * 3
    names = ("anger", "fear", "joy", "neutral")
    weights = balanced_class_weights(labels, names)
    reference = compute_class_weight("balanced", classes=np.array(names), y=np.array(labels))
    np.testing.assert_allclose([weights[index] for index in range(4)], reference)
    assert np.mean([weights[names.index(label)] for label in labels]) == pytest.approx(1.0)


def test_a_class_without_training_examples_gets_one_and_the_others_are_balanced_among_the_present():
    weights = balanced_class_weights(["a", "a", "a", "b"], ("a", "b", "c"))
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0), 2: 1.0}


def test_labels_outside_the_set_and_an_empty_split_are_refused():
    with pytest.raises(ValueError, match=r"\['z'\] are not in the label set"):
        balanced_class_weights(["a", "z"], ("a", "b"))
    with pytest.raises(ValueError, match="at least one training label"):
        balanced_class_weights([], ("a", "b"))
