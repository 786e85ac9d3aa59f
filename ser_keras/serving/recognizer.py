"""`EmotionRecognizer`: one call from an audio clip and its transcript to an emotion.

Example:

>>> from ser_keras.serving import EmotionRecognizer
>>> recognizer = EmotionRecognizer.load("saved_models/demo/export/student")  # doctest: +SKIP
>>> prediction = recognizer.predict("clip.wav", text="I can't believe it!")  # doctest: +SKIP
>>> prediction.label, round(prediction.probabilities["angry"], 2)  # doctest: +SKIP
('angry', 0.91)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr

from ser_keras.audio import load_audio, params, waveform_to_examples
from ser_keras.data.speaker_norm import BandStatistics
from ser_keras.export.layout import SPEAKER_NORMALIZATION_KEY, TFLITE_SUFFIX, ModelPathError, is_saved_model
from ser_keras.serving.backends import SavedModelBackend, TFLiteBackend

logger = logging.getLogger(__name__)

#: What a text-only model gets in place of audio (its signature still takes a waveform).
_NO_AUDIO = np.zeros(1, np.float32)


class ServingInputError(ValueError):
    """Audio or text that cannot be classified (empty, NaN samples, wrong rank, ...).

    Example:

    >>> str(ServingInputError("The audio is empty."))
    'The audio is empty.'
    """


class Backend(Protocol):
    """What a runtime provides: label names and probabilities for one clip."""

    kind: str
    label_names: list[str]
    input_names: list[str]
    metadata: dict

    def probabilities(
        self, waveform: np.ndarray, text: str, speaker_statistics: BandStatistics | None = None
    ) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The emotion of one clip.

    Attributes:
        label: the most probable class.
        label_id: its index in the label set.
        probabilities: every class's probability, in label-set order.

    Example:

    >>> Prediction("sad", 2, {"angry": 0.1, "happy": 0.1, "sad": 0.7, "neutral": 0.1}).to_dict()["label"]
    'sad'
    """

    label: str
    label_id: int
    probabilities: dict[str, float]

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def to_waveform(audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
    """Reads or checks audio and returns a finite, non-empty 16 kHz mono float32 waveform.

    Args:
        audio: an audio file, or samples `[samples]` or `[samples, channels]`
            (channels are averaged).
        sample_rate: the rate of `audio` when it is an array (required then);
            ignored for files (their header tells).

    Raises:
        ser_keras.audio.AudioReadError: the file is missing, undecodable, empty
            or holds NaN samples.
        ServingInputError: an array of the wrong rank, empty, with NaN/Inf
            samples, or without a valid sample rate.

    Example:

    >>> to_waveform(np.zeros([44100, 2]), sample_rate=44100).shape
    (16000,)
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio)
    waveform = np.asarray(audio)
    if not np.issubdtype(waveform.dtype, np.number) or np.issubdtype(waveform.dtype, np.complexfloating):
        raise ServingInputError(f"Audio samples must be real numbers; got dtype {waveform.dtype}.")
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    elif waveform.ndim != 1:
        raise ServingInputError(
            f"Audio must have shape [samples] or [samples, channels]; got shape {waveform.shape}."
        )
    if waveform.size == 0:
        raise ServingInputError("The audio is empty: there are no samples to classify.")
    if not np.all(np.isfinite(waveform)):
        raise ServingInputError("The audio contains NaN or infinite samples.")
    if sample_rate is None or isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ServingInputError(
            f"Pass the sample rate of array audio as a positive integer (Hz); got {sample_rate!r}."
        )
    waveform = waveform.astype(np.float32)
    if sample_rate != params.SAMPLE_RATE:
        waveform = soxr.resample(waveform, int(sample_rate), params.SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(waveform, dtype=np.float32)


class EmotionRecognizer:
    """Classifies the emotion of speech from its audio and transcript.

    Load it with `EmotionRecognizer.load`, from an exported SavedModel or a
    TFLite bundle; both give the same `Prediction`s (up to quantization).

    Args:
        backend: a `SavedModelBackend` or `TFLiteBackend`.

    Example:

    >>> recognizer = EmotionRecognizer.load("export/ser/tflite/1/ser_dynamic.tflite")  # doctest: +SKIP
    >>> recognizer.predict(samples, text="Fine.", sample_rate=44100).label  # doctest: +SKIP
    'neutral'
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        self._warned_without_text = False

    @classmethod
    def load(cls, path: str | os.PathLike, num_threads: int | None = None) -> EmotionRecognizer:
        """Loads an export folder, a SavedModel version folder, or a `.tflite` file of a bundle.

        Args:
            path: what `ser_keras.export.export_model` or
                `tflite_export/convert.py` wrote.
            num_threads: TFLite interpreter threads (ignored for SavedModels).

        Raises:
            ModelPathError: the path does not exist or is none of these.

        Example:

        >>> EmotionRecognizer.load("export/ser").backend.kind  # doctest: +SKIP
        'saved_model'
        """
        path = Path(path)
        if not path.exists():
            raise ModelPathError(path, "no such file or folder.")
        if path.suffix == TFLITE_SUFFIX:
            return cls(TFLiteBackend(path, num_threads=num_threads))
        tflite_files = sorted(path.glob(f"*{TFLITE_SUFFIX}")) if path.is_dir() else []
        if tflite_files and not is_saved_model(path):
            raise ModelPathError(
                path,
                "a TFLite bundle folder: pass one of its model files, "
                f"{', '.join(str(file) for file in tflite_files)}.",
            )
        if path.is_dir():
            return cls(SavedModelBackend(path))
        raise ModelPathError(
            path, "expected an export folder, a SavedModel folder or a .tflite file."
        )

    @property
    def label_names(self) -> list[str]:
        """The class names, in model order."""
        return list(self.backend.label_names)

    @property
    def modalities(self) -> tuple[str, ...]:
        """What the model reads: `("text", "audio")`, `("text",)` or `("audio",)`.

        Example:

        >>> recognizer.modalities  # doctest: +SKIP
        ('text', 'audio')
        """
        names = self.backend.input_names
        return tuple(
            modality for modality, name in (("text", "token_ids"), ("audio", "audio_patches")) if name in names
        )

    def predict(
        self,
        audio: str | os.PathLike | np.ndarray | None,
        text: str = "",
        sample_rate: int | None = None,
        speaker_statistics: BandStatistics | None = None,
    ) -> Prediction:
        """Predicts the emotion of one clip.

        Args:
            audio: an audio file, or samples (`[samples]` or `[samples, channels]`);
                `None` for a text-only model (which ignores audio).
            text: the transcript ("" when there is none; a multimodal model then
                relies on the audio, and says so once).
            sample_rate: the rate of array audio, in Hz (resampled to 16 kHz).
            speaker_statistics: for a model trained with `--speaker-normalization`,
                the speaker's band statistics (`EmotionRecognizer.speaker_statistics`);
                the clip's log-mel patches are normalised with them.

        Raises:
            ser_keras.audio.AudioReadError, ServingInputError: see `to_waveform`;
                also for a `text` that is not a string, no audio for a model
                that reads audio, or no text for a text-only model.
            ValueError: `speaker_statistics` for a model trained without speaker normalisation.

        Example:

        >>> recognizer.predict("clip.wav", "Oh no.").probabilities  # doctest: +SKIP
        {'angry': 0.05, 'happy': 0.02, 'sad': 0.88, 'neutral': 0.05}
        """
        if not isinstance(text, str):
            raise ServingInputError(f"`text` must be a string (\"\" for none); got {type(text).__name__}.")
        return self._prediction(
            self.backend.probabilities(self._waveform(audio, sample_rate), self._text(text), speaker_statistics)
        )

    def _waveform(self, audio, sample_rate: int | None) -> np.ndarray:
        if "audio" not in self.modalities:
            return _NO_AUDIO
        if audio is None:
            raise ServingInputError(
                f"This model reads audio ({' + '.join(self.modalities)}): give an audio clip."
            )
        return to_waveform(audio, sample_rate)

    def _text(self, text: str) -> str:
        if text.strip() or "text" not in self.modalities:
            return text
        if "audio" not in self.modalities:
            raise ServingInputError("This is a text-only model: give the clip's transcript (--text).")
        if not self._warned_without_text:
            self._warned_without_text = True
            logger.warning(
                "This multimodal model got a clip without a transcript: it predicts from the audio "
                "and an empty text, which is less accurate than it was trained for; an audio-only "
                "model suits clips without transcripts."
            )
        return text

    @property
    def speaker_normalization(self) -> dict | None:
        """How the model was speaker-normalised (the export metadata's entry), `None` if it was not.

        Its `"statistics"` (`"enrolment"` or `"all-clips"`) and
        `"enrolment_clips"` say which clips of a speaker give its statistics
        (`ser_keras.data.enrolment`); `"how"` says it in words.

        Example:

        >>> recognizer.speaker_normalization["enrolment_clips"]  # doctest: +SKIP
        5
        """
        return self.backend.metadata.get(SPEAKER_NORMALIZATION_KEY)

    @property
    def max_patches(self) -> int | None:
        """The cap on 0.96 s audio patches per clip that the model was exported with."""
        return self.backend.metadata.get("max_patches", params.DEFAULT_MAX_PATCHES)

    @staticmethod
    def speaker_statistics(
        clips: Sequence[str | os.PathLike | np.ndarray],
        sample_rate: int | None = None,
        max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    ) -> BandStatistics:
        """The band statistics of one speaker, from some of that speaker's clips (no labels needed).

        Args:
            clips: audio files or sample arrays of the speaker, in the
                enrolment order (`ser_keras.data.enrolment`).
            sample_rate: the rate of array clips.
            max_patches: the model's cap on patches per clip
                (`recognizer.max_patches`), as the job computed them.

        Example:

        >>> stats = EmotionRecognizer.speaker_statistics(["s1_a.wav", "s1_b.wav"])  # doctest: +SKIP
        >>> recognizer.predict("s1_c.wav", "Fine.", speaker_statistics=stats)  # doctest: +SKIP
        """
        if not clips:
            raise ServingInputError("Pass at least one clip of the speaker to compute its statistics.")
        return BandStatistics.of(
            [np.asarray(waveform_to_examples(to_waveform(clip, sample_rate), max_patches=max_patches)) for clip in clips]
        )

    def _prediction(self, probabilities: np.ndarray) -> Prediction:
        label_id = int(np.argmax(probabilities))
        return Prediction(
            label=self.label_names[label_id],
            label_id=label_id,
            probabilities={name: float(p) for name, p in zip(self.label_names, probabilities, strict=True)},
        )
