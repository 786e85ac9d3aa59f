"""Scoring exported models (SavedModel or TFLite) on a dataset's validation and test splits.

Each model goes through `ser_keras.serving.EmotionRecognizer`, exactly as it is
served (raw waveform and transcript in), and gets a Table II row: validation
and test BACC/ACC/MF1/WF1 and the median batch-1 latency. A speaker-normalised
model gets each speaker's statistics by the rule its job used
(`ser_keras.serving.speakers`), per split; its enrolment clips are not scored.
(With the transductive `all-clips` rule the job pools a speaker's clips of
every split, and this pools those of the scored split only: the same when
every speaker is in one split, as in speaker-independent splits.)

Example:

>>> results = evaluate_exported(["saved_models/demo/export/teacher"], splits)  # doctest: +SKIP
>>> results[0].test["acc"]  # doctest: +SKIP
0.55
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import keras

from ser_keras.data import Splits
from ser_keras.data.errors import DatasetError
from ser_keras.latency import measure_latency
from ser_keras.reporting import ModelResult
from ser_keras.serving.speakers import ServedClip, SpeakerEnrolment
from ser_keras.training import classification_metrics

logger = logging.getLogger(__name__)


def servable_items(items: Sequence, modalities: Sequence[str]) -> list:
    """The items a served model can read: those with audio for a model that reads audio,
    those with a transcript for a text-only model.

    Example:

    >>> len(servable_items(splits.test, ("text",)))  # doctest: +SKIP
    144
    """
    if "audio" in modalities:
        return [item for item in items if item.has_audio]
    return [item for item in items if (item.text or "").strip()]


def _predict(recognizer, item, speakers: SpeakerEnrolment):
    return recognizer.predict(
        item.audio_path if item.has_audio else None, item.text or "", speaker_statistics=speakers.statistics_of(item.speaker)
    )


def split_enrolment(recognizer, items: Sequence) -> SpeakerEnrolment:
    """The speakers' statistics of one split for `recognizer`, drawn by its job's rule (empty without one).

    Example:

    >>> split_enrolment(recognizer, splits.test).enrolment  # doctest: +SKIP
    frozenset({'spk1_000', ...})
    """
    if recognizer.speaker_normalization is None:
        return SpeakerEnrolment()
    return SpeakerEnrolment.of(recognizer, [ServedClip(i.utterance_id, i.speaker, i.audio_path) for i in items])


def _scores(recognizer, items: Sequence, label_names: Sequence[str], speakers: SpeakerEnrolment) -> dict[str, float]:
    items = [item for item in items if item.utterance_id not in speakers.enrolment]
    progress = keras.utils.Progbar(len(items), unit_name="clip")
    y_true, y_pred = [], []
    for item in items:
        prediction = _predict(recognizer, item, speakers)
        y_true.append(list(label_names).index(item.label))
        y_pred.append(prediction.label_id)
        progress.add(1)
    return classification_metrics(y_true, y_pred)


def evaluate_exported(
    model_paths: Sequence[str],
    splits: Splits,
    label_names: Sequence[str],
    latency_runs: int = 50,
) -> list[ModelResult]:
    """Scores each exported model on `splits.validation` and `splits.test`.

    A model trained with speaker normalisation gets each speaker's statistics
    by its job's rule, per split (enrolment clips are not scored), as the job does.

    Args:
        model_paths: export folders, SavedModel folders or `.tflite` files.
        splits: the data; only validation and test are used (the clips each
            model can read: with audio, or with a transcript for a text-only model).
        label_names: the data's label set; it must equal each model's.
        latency_runs: timed batch-1 predictions on test clips (0 to skip).

    Raises:
        DatasetError: when a model's labels differ from the data's.

    Example:

    >>> evaluate_exported(["model.tflite"], splits, DEFAULT_LABELS, latency_runs=10)  # doctest: +SKIP
    """
    from ser_keras.serving import EmotionRecognizer

    results = []
    for path in model_paths:
        recognizer = EmotionRecognizer.load(path)
        validation = servable_items(splits.validation, recognizer.modalities)
        test = servable_items(splits.test, recognizer.modalities)
        if list(recognizer.label_names) != list(label_names):
            raise DatasetError(
                f"Model '{path}' predicts {list(recognizer.label_names)}, but the data's labels "
                f"are {list(label_names)}: evaluate it on data with its label set."
            )
        logger.info("Evaluating %s on %d validation and %d test clips.", path, len(validation), len(test))
        latency = None
        test_speakers = split_enrolment(recognizer, test)  # decoded once, for the latency runs and the scores
        if latency_runs > 0 and test:
            samples = test[: min(len(test), latency_runs)]
            latency = measure_latency(
                lambda item: _predict(recognizer, item, test_speakers).label_id, samples, warmup=3, repeats=latency_runs
            )["median_ms"]
        results.append(
            ModelResult(
                name=os.path.basename(os.path.normpath(path)),
                text_layers=0,
                distilled=False,
                latency_ms=latency,
                validation=_scores(recognizer, validation, label_names, split_enrolment(recognizer, validation)),
                test=_scores(recognizer, test, label_names, test_speakers),
                extra={"path": os.fspath(path)},
            )
        )
    return results
