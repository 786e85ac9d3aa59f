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

from ser_keras.data.speaker_norm import BandStatistics, normalize_patches
from ser_keras.export.inputs import clip_model_inputs, load_export_preprocessor
from ser_keras.export.layout import (
    RAW_SIGNATURE,
    SPEAKER_NORMALIZATION_KEY,
    TOKENS_SIGNATURE,
    ModelPathError,
    find_saved_model,
    read_metadata,
    side_files_dir,
)
from ser_keras.export.tflite import TFLiteModel

logger = logging.getLogger(__name__)


def speaker_reference(metadata: dict) -> BandStatistics | None:
    """The training set's band statistics of a speaker-normalised model (`None`: trained without).

    Example:

    >>> speaker_reference({"speaker_normalization": None}) is None
    True
    """
    entry = metadata.get(SPEAKER_NORMALIZATION_KEY)
    return None if not entry else BandStatistics.from_dict(entry["reference"])


#: Models already warned about missing speaker statistics (once per model and process).
_WARNED_WITHOUT_SPEAKER: set[str] = set()


def normalized_for_speaker(
    inputs: dict[str, np.ndarray], speaker: BandStatistics | None, reference: BandStatistics | None, path
) -> dict[str, np.ndarray]:
    """`inputs` with its audio patches speaker-normalised (unchanged without `speaker`).

    Raises:
        ValueError: `speaker` statistics for a model trained without speaker normalisation.

    Example:

    >>> normalized_for_speaker({"audio_patches": np.zeros([1, 1, 96, 64])}, None, None, "m")["audio_patches"].shape
    (1, 1, 96, 64)
    """
    if speaker is None:
        if reference is not None and str(path) not in _WARNED_WITHOUT_SPEAKER:
            _WARNED_WITHOUT_SPEAKER.add(str(path))
            logger.warning(
                "%s was trained on speaker-normalised audio: pass the speaker's statistics "
                "(EmotionRecognizer.speaker_statistics) for the accuracy it was trained for.", path,
            )
        return inputs
    if reference is None:
        raise ValueError(
            f"{path} was trained without speaker normalisation: call it without speaker statistics."
        )
    if "audio_patches" not in inputs:
        return inputs
    return {**inputs, "audio_patches": normalize_patches(inputs["audio_patches"], speaker, reference)}


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
        metadata = read_metadata(side_files_dir(self.path))
        self.label_names: list[str] = metadata["label_names"]
        self.input_names: list[str] = list(metadata["input_names"])
        self.speaker_reference = speaker_reference(metadata)
        self.metadata = metadata
        signatures = tf.saved_model.load(str(self.path)).signatures
        self._signature, self._tokens_signature = signatures[RAW_SIGNATURE], signatures[TOKENS_SIGNATURE]
        self._preprocessor = None
        self._tf = tf
        logger.info("Loaded SavedModel %s.", self.path)

    def probabilities(
        self, waveform: np.ndarray, text: str, speaker_statistics: BandStatistics | None = None
    ) -> np.ndarray:
        """Class probabilities `[C]` for one 16 kHz mono waveform and its transcript.

        With `speaker_statistics` the front end and tokenizer run in Python and
        the normalised patches go through the `serving_tokens` signature.
        """
        tf = self._tf
        if speaker_statistics is not None or self.speaker_reference is not None:
            input_names = self.metadata["input_names"]
            if self._preprocessor is None and "token_ids" in input_names:
                self._preprocessor = load_export_preprocessor(side_files_dir(self.path))
            inputs = normalized_for_speaker(
                clip_model_inputs(self._preprocessor, waveform, text, input_names, self.metadata["max_patches"]),
                speaker_statistics, self.speaker_reference, self.path,
            )
            outputs = self._tokens_signature(**{name: tf.constant(value) for name, value in inputs.items()})
            return outputs["probabilities"].numpy()[0]
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
        self.speaker_reference = speaker_reference(metadata)
        self.metadata = metadata
        self._model = TFLiteModel(self.path, num_threads=num_threads)
        self.input_names: list[str] = list(self._model.input_names)
        self._preprocessor = None
        if "token_ids" in self._model.input_names:
            self._preprocessor = load_export_preprocessor(self.path.parent)
        logger.info("Loaded TFLite model %s.", self.path)

    def probabilities(
        self, waveform: np.ndarray, text: str, speaker_statistics: BandStatistics | None = None
    ) -> np.ndarray:
        """Class probabilities `[C]` for one 16 kHz mono waveform and its transcript."""
        inputs = normalized_for_speaker(
            clip_model_inputs(self._preprocessor, waveform, text, self._model.input_names, self._max_patches),
            speaker_statistics, self.speaker_reference, self.path,
        )
        return self._model(inputs)["probabilities"][0]
