"""Reading a generic manifest CSV: `path,text,label[,speaker][,split][,utterance_id]`.

Any corpus can be used through a manifest, one clip per row:

* `path`: the audio file, relative to the CSV's folder (or absolute); empty for
  text-only rows (text-only ablations).
* `text`: the transcript; may be empty (audio-only data).
* `label`: the emotion; mapped through `label_map` and checked against the label set.
* `speaker`, `split` ("train", "validation" or "test"; "val", "valid" and "dev"
  also mean validation), `utterance_id`: optional columns. `utterance_id`
  defaults to the audio file's stem; split files refer to it.

Malformed rows raise a `DatasetError` naming the line and the field. Rows whose
audio file is missing are skipped and listed in the skip report (strict mode:
raise). Corrupt or empty audio is found when the clip is decoded, by the input
pipeline or the encoder cache.

Example:

>>> corpus = read_manifest("data/demo/manifest.csv")  # doctest: +SKIP
>>> corpus.counts("split")  # doctest: +SKIP
{'test': 200, 'train': 640, 'validation': 160}
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Corpus, Utterance
from ser_keras.data.skip_report import SkipReport
from ser_keras.data.splits import normalize_split_name
from ser_keras.labels import DEFAULT_LABELS, label_order

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = ("path", "text", "label")
OPTIONAL_COLUMNS: tuple[str, ...] = ("speaker", "split", "utterance_id")


def read_manifest(
    path: str | os.PathLike,
    *,
    label_names: Sequence[str] | None = DEFAULT_LABELS,
    label_map: Mapping[str, str] | None = None,
    strict: bool = False,
) -> Corpus:
    """Reads a manifest CSV into a corpus.

    Args:
        path: the CSV file (UTF-8, header row first).
        label_names: the label set (its order gives the class ids); `None`:
            the labels the manifest uses, in `ser_keras.labels.label_order`.
        label_map: optional renaming of manifest labels before the check,
            e.g. `{"exc": "happy", "ang": "angry"}`.
        strict: raise on a missing audio file instead of skipping the row.

    Returns:
        A `Corpus` of the rows, in file order.

    Raises:
        DatasetError: for a missing file or column, a row with too many or too
            few fields, an empty label, a row with neither audio nor text, a
            text-only row without `utterance_id`, a duplicate utterance id, a
            bad split name, or labels outside the label set (all of them are
            listed with their lines).

    Example:

    >>> corpus = read_manifest(
    ...     "my_corpus/manifest.csv", label_map={"exc": "happy"})  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Manifest '{path}' does not exist.")
    label_map = dict(label_map or {})
    if label_names is None:
        label_names = _labels_used(path, label_map)
    label_names = tuple(label_names)
    report = SkipReport(strict=strict)
    utterances: list[Utterance] = []
    first_line_of_id: dict[str, int] = {}
    unknown_labels: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8-sig") as csv_file:
        reader = csv.DictReader(csv_file)
        _check_header(path, reader.fieldnames)
        for row in reader:
            line = reader.line_num
            utterance = _parse_row(path, line, row, label_map)
            if utterance.label not in label_names:
                unknown_labels.setdefault(utterance.label, []).append(line)
                continue
            if utterance.utterance_id in first_line_of_id:
                raise DatasetError(
                    f"{path}, line {line}: utterance_id '{utterance.utterance_id}' is already "
                    f"used on line {first_line_of_id[utterance.utterance_id]}; ids must be unique "
                    "(set the 'utterance_id' column when two files share a name)."
                )
            first_line_of_id[utterance.utterance_id] = line
            if utterance.has_audio and not utterance.audio_file_exists():
                report.skip(utterance.utterance_id, "missing audio file", utterance.audio_path)
                continue
            utterances.append(utterance)
    if unknown_labels:
        listing = "; ".join(
            f"'{label}' (lines {_lines(lines)})" for label, lines in unknown_labels.items()
        )
        raise DatasetError(
            f"{path}: labels not in the label set {list(label_names)}: {listing}. "
            "Correct or remove those rows, add the labels to --labels, or merge them into a listed class "
            "with --label-map old=new."
        )
    corpus = Corpus(utterances, label_names, report)
    logger.info(
        "Manifest %s: %d utterances; per class: %s", path, len(corpus), corpus.counts("label")
    )
    if len(report):
        logger.warning("Manifest %s: %s", path, report.summary(total=len(first_line_of_id)))
    return corpus


def _labels_used(path: Path, label_map: Mapping[str, str]) -> tuple[str, ...]:
    """The (mapped) labels of the manifest's rows, in `label_order`."""
    with open(path, newline="", encoding="utf-8-sig") as csv_file:
        reader = csv.DictReader(csv_file)
        _check_header(path, reader.fieldnames)
        labels = {(row.get("label") or "").strip() for row in reader}
    return label_order(label_map.get(label, label) for label in labels if label)


def _check_header(path: Path, fieldnames: Sequence[str] | None) -> None:
    expected = ",".join(REQUIRED_COLUMNS) + "[," + "][,".join(OPTIONAL_COLUMNS) + "]"
    if not fieldnames:
        raise DatasetError(
            f"Manifest '{path}' is empty; its first line must be the header {expected}."
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in fieldnames]
    if missing:
        raise DatasetError(
            f"Manifest '{path}' lacks the column(s) {missing}; its header is "
            f"{','.join(fieldnames)} but must be {expected}."
        )
    extra = [column for column in fieldnames if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if extra:
        logger.warning("Manifest %s: ignoring unknown column(s) %s.", path, extra)


def _parse_row(path: Path, line: int, row: dict, label_map: Mapping[str, str]) -> Utterance:
    where = f"{path}, line {line}"
    if None in row:
        raise DatasetError(
            f"{where}: the row has more fields than the header; quote fields holding commas."
        )
    absent = [column for column, value in row.items() if value is None]
    if absent:
        raise DatasetError(
            f"{where}: the row lacks the field(s) {absent}; every row needs all header fields."
        )
    label = row["label"].strip()
    if not label:
        raise DatasetError(f"{where}: the 'label' field is empty.")
    audio = row["path"].strip()
    text = row["text"].strip()
    if not audio and not text:
        raise DatasetError(
            f"{where}: both 'path' and 'text' are empty; a row needs audio, text or both."
        )
    utterance_id = (row.get("utterance_id") or "").strip() or (Path(audio).stem if audio else "")
    if not utterance_id:
        raise DatasetError(f"{where}: a text-only row (empty 'path') needs an 'utterance_id'.")
    try:
        split = normalize_split_name(row.get("split") or "")
    except ValueError as error:
        raise DatasetError(f"{where}: field 'split': {error}") from error
    return Utterance(
        utterance_id=utterance_id,
        text=text,
        label=label_map.get(label, label),
        audio_path=os.path.normpath(path.parent / audio) if audio else None,
        speaker=(row.get("speaker") or "").strip() or None,
        split=split,
    )


def _lines(lines: list[int], shown: int = 10) -> str:
    listed = ", ".join(str(line) for line in lines[:shown])
    return listed + (f" and {len(lines) - shown} more" if len(lines) > shown else "")
