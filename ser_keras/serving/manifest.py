"""Predicting a list of clips from a CSV: `path`, `text`, and any other columns.

Paths are relative to the CSV's folder (or absolute); they may be empty for a
text-only model, which reads only `text`. The project's training
manifests (`path,text,label,...`) work as they are; a `label` column is kept,
so the output can be scored.

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

logger = logging.getLogger(__name__)

PATH_COLUMN = "path"
TEXT_COLUMN = "text"
PREDICTION_COLUMN = "predicted_label"


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


def predict_clip_list(recognizer: EmotionRecognizer, rows: Sequence[dict[str, str]]) -> list[dict]:
    """Each row with `predicted_label` and one `p_<label>` column per class added.

    Raises:
        ser_keras.audio.AudioReadError, ServingInputError: for the first bad
            clip; no partial result is returned.

    Example:

    >>> predict_clip_list(recognizer, [{"path": "a.wav", "text": "Hi."}])  # doctest: +SKIP
    [{'path': 'a.wav', 'text': 'Hi.', 'predicted_label': 'happy', 'p_angry': 0.01, ...}]
    """
    results = []
    for row in rows:
        prediction = recognizer.predict(row[PATH_COLUMN] or None, row.get(TEXT_COLUMN) or "")
        probabilities = {f"p_{name}": p for name, p in prediction.probabilities.items()}
        results.append({**row, PREDICTION_COLUMN: prediction.label, **probabilities})
    if results and "label" in results[0]:
        correct = sum(result["label"] == result[PREDICTION_COLUMN] for result in results)
        logger.info("Accuracy on the manifest's labels: %d/%d (%.1f%%).",
                    correct, len(results), 100.0 * correct / len(results))
    return results
