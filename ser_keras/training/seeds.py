"""Per-model seeds: a model's initial weights depend on the job's seed and the model alone.

Keras draws the seed of every initializer and dropout layer from Python's
global random state when the layer is built, so without a reseed a model's
initial weights would depend on every model built before it: a student trained
after its twin without distillation would start elsewhere than the twin, and
adding a student to a job would move the initial weights of all that follow.
`seed_model_weights`, called before a model is built, makes its initial
weights (and its dropout seeds) a function of `(seed, *names)` alone, so a
student with and without distillation, given the same names, start from the
same weights, and Table II compares the two trainings, not two draws.

Example:

>>> import keras
>>> seed_model_weights(0, "main", "student_k2")
>>> first = keras.layers.Dense(2)(keras.ops.ones((1, 3)))
>>> seed_model_weights(0, "main", "student_k2")
>>> second = keras.layers.Dense(2)(keras.ops.ones((1, 3)))
>>> bool(keras.ops.all(first == second))
True
"""

from __future__ import annotations

import zlib

import keras


def model_seed(seed: int, *names: str) -> int:
    """A stable 31-bit seed from the job's seed and a model's names (the same in every process).

    Example:

    >>> model_seed(0, "main", "teacher") == model_seed(0, "main", "teacher") != model_seed(1, "main", "teacher")
    True
    """
    return zlib.crc32("/".join((str(seed), *names)).encode()) & 0x7FFFFFFF


def seed_model_weights(seed: int, *names: str) -> None:
    """Reseeds Python, NumPy and TensorFlow with `model_seed(seed, *names)`: call it before building a model.

    Example:

    >>> seed_model_weights(0, "main", "teacher")
    """
    keras.utils.set_random_seed(model_seed(seed, *names))
