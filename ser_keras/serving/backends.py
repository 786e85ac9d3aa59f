"""The two runtimes behind `EmotionRecognizer`: a SavedModel and a TFLite bundle.

Both take one 16 kHz mono waveform and its transcript and return class
probabilities; they differ in where tokenization and the log-mel front end run
(in the SavedModel's graph, or in Python before the TFLite interpreter).

Example:

>>> backend = SavedModelBackend("export/ser/1")  # doctest: +SKIP
>>> backend.probabilities(np.zeros(16000, "float32"), "Hello.")  # doctest: +SKIP
array([0.1, 0.2, 0.3, 0.4], dtype=float32)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ser_keras.export.inputs import clip_model_inputs, load_export_preprocessor
from ser_keras.export.layout import (
    RAW_SIGNATURE,
    ModelPathError,
    find_saved_model,
    read_metadata,
    side_files_dir,
)
from ser_keras.export.tflite import TFLiteModel

logger = logging.getLogger(__name__)


class SavedModelBackend:
    """Runs the `serving_default` signature of an exported SavedModel.

    Args:
        path: an export folder (highest version) or a SavedModel version folder.

    Example:

    >>> SavedModelBackend("export/ser").label_names  # doctest: +SKIP
    ['angry', 'happy', 'sad', 'neutral']
    """

    kind = "saved_model"

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        self.path = find_saved_model(path)
        self.label_names: list[str] = read_metadata(side_files_dir(self.path))["label_names"]
        self._signature = tf.saved_model.load(str(self.path)).signatures[RAW_SIGNATURE]
        self._tf = tf
        logger.info("Loaded SavedModel %s.", self.path)

    def probabilities(self, waveform: np.ndarray, text: str) -> np.ndarray:
        """Class probabilities `[C]` for one 16 kHz mono waveform and its transcript."""
        tf = self._tf
        outputs = self._signature(
            text=tf.constant([text]),
            waveform=tf.constant(waveform[np.newaxis], tf.float32),
            waveform_length=tf.constant([waveform.shape[0]], tf.int32),
        )
        return outputs["probabilities"].numpy()[0]


class TFLiteBackend:
    """Runs a `.tflite` file of a bundle written by `tflite_export/convert.py`.

    The bundle folder also holds `metadata.json` and the text `preprocessor/`.

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads (`None`: LiteRT's default).

    Example:

    >>> TFLiteBackend("export/ser/tflite/1/ser_int8.tflite").label_names  # doctest: +SKIP
    ['angry', 'happy', 'sad', 'neutral']
    """

    kind = "tflite"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelPathError(self.path, "no such TFLite file.")
        metadata = read_metadata(self.path.parent)
        self.label_names: list[str] = metadata["label_names"]
        self._max_patches = metadata["max_patches"]
        self._model = TFLiteModel(self.path, num_threads=num_threads)
        self._preprocessor = None
        if "token_ids" in self._model.input_names:
            self._preprocessor = load_export_preprocessor(self.path.parent)
        logger.info("Loaded TFLite model %s.", self.path)

    def probabilities(self, waveform: np.ndarray, text: str) -> np.ndarray:
        """Class probabilities `[C]` for one 16 kHz mono waveform and its transcript."""
        inputs = clip_model_inputs(
            self._preprocessor, waveform, text, self._model.input_names, self._max_patches
        )
        return self._model(inputs)["probabilities"][0]
