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
`seed_dropout` does the same for the dropout of a part built elsewhere (a
pretrained text encoder, loaded before its model is named).

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
import tensorflow as tf

from ser_keras.keras_internals import seed_generator_states, set_seed_generator_seed


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


def seed_process(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow and makes TensorFlow's ops deterministic, as every job does.

    A script that trains through `FoldTrainer` outside the job (a study) calls
    it first, so that its models train as the job's do, to the last bit.

    Example:

    >>> seed_process(0)
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def seed_dropout(model: keras.Model, seed: int, *names: str) -> None:
    """Sets the seed of every dropout (`SeedGenerator`) in `model` from `(seed, *names)` alone.

    A pretrained backbone (a keras-hub BERT) builds its dropout layers without
    seeds, so each draws its seed from the global random state when loaded: its
    masks would depend on how many models were built before it in the process
    (a job with more students, a resumed job, a study script). Call this on it
    with the model's names; the generators' counters are kept (`EpochSeed` sets
    them per epoch).

    Example:

    >>> import keras
    >>> dropout = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5)])
    >>> seed_dropout(dropout, 0, "main", "student_k2", "text_encoder")
    >>> int(dropout.variables[0].numpy()[0]) == model_seed(0, "main", "student_k2", "text_encoder", "0")
    True
    """
    for index, state in enumerate(seed_generator_states(model)):
        set_seed_generator_seed(state, model_seed(seed, *names, str(index)))
