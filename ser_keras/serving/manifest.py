"""Predicting a list of clips from a CSV: `path`, `text`, and any other columns.

Paths are relative to the CSV's folder (or absolute); they may be empty for a
text-only model, which reads only `text`. The project's training
manifests (`path,text,label,...`) work as they are; a `label` column is kept,
so the output can be scored.

For a speaker-normalised model, a `speaker` column gives each clip its
speaker's statistics, drawn as the job drew them (`ser_keras.serving.speakers`:
with the default rule, each speaker's first k clips by utterance id, the
`utterance_id` column or else the audio file's stem). Those enrolment clips are
marked in an `enrolment` column (1) and left out of the logged accuracy, as the
job leaves them out of its scores.

Example:

>>> rows = read_clip_list("data/demo/manifest.csv")  # doctest: +SKIP
>>> predictions = predict_clip_list(recognizer, rows)  # doctest: +SKIP
>>> predictions[0]["predicted_label"]  # doctest: +SKIP
'neutral'
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ser_keras.serving.recognizer import EmotionRecognizer, ServingInputError
from ser_keras.serving.speakers import ServedClip, SpeakerEnrolment

logger = logging.getLogger(__name__)

PATH_COLUMN = "path"
TEXT_COLUMN = "text"
PREDICTION_COLUMN = "predicted_label"
SPEAKER_COLUMN = "speaker"
ENROLMENT_COLUMN = "enrolment"


def served_clip(row: dict[str, str]) -> ServedClip:
    """A manifest row as a `ServedClip`: its utterance id is the `utterance_id` column, else the audio file's stem.

    (The training manifests name clips the same way, `ser_keras.data.manifest`.)

    Example:

    >>> served_clip({"path": "/data/s1_a.wav", "speaker": "s1"})
    ServedClip(utterance_id='s1_a', speaker='s1', audio_path='/data/s1_a.wav')
    """
    audio = (row.get(PATH_COLUMN) or "").strip()
    utterance_id = (row.get("utterance_id") or "").strip() or (Path(audio).stem if audio else "")
    return ServedClip(utterance_id, (row.get(SPEAKER_COLUMN) or "").strip() or None, audio or None)


def read_clip_list(path: str | os.PathLike, require_audio: bool = True) -> list[dict[str, str]]:
    """Reads the rows of a clip CSV, resolving `path` against the CSV's folder.

    Args:
        path: the CSV file.
        require_audio: every row needs an audio path (`False` for a text-only
            model: then every row needs a text, and paths may be empty).

    Raises:
        ServingInputError: a missing file, no `path` column, no rows, or a
            row without the audio path (or text) the model needs (the error
            names the line).

    Example:

    >>> read_clip_list("clips.csv")[0]["path"]  # doctest: +SKIP
    '/data/clips/a.wav'
    """
    path = Path(path)
    if not path.is_file():
        raise ServingInputError(f"Manifest '{path}' does not exist.")
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if PATH_COLUMN not in (reader.fieldnames or []):
            raise ServingInputError(
                f"Manifest '{path}' has no '{PATH_COLUMN}' column; its header must name "
                f"'{PATH_COLUMN}' (and optionally '{TEXT_COLUMN}')."
            )
        rows = []
        for row in reader:
            if None in row:
                raise ServingInputError(f"{path}, line {reader.line_num}: the row has more fields than the header.")
            clip = (row[PATH_COLUMN] or "").strip()
            if require_audio and not clip:
                raise ServingInputError(
                    f"{path}, line {reader.line_num}: the model reads audio, and the row has no audio path."
                )
            if not require_audio and not (row.get(TEXT_COLUMN) or "").strip():
                raise ServingInputError(
                    f"{path}, line {reader.line_num}: the model is text-only, and the row has no '{TEXT_COLUMN}'."
                )
            rows.append({**row, PATH_COLUMN: str(path.parent / clip) if clip else ""})
    if not rows:
        raise ServingInputError(f"Manifest '{path}' has no rows.")
    return rows


def predict_clip_list(
    recognizer: EmotionRecognizer, rows: Sequence[dict[str, str]], enrolment_clips: int | None = None
) -> list[dict]:
    """Each row with `predicted_label` and one `p_<label>` column per class added.

    A speaker-normalised model with a `speaker` column also gets an
    `enrolment` column (see the module docstring); `enrolment_clips`
    overrides the model's k.

    Raises:
        ser_keras.audio.AudioReadError, ServingInputError: for the first bad
            clip; no partial result is returned.

    Example:

    >>> predict_clip_list(recognizer, [{"path": "a.wav", "text": "Hi."}])  # doctest: +SKIP
    [{'path': 'a.wav', 'text': 'Hi.', 'predicted_label': 'happy', 'p_angry': 0.01, ...}]
    """
    by_speaker = bool(rows) and SPEAKER_COLUMN in rows[0] and recognizer.speaker_normalization is not None
    clips = [served_clip(row) for row in rows]
    speakers = SpeakerEnrolment.of(recognizer, clips, enrolment_clips) if by_speaker else SpeakerEnrolment()
    results = []
    for row, clip in zip(rows, clips, strict=True):
        prediction = recognizer.predict(
            row[PATH_COLUMN] or None, row.get(TEXT_COLUMN) or "", speaker_statistics=speakers.statistics_of(clip.speaker)
        )
        probabilities = {f"p_{name}": p for name, p in prediction.probabilities.items()}
        enrolment = {ENROLMENT_COLUMN: int(clip.utterance_id in speakers.enrolment)} if by_speaker else {}
        results.append({**row, PREDICTION_COLUMN: prediction.label, **enrolment, **probabilities})
    scored = [result for result in results if not result.get(ENROLMENT_COLUMN)]
    if scored and "label" in scored[0]:
        correct = sum(result["label"] == result[PREDICTION_COLUMN] for result in scored)
        logger.info("Accuracy on the manifest's labels: %d/%d (%.1f%%)%s.",
                    correct, len(scored), 100.0 * correct / len(scored),
                    f", {len(results) - len(scored)} enrolment clips left out" if len(scored) < len(results) else "")
    return results
