"""The runtimes a benchmark compares, each as a function: batch of model inputs -> probabilities.

* `keras`: the Keras model in a `tf.function` (one trace for every shape);
* `keras_xla`: the same with XLA (`jit_compile=True`; one compilation per input shape);
* `saved_model`: the exported SavedModel (`ser_keras.export.export_model`),
  loaded with `tf.saved_model.load`, through its `serving_tokens` signature;
* `tflite_fp32`, `tflite_fp16`, `tflite_dynamic`, `tflite_int8`: that
  signature converted by `ser_keras.export.convert_to_tflite`, run by LiteRT.

All take the same inputs (token ids, masks, log-mel patches): tokenization and
the log-mel front end run before, outside the timed call, as TFLite needs.

Example:

>>> artifacts = ModelArtifacts(model, preprocessor, label_names, "/tmp/bench/teacher")  # doctest: +SKIP
>>> predict = make_predictor("tflite_dynamic", model, artifacts)  # doctest: +SKIP
>>> predict(clip.inputs).shape  # doctest: +SKIP
(1, 4)
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ser_keras.export import convert_to_tflite, export_model, load_tokens_signature
from ser_keras.export.tflite import TFLiteModel, tflite_file_name

logger = logging.getLogger(__name__)

#: TFLite backends and the `convert_to_tflite` quantization mode of each.
TFLITE_BACKENDS: dict[str, str] = {
    "tflite_fp32": "none",
    "tflite_fp16": "float16",
    "tflite_dynamic": "dynamic",
    "tflite_int8": "int8",
}
#: Every backend, in report order.
BACKENDS: tuple[str, ...] = ("keras", "keras_xla", "saved_model", *TFLITE_BACKENDS)

Predictor = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def check_backends(names: Sequence[str]) -> list[str]:
    """Validates backend names; returns them in report order.

    Example:

    >>> check_backends(["tflite_int8", "keras"])
    ['keras', 'tflite_int8']
    """
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        raise ValueError(f"Unknown backends {unknown}; choose among {list(BACKENDS)}.")
    return [name for name in BACKENDS if name in names]


def keras_predictor(model: keras.Model, jit_compile: bool = False) -> Predictor:
    """The Keras model's softmax in a `tf.function` (any batch size and length; XLA if asked).

    Example:

    >>> keras_predictor(model)(clip.inputs).shape  # doctest: +SKIP
    (1, 4)
    """
    signature = {
        name: tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype, name=name)
        for name, tensor in model.input.items()
    }

    @tf.function(input_signature=[signature], jit_compile=jit_compile, reduce_retracing=True)
    def probabilities(inputs):
        return tf.nn.softmax(model(inputs, training=False)["logits"], axis=-1)

    return lambda inputs: probabilities({name: inputs[name] for name in signature}).numpy()


class ModelArtifacts:
    """A model's SavedModel export and TFLite conversions, written on first use under `directory`.

    Args:
        model: the raw-input model (encoders inside).
        preprocessor: its text preprocessor (saved with the export).
        label_names: the class names.
        directory: where the export (`export/1`) and TFLite files go.
        calibration: batch-of-one inputs of training clips, for `tflite_int8`.

    Example:

    >>> ModelArtifacts(model, preprocessor, labels, "/tmp/b").tflite_path("tflite_fp16")  # doctest: +SKIP
    PosixPath('/tmp/b/tflite/ser_float16.tflite')
    """

    def __init__(self, model, preprocessor, label_names, directory, calibration=None):
        self.model = model
        self.preprocessor = preprocessor
        self.label_names = list(label_names)
        self.directory = Path(directory)
        self.calibration = calibration
        self._saved_model_dir: Path | None = None
        self._tflite: dict[str, Path] = {}

    @property
    def saved_model_dir(self) -> Path:
        """The SavedModel folder, exported on first access."""
        if self._saved_model_dir is None:
            export_dir = self.directory / "export"
            if export_dir.exists():
                shutil.rmtree(export_dir)
            logger.info("Exporting %s as a SavedModel.", self.model.name)
            self._saved_model_dir = Path(export_model(self.model, self.preprocessor, self.label_names, export_dir))
        return self._saved_model_dir

    def tflite_path(self, backend: str) -> Path:
        """The `.tflite` file of a TFLite backend, converted from the SavedModel on first access."""
        if backend not in self._tflite:
            quantize = TFLITE_BACKENDS[backend]
            if quantize == "int8" and not self.calibration:
                raise ValueError("tflite_int8 needs calibration inputs (training clips).")
            content = convert_to_tflite(self.saved_model_dir, quantize, self.calibration)
            path = self.directory / "tflite" / tflite_file_name(quantize)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            self._tflite[backend] = path
        return self._tflite[backend]

    def size_bytes(self, backend: str) -> int | None:
        """The on-disk size of a backend's model file(s), when it has any yet."""
        if backend in TFLITE_BACKENDS:
            return self.tflite_path(backend).stat().st_size
        if backend == "saved_model":
            return _folder_size(self.saved_model_dir, skip=("assets.extra",))
        return None

    def remove(self) -> None:
        """Deletes everything written under `directory`."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self._saved_model_dir, self._tflite = None, {}


def _folder_size(folder: Path, skip: Sequence[str] = ()) -> int:
    total = 0
    for root, directories, files in os.walk(folder):
        directories[:] = [name for name in directories if name not in skip]
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def make_predictor(
    backend: str, model: keras.Model, artifacts: ModelArtifacts, num_threads: int | None = None
) -> Predictor:
    """A backend's predictor for `model` (exports and converts through `artifacts` as needed).

    Example:

    >>> make_predictor("saved_model", model, artifacts)(clip.inputs)  # doctest: +SKIP
    """
    if backend == "keras":
        return keras_predictor(model)
    if backend == "keras_xla":
        return keras_predictor(model, jit_compile=True)
    if backend == "saved_model":
        return load_tokens_signature(artifacts.saved_model_dir)
    if backend in TFLITE_BACKENDS:
        tflite_model = TFLiteModel(artifacts.tflite_path(backend), num_threads=num_threads)
        return lambda inputs: tflite_model(inputs)["probabilities"]
    raise ValueError(f"Unknown backend {backend!r}; choose among {list(BACKENDS)}.")
