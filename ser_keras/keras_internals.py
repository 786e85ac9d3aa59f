"""The Keras and keras-hub internals ser-keras relies on, in one place.

Everything else in the package uses public API. What is here has no public
equivalent in the versions setup.cfg allows; each shim's docstring says what it
relies on and why. tests/test_keras_internals.py exercises every shim and,
when an upgrade breaks one, fails with a message naming the installed versions
(`installed_versions()`): fix the shim here, or keep the pin in setup.cfg.

Replaced by public API (no shim needed): the trainer's `_distribute_strategy`
(the symbolic-build hook below reads the public `distribute_strategy`).

Example:

>>> installed_versions()  # doctest: +ELLIPSIS
'Keras 3..., keras-hub ...'
"""

from __future__ import annotations

import inspect
from importlib import metadata

import numpy as np
import tensorflow as tf

#: The Keras release the shims were last checked against (the pin in setup.cfg follows it).
CHECKED_KERAS = "3.15.1"


class KerasInternalsError(RuntimeError):
    """A Keras internal a shim relies on is gone or changed; the message names the installed versions."""

    def __init__(self, what: str):
        super().__init__(
            f"{what} ({installed_versions()}; the shims in ser_keras/keras_internals.py were checked "
            f"against Keras {CHECKED_KERAS}): adapt the shim, or install the Keras that setup.cfg pins."
        )


def installed_versions() -> str:
    """The installed Keras and keras-hub versions, as the failure messages name them."""
    versions = []
    for name, label in (("keras", "Keras"), ("keras-hub", "keras-hub")):
        try:
            versions.append(f"{label} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{label} not installed")
    return ", ".join(versions)


# --- The symbolic build of a distributed fit ------------------------------------------------------

#: The Keras TensorFlow trainer's hook that `fit`/`evaluate` call before the first step.
SYMBOLIC_BUILD_HOOK = "_maybe_symbolic_build"


class LocalReplicaSymbolicBuild:
    """Builds a model under `tf.distribute` from one replica's share of the first batch.

    Relies on: Keras' TensorFlow trainer calls `_maybe_symbolic_build(iterator=...)`
    before the first step of `fit`/`evaluate` when the model was created under a
    strategy; the iterator yields `(begin_step, end_step, batches)`, and Keras
    takes `next(batches)` and averages it across the replicas (`strategy.reduce`)
    unless some value of it is not a `tf.distribute.DistributedValues`, when it
    uses the batch as it is.

    Why: that average only serves to learn the input shapes, and it fails for
    bool tensors (no `AddN` kernel; the `padding_mask` and `audio_mask` inputs)
    and, under `MultiWorkerMirroredStrategy`, for any input
    (keras-team/keras#20329). Keras has no public switch for it. This override
    hands Keras the first local replica's share instead (same structure and
    dtypes, plain tensors), lazily: nothing is read where Keras would not read.

    Put it before `keras.Model` in the bases (`MultiReplicaFitMixin` does).
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            iterator = _first_local_replica(iterator, self.distribute_strategy)
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def _first_local_replica(epoch_iterator, strategy: tf.distribute.Strategy):
    """The epoch iterator with each batch replaced by its first local replica's share."""

    def first_share(value):
        return strategy.experimental_local_results(value)[0] if isinstance(value, tf.distribute.DistributedValues) else value

    for begin_step, end_step, batches in epoch_iterator:
        yield begin_step, end_step, (tf.nest.map_structure(first_share, batch) for batch in batches)


def check_symbolic_build_hook() -> None:
    """Raises `KerasInternalsError` when Keras' trainer no longer has the hook `LocalReplicaSymbolicBuild` overrides.

    Example:

    >>> check_symbolic_build_hook()
    """
    import keras

    hook = getattr(keras.Model, SYMBOLIC_BUILD_HOOK, None)
    if hook is None:
        raise KerasInternalsError(f"keras.Model has no {SYMBOLIC_BUILD_HOOK}")
    parameters = list(inspect.signature(hook).parameters)
    if parameters[1:] != ["iterator", "data_batch"]:
        raise KerasInternalsError(
            f"keras.Model.{SYMBOLIC_BUILD_HOOK} takes {parameters}, not (self, iterator, data_batch)"
        )


# --- Seed-generator states -------------------------------------------------------------------------

#: The name Keras gives the state variable of every `keras.random.SeedGenerator`.
SEED_GENERATOR_STATE = "seed_generator_state"


def seed_generator_states(model) -> list:
    """The state variables of every `keras.random.SeedGenerator` in a model (dropout layers, ...).

    Relies on: `Layer.variables` lists each seed generator's state (public, and
    documented so), and the state variable is named `"seed_generator_state"`
    (`SeedGenerator.__init__`); Keras has no public list of a model's generators.
    A state that is not the expected `[seed, counter]` pair raises
    `KerasInternalsError`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=7)])
    >>> [state.numpy().tolist() for state in seed_generator_states(model)]
    [[7, 0]]
    """
    states = [variable for variable in model.variables if SEED_GENERATOR_STATE in variable.path]
    for state in states:
        if tuple(state.shape) != (2,):
            raise KerasInternalsError(
                f"seed-generator state {state.path} has shape {tuple(state.shape)}, not the [seed, counter] pair (2,)"
            )
    return states


def set_seed_generator_counter(state, counter: int) -> None:
    """Sets a seed generator's counter and keeps its seed.

    Relies on: the state is `[seed, counter]`, a draw uses the state as its
    seed and then adds `[0, 1]` (`SeedGenerator.next`), so the masks drawn after
    this call depend on the seed and `counter` alone. Why: `BackupAndRestore`
    does not save those states, and `EpochSeed` needs each epoch's draws to be
    the same in a resumed run as in an uninterrupted one.

    Example:

    >>> import keras
    >>> (state,) = seed_generator_states(keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=7)]))
    >>> set_seed_generator_counter(state, 12)
    >>> state.numpy().tolist()
    [7, 12]
    """
    value = np.array(state.numpy())
    value[-1] = counter
    state.assign(value)


def set_seed_generator_seed(state, seed: int) -> None:
    """Sets a seed generator's seed and keeps its counter.

    Relies on: the state is `[seed, counter]` (`SeedGenerator.__init__`), so
    the masks drawn after this call depend on `seed` and the counter alone. Why:
    a generator created without a seed (a keras-hub backbone's dropout layers)
    draws its seed from the global random state when it is built, so its masks
    would depend on everything drawn before it in the process.

    Example:

    >>> import keras
    >>> (state,) = seed_generator_states(keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=7)]))
    >>> set_seed_generator_seed(state, 12)
    >>> state.numpy().tolist()
    [12, 0]
    """
    value = np.array(state.numpy())
    value[0] = seed
    state.assign(value)


# --- Optimizer slots -------------------------------------------------------------------------------


def optimizer_variable_index(optimizer, variable) -> int:
    """The position of `variable` among the variables an optimiser was built with.

    Relies on: `Optimizer._get_variable_index`, the lookup every built-in Keras
    optimiser's `update_step` uses to find a variable's own slots (its moments),
    which also accepts the backend variable `update_step` receives under
    `tf.distribute`. Why: `LayerwiseAdamW` keeps one learning-rate multiplier per
    built variable and needs the same lookup in its `update_step`.

    Example:

    >>> import keras
    >>> optimizer = keras.optimizers.AdamW()
    >>> first, second = keras.Variable([1.0]), keras.Variable([2.0])
    >>> optimizer.build([first, second])
    >>> optimizer_variable_index(optimizer, second)
    1
    """
    try:
        return optimizer._get_variable_index(variable)
    except AttributeError as error:
        raise KerasInternalsError("keras.optimizers.Optimizer._get_variable_index is gone") from error


# --- keras-hub presets -----------------------------------------------------------------------------


def preset_backbone(preset: str) -> tuple[object, dict] | None:
    """The backbone class a keras-hub preset names, and its `config.json`, without building the model.

    Relies on: `keras_hub.src.utils.preset_utils.get_preset_loader(preset)`,
    whose loader has `check_backbone_class()` and `config`; it reads keras-hub
    presets (a `registered_name`) and Hugging Face directories (a `model_type`)
    alike, and downloads only the config of a hub handle. Why: keras-hub's public
    API learns the class only by building the backbone (`Backbone.from_preset`).
    `None` when this keras-hub has no such module (the caller then skips the
    check); its errors (network, format, IO) pass through.

    Example:

    >>> backbone_class, config = preset_backbone("path/to/bert")  # doctest: +SKIP
    >>> backbone_class.__name__, config["num_hidden_layers"]  # doctest: +SKIP
    ('BertBackbone', 6)
    """
    try:
        from keras_hub.src.utils.preset_utils import get_preset_loader
    except ImportError:
        return None
    loader = get_preset_loader(preset)
    return loader.check_backbone_class(), getattr(loader, "config", {}) or {}
