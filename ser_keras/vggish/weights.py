"""Importing pretrained VGGish weights by the original variable names.

Two sources hold the same nine `<scope>/weights` + `<scope>/biases` pairs:

* the original TF1 checkpoint `vggish_model.ckpt`, read with
  `tf.train.load_checkpoint` (no graph, no TF1 session);
* the TF-Hub module `google/vggish/1` (a handle or a local copy of the
  SavedModel directory), loaded with `tensorflow_hub.load`; its variables keep
  the checkpoint names (`vggish/conv1/weights:0`, ...).

Both map one to one onto the Keras layers of `vggish_network`: same kernel
layouts (`[3, 3, in, out]` and `[in, out]`), same flatten order (NHWC).
"""

from __future__ import annotations

import logging
import os

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

#: Keras layer name -> the original variable scope (`<scope>/weights`, `<scope>/biases`).
ORIGINAL_SCOPES: dict[str, str] = {
    "conv1": "vggish/conv1",
    "conv2": "vggish/conv2",
    "conv3_1": "vggish/conv3/conv3_1",
    "conv3_2": "vggish/conv3/conv3_2",
    "conv4_1": "vggish/conv4/conv4_1",
    "conv4_2": "vggish/conv4/conv4_2",
    "fc1_1": "vggish/fc1/fc1_1",
    "fc1_2": "vggish/fc1/fc1_2",
    "fc2": "vggish/fc2",
}

#: The original variable scope -> its `weights` shape (its `biases` are `[shape[-1]]`).
ORIGINAL_SHAPES: dict[str, tuple[int, ...]] = {
    "vggish/conv1": (3, 3, 1, 64),
    "vggish/conv2": (3, 3, 64, 128),
    "vggish/conv3/conv3_1": (3, 3, 128, 256),
    "vggish/conv3/conv3_2": (3, 3, 256, 256),
    "vggish/conv4/conv4_1": (3, 3, 256, 512),
    "vggish/conv4/conv4_2": (3, 3, 512, 512),
    "vggish/fc1/fc1_1": (12288, 4096),
    "vggish/fc1/fc1_2": (4096, 4096),
    "vggish/fc2": (4096, 128),
}

#: Where to get real weights.
WEIGHTS_HELP = (
    "pass a TF-Hub handle ('https://tfhub.dev/google/vggish/1'), a local copy of that "
    "SavedModel directory, or the original checkpoint 'vggish_model.ckpt' "
    "(https://storage.googleapis.com/audioset/vggish_model.ckpt)"
)


class VGGishWeightsError(ValueError):
    """Pretrained VGGish weights that cannot be found, read or matched.

    Example:

    >>> try:
    ...     read_vggish_variables("no/such/file.ckpt")
    ... except VGGishWeightsError as error:
    ...     print("cannot load:", error.source)
    cannot load: no/such/file.ckpt
    """

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"Cannot load VGGish weights from '{source}': {reason}")


def _is_checkpoint(path: str) -> bool:
    return os.path.isfile(path) or os.path.isfile(path + ".index")


def _is_saved_model(path: str) -> bool:
    return os.path.isdir(path) and (
        os.path.isfile(os.path.join(path, "saved_model.pb"))
        or os.path.isfile(os.path.join(path, "saved_model.pbtxt"))
    )


def _looks_like_hub_handle(source: str) -> bool:
    """A URL (`https://tfhub.dev/...`, `gs://...`): what `tensorflow_hub` resolves besides local paths."""
    return "://" in source


def _checkpoint_reader(path: str):
    try:
        return tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as error:
        raise VGGishWeightsError(
            path, f"not a readable TensorFlow checkpoint ({error}); {WEIGHTS_HELP}."
        ) from error


def read_checkpoint_variables(path: str) -> dict[str, np.ndarray]:
    """Reads every variable of a TF1 checkpoint (V1 file or V2 prefix) by name.

    Example:

    >>> arrays = read_checkpoint_variables("vggish_model.ckpt")  # doctest: +SKIP
    >>> arrays["vggish/conv1/weights"].shape  # doctest: +SKIP
    (3, 3, 1, 64)
    """
    reader = _checkpoint_reader(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def read_saved_model_variables(handle: str) -> dict[str, np.ndarray]:
    """Loads a `google/vggish/1`-style SavedModel (handle or directory) and reads its variables.

    Example:

    >>> arrays = read_saved_model_variables("/models/vggish_1")  # doctest: +SKIP
    >>> sorted(arrays)[0]  # doctest: +SKIP
    'vggish/conv1/biases'
    """
    import tensorflow_hub as hub

    try:
        module = hub.load(handle)
    except Exception as error:  # tensorflow_hub raises many kinds (network, format, IO)
        raise VGGishWeightsError(
            handle,
            f"tensorflow_hub.load failed ({type(error).__name__}: {error}). Without network "
            "access, download the model elsewhere and pass its local directory or the "
            "original checkpoint.",
        ) from error
    variables = getattr(module, "variables", None)
    if not variables:
        raise VGGishWeightsError(
            handle, "the SavedModel exposes no `variables`; is it google/vggish/1?"
        )
    return {variable.name.split(":")[0]: variable.numpy() for variable in variables}


def _source_kind(source: str) -> str:
    """`"saved_model"`, `"checkpoint"` or `"hub"`; a missing path or a directory without a SavedModel raises."""
    if _is_saved_model(source):
        return "saved_model"
    if _is_checkpoint(source):
        return "checkpoint"
    if os.path.isdir(source):
        raise VGGishWeightsError(
            source,
            f"the directory holds no saved_model.pb, so it is not a copy of google/vggish/1; {WEIGHTS_HELP}.",
        )
    if _looks_like_hub_handle(source):
        return "hub"
    raise VGGishWeightsError(source, f"no such file or directory; {WEIGHTS_HELP}.")


def read_vggish_variables(source: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads the original VGGish variables from a checkpoint, SavedModel directory or TF-Hub handle.

    Example:

    >>> arrays = read_vggish_variables("vggish_model.ckpt")  # doctest: +SKIP
    """
    source = os.fspath(source)
    if _source_kind(source) == "checkpoint":
        return read_checkpoint_variables(source)
    return read_saved_model_variables(source)


def _check_original_shapes(source: str, shapes: dict[str, tuple[int, ...]]) -> None:
    """Every original variable is in `shapes` (name -> shape) with its original shape."""
    for scope, kernel_shape in ORIGINAL_SHAPES.items():
        for suffix, expected in (("weights", kernel_shape), ("biases", kernel_shape[-1:])):
            name = f"{scope}/{suffix}"
            if name not in shapes:
                found = ", ".join(sorted(shapes)[:12]) or "none"
                raise VGGishWeightsError(
                    source,
                    f"variable '{name}' is missing (found: {found}): it does not hold VGGish's "
                    f"weights; {WEIGHTS_HELP}.",
                )
            if tuple(shapes[name]) != expected:
                raise VGGishWeightsError(
                    source,
                    f"variable '{name}' has shape {tuple(shapes[name])}, expected {expected}: it does "
                    f"not hold VGGish's weights; {WEIGHTS_HELP}.",
                )


def check_vggish_weights(source: str | os.PathLike) -> None:
    """Checks that `source` holds every original VGGish variable with its shape, without building VGGish.

    A checkpoint is checked from its index (no tensor is read); a SavedModel
    directory or a TF-Hub handle is loaded (a handle is downloaded into
    `tensorflow_hub`'s cache, where `load_vggish_weights` finds it again).

    Raises:
        VGGishWeightsError: a missing path, a directory without a SavedModel,
            a file that is not a TensorFlow checkpoint, a handle that cannot
            be loaded (no network), or variables missing or of another shape.

    Example:

    >>> try:
    ...     check_vggish_weights("no/such/vggish_model.ckpt")
    ... except VGGishWeightsError as error:
    ...     print(error.reason.split(";")[0])
    no such file or directory
    """
    source = os.fspath(source)
    if _source_kind(source) == "checkpoint":
        shapes = _checkpoint_reader(source).get_variable_to_shape_map()
    else:
        shapes = {name: array.shape for name, array in read_saved_model_variables(source).items()}
    _check_original_shapes(source, {name: tuple(shape) for name, shape in shapes.items()})


def load_vggish_weights(model: keras.Model, source: str | os.PathLike) -> None:
    """Copies the original VGGish weights from `source` into a `vggish_network` model.

    Args:
        model: a model built by `ser_keras.vggish.vggish_network`.
        source: a checkpoint, a SavedModel directory or a TF-Hub handle.

    Raises:
        VGGishWeightsError: when the source is missing, unreadable, or lacks a
            variable or holds one of the wrong shape.

    Example:

    >>> model = vggish_network()  # doctest: +SKIP
    >>> load_vggish_weights(model, "vggish_model.ckpt")  # doctest: +SKIP
    """
    source = os.fspath(source)
    arrays = read_vggish_variables(source)
    _check_original_shapes(source, {name: tuple(array.shape) for name, array in arrays.items()})
    for layer_name, scope in ORIGINAL_SCOPES.items():
        model.get_layer(layer_name).set_weights([arrays[f"{scope}/weights"], arrays[f"{scope}/biases"]])
    logger.info("Loaded pretrained VGGish weights from %s", source)
