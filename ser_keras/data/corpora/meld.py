"""MELD (Poria et al. 2019, GPL-3.0): its three CSV files, read as a text-only corpus.

The Multimodal EmotionLines Dataset: utterances of dialogues from the TV series
Friends, each labelled with one of 7 emotions. Its public repository
(github.com/declare-lab/MELD, folder `data/MELD/`) keeps the transcripts and
labels in one CSV per split of the standard split; `--data-dir` is the folder
holding the three files. Measured on the files of that repository (commit
2d2011b):

| file | job split | utterances | dialogues | speaker names |
|---|---|---|---|---|
| `train_sent_emo.csv` | train | 9,989 | 1,038 | 260 |
| `dev_sent_emo.csv` | validation | 1,109 | 114 | 47 |
| `test_sent_emo.csv` | test | 2,610 | 280 | 100 |

Per class (train / dev / test): neutral 4,710 / 470 / 1,256, surprise
1,205 / 150 / 281, fear 268 / 40 / 50, sadness 683 / 111 / 208, joy
1,743 / 163 / 402, disgust 271 / 22 / 68, anger 1,109 / 153 / 345. The 4-class
subset keeps 8,245 / 897 / 2,211 utterances.

Columns (header `Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,
Utterance_ID,Season,Episode,StartTime,EndTime`): the reader uses `Utterance`
(the text), `Speaker`, `Emotion`, `Dialogue_ID` and `Utterance_ID`, and ignores
the others (`Sentiment` included).

* Utterance ids are `<file prefix>_dia<Dialogue_ID>_utt<Utterance_ID>`, e.g.
  `train_dia0_utt0`, `dev_dia0_utt0`, `test_dia0_utt0`: MELD's own clip name
  (its videos are `dia0_utt0.mp4`), prefixed by the file, since every split
  counts its dialogues from 0.
* Speakers are the `Speaker` names ("Chandler", "The Interviewer"). MELD's
  split is by dialogue, not by speaker: the six main characters speak in all
  three splits.
* The split: each utterance's `split` field is its file's split (dev is the
  job's validation split), so `--split auto` takes MELD's standard split as it
  takes a manifest's split column; `--split paper` or `--split-file` give
  another one.
* No audio: every utterance is text-only (`audio_path` is `None`; MELD's audio
  is inside its videos, which this reader does not read). Run the job with
  `--modality text`.
* Text: the files are UTF-8 (curly quotes, ellipses and dashes are kept as
  they are); the text is stripped of surrounding spaces, and UTF-8 that was
  decoded as Latin-1 or Windows-1252 on the way (mojibake such as "Iâ€™m",
  found in copies of MELD passed through other tools) is repaired
  (`repair_mojibake`).

Labels (`MELD_LABELS`, class-id order = the label indices of MELD's README):
neutral, surprise, fear, sadness, joy, disgust, anger. The full set keeps
MELD's own names, so that results read as the MELD literature's (rename them
with `--label-map`). The 4-class subset (`--label-subset 4class`) is the
project's angry, happy, sad, neutral in that order: anger -> angry,
joy -> happy, sadness -> sad, neutral -> neutral; surprise, fear and disgust
are dropped (counted in the log).

Errors (`DatasetError`, naming the file and what to do): a missing folder or
CSV, a file that is not UTF-8, a missing column, a row with too many or too
few fields, a `Dialogue_ID` or `Utterance_ID` that is not a whole number, an
emotion that is not one of MELD's 7 (all such rows are listed), a file with no
usable utterance. A row with an
empty `Utterance` or a repeated id is listed in the skip report instead
(strict mode: an error); the real files have neither.

Example:

>>> meld_label_set("4class")
('angry', 'happy', 'sad', 'neutral')
>>> meld_utterance_id("validation", "12", "3")
'dev_dia12_utt3'
>>> corpus = read_meld("MELD/data/MELD")  # doctest: +SKIP
>>> corpus.counts("split")  # doctest: +SKIP
{'test': 2610, 'train': 9989, 'validation': 1109}
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import logging
import os
import re
from collections.abc import Mapping

from ser_keras.data.corpora.base import is_duplicate, subset_labels
from ser_keras.data.errors import DatasetError
from ser_keras.data.records import SPLIT_NAMES, Corpus, Utterance
from ser_keras.data.skip_report import SkipReport

logger = logging.getLogger(__name__)

#: The registry name (what `--dataset` takes).
MELD_NAME = "meld"

#: MELD's 7 emotions in class-id order (the label indices of MELD's README).
MELD_LABELS: tuple[str, ...] = (
    "neutral",
    "surprise",
    "fear",
    "sadness",
    "joy",
    "disgust",
    "anger",
)

#: The 4-class subset: MELD emotion -> the project's name (`FOUR_CLASS_LABELS`).
MELD_FOUR_CLASS: dict[str, str] = {
    "anger": "angry",
    "joy": "happy",
    "sadness": "sad",
    "neutral": "neutral",
}

#: Job split -> MELD's file of it.
MELD_FILES: dict[str, str] = {
    "train": "train_sent_emo.csv",
    "validation": "dev_sent_emo.csv",
    "test": "test_sent_emo.csv",
}

#: The header of MELD's CSVs.
MELD_COLUMNS: tuple[str, ...] = (
    "Sr No.",
    "Utterance",
    "Speaker",
    "Emotion",
    "Sentiment",
    "Dialogue_ID",
    "Utterance_ID",
    "Season",
    "Episode",
    "StartTime",
    "EndTime",
)

#: The columns the reader needs.
MELD_REQUIRED_COLUMNS: tuple[str, ...] = (
    "Utterance",
    "Speaker",
    "Emotion",
    "Dialogue_ID",
    "Utterance_ID",
)

_LISTED = 10
_WHOLE_NUMBER = re.compile(r"\d+")


def _mojibake_pattern() -> tuple[re.Pattern[str], dict[str, int]]:
    """The pattern of a misread UTF-8 sequence, and the byte each of its characters stands for.

    Only the sequences of Latin-1 letters and signs (lead byte C2 or C3, read
    as "Â" or "Ã"), of punctuation and symbols U+2000-U+2FFF (E2, "â") and
    of emoji (F0, "ð"): other lead bytes read as accented letters ("É…",
    "é’’") that real text may hold.
    """
    byte_of: dict[str, int] = {}
    for byte in range(0x80, 0x100):
        byte_of[chr(byte)] = byte  # Latin-1 (and Windows-1252's undefined bytes, as other tools do)
        try:
            byte_of.setdefault(bytes([byte]).decode("cp1252"), byte)
        except UnicodeDecodeError:
            pass
    follow = "".join(re.escape(char) for char, byte in byte_of.items() if 0x80 <= byte <= 0xBF)
    follow = f"[{follow}]"
    pattern = re.compile(f"[\u00c2\u00c3]{follow}|\u00e2{follow}{{2}}|\u00f0{follow}{{3}}")
    return pattern, byte_of


_MOJIBAKE, _BYTE_OF = _mojibake_pattern()


def _decoded(found: re.Match[str]) -> str:
    try:
        return bytes(_BYTE_OF[char] for char in found.group()).decode("utf-8")
    except UnicodeDecodeError:
        return found.group()


def repair_mojibake(text: str) -> str:
    """`text` with UTF-8 sequences that were decoded as Latin-1 or Windows-1252 decoded again.

    Only a whole UTF-8 sequence of a Latin-1 letter or sign ("Ã©" for "é"),
    of punctuation or a symbol ("â€™" for "’") or of an emoji is replaced,
    and only when it decodes, so ordinary non-ASCII text ("JOSÉ…", "café",
    "’") is left alone.

    Example:

    >>> repair_mojibake("You mustâ\\x80\\x99ve had your hands full.")
    'You must’ve had your hands full.'
    >>> repair_mojibake("Iâ€™m fine â€” really, cafÃ© JOSÉ’S.")
    'I’m fine — really, café JOSÉ’S.'
    """
    return _MOJIBAKE.sub(_decoded, text)


def meld_label_set(label_subset: str = "full") -> tuple[str, ...]:
    """MELD's label names for a subset, in class-id order.

    Args:
        label_subset: "full" (`MELD_LABELS`, MELD's own names) or "4class"
            (angry, happy, sad, neutral: `MELD_FOUR_CLASS`).

    Raises:
        DatasetError: for another subset name.

    Example:

    >>> meld_label_set()
    ('neutral', 'surprise', 'fear', 'sadness', 'joy', 'disgust', 'anger')
    """
    return subset_labels(MELD_LABELS, label_subset)


def meld_utterance_id(split: str, dialogue_id: str, utterance_id: str) -> str:
    """The corpus-wide id of a MELD utterance: `<file prefix>_dia<D>_utt<U>`.

    Args:
        split: the job split of its file ("train", "validation" or "test").
        dialogue_id: the row's `Dialogue_ID`.
        utterance_id: the row's `Utterance_ID`.

    Example:

    >>> meld_utterance_id("test", "7", "0")
    'test_dia7_utt0'
    """
    prefix = MELD_FILES[split].split("_", 1)[0]
    return f"{prefix}_dia{dialogue_id}_utt{utterance_id}"


def read_meld(
    data_dir: str | os.PathLike,
    label_subset: str = "full",
    *,
    strict: bool = False,
) -> Corpus:
    """Reads MELD's three CSVs into a text-only corpus with its standard split.

    Args:
        data_dir: the folder holding `train_sent_emo.csv`, `dev_sent_emo.csv`
            and `test_sent_emo.csv` (`data/MELD/` of its repository).
        label_subset: "full" (MELD's 7 emotions) or "4class" (angry, happy,
            sad, neutral; see the module docstring for the mapping).
        strict: raise a `DatasetError` for a row with an empty text or a
            repeated id instead of listing it in the skip report.

    Returns:
        The `Corpus`: train rows, then dev, then test, each in file order;
        every utterance has its text, label, speaker and `split`, and no audio.

    Raises:
        DatasetError: for a bad subset, a missing folder or file, a file that
            is not UTF-8, a missing column, a malformed row, an emotion outside
            MELD's 7, a file without a usable utterance (every split is
            needed), or (strict mode) a skipped row.

    Example:

    >>> corpus = read_meld("MELD/data/MELD", "4class")  # doctest: +SKIP
    >>> corpus.counts("label")  # doctest: +SKIP
    {'angry': 1607, 'happy': 2308, 'sad': 1002, 'neutral': 6436}
    """
    labels = meld_label_set(label_subset)
    paths = _meld_paths(data_dir)
    report = SkipReport(strict=strict)
    utterances: list[Utterance] = []
    first_row: dict[str, str] = {}
    dropped: collections.Counter[str] = collections.Counter()
    rows = 0
    for split, path in paths.items():
        unknown: dict[str, list[int]] = {}
        for line, row in _meld_rows(path):
            rows += 1
            utterance = _utterance(path, line, row, split)
            if utterance.label not in MELD_LABELS:
                unknown.setdefault(utterance.label, []).append(line)
                continue
            label = utterance.label if label_subset == "full" else MELD_FOUR_CLASS.get(utterance.label)
            if label is None:
                dropped[utterance.label] += 1
                continue
            where = f"{os.path.basename(path)}, line {line}"
            if not utterance.text:
                report.skip(utterance.utterance_id, "empty utterance", path, f"{where}: 'Utterance' is empty")
                continue
            if is_duplicate(report, first_row, utterance.utterance_id, where, path):
                continue
            utterances.append(dataclasses.replace(utterance, label=label))
        if unknown:
            raise DatasetError(_unknown_emotions_message(path, unknown))
        if not any(item.split == split for item in utterances[-1:]):
            raise DatasetError(
                f"{path}: no usable utterance (its rows are skipped or outside the label set {list(labels)}); "
                f"MELD's {split} split comes from this file: take it again from github.com/declare-lab/MELD."
            )
    corpus = Corpus(utterances, labels, report)
    _log_counts(corpus, rows, dropped)
    return corpus


def _meld_paths(data_dir: str | os.PathLike) -> dict[str, str]:
    """Job split -> the path of its MELD CSV, checking that the folder holds all three."""
    root = os.fspath(data_dir)
    *first, last = MELD_FILES.values()
    wanted = f"{', '.join(first)} and {last}"
    where = (
        f"--data-dir must be the folder holding {wanted} "
        "(data/MELD/ of a clone of github.com/declare-lab/MELD)"
    )
    if not os.path.isdir(root):
        raise DatasetError(f"MELD folder '{root}' does not exist or is not a folder; {where}.")
    paths = {split: os.path.join(root, name) for split, name in MELD_FILES.items()}
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise DatasetError(f"MELD: {', '.join(repr(path) for path in missing)} {verb} missing; {where}.")
    return paths


def _meld_rows(path: str):
    """Yields `(line, row)` of a MELD CSV after checking its encoding and header."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}, line {line}: byte 0x{data[error.start]:02x} is not UTF-8; MELD's CSVs are UTF-8 "
            "text: re-save the file as UTF-8 (or take it again from github.com/declare-lab/MELD)."
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _check_header(path, reader.fieldnames)
    for row in reader:
        yield reader.line_num, row


def _check_header(path: str, fieldnames) -> None:
    expected = ",".join(MELD_COLUMNS)
    if not fieldnames:
        raise DatasetError(f"{path} is empty; a MELD CSV starts with the header {expected}.")
    missing = [column for column in MELD_REQUIRED_COLUMNS if column not in fieldnames]
    if missing:
        raise DatasetError(
            f"{path} lacks the column(s) {missing}: its header is {','.join(fieldnames)}, but MELD's CSVs "
            f"have {expected} (the reader needs {', '.join(MELD_REQUIRED_COLUMNS)}). Is this a MELD "
            "*_sent_emo.csv file?"
        )


def _utterance(path: str, line: int, row: Mapping[str | None, str | None], split: str) -> Utterance:
    """One row as an utterance with its emotion as written (lower-cased); raises for a malformed row."""
    where = f"{path}, line {line}"
    if None in row:
        raise DatasetError(
            f"{where}: the row has more fields than the header; a field holding commas must be "
            'quoted ("...").'
        )
    absent = [column for column, value in row.items() if value is None]
    if absent:
        raise DatasetError(f"{where}: the row lacks the field(s) {absent}; every row needs all header fields.")
    ids = {}
    for column in ("Dialogue_ID", "Utterance_ID"):
        value = (row[column] or "").strip()
        if not _WHOLE_NUMBER.fullmatch(value):
            raise DatasetError(f"{where}: field '{column}' is {value!r}, not a whole number (0, 1, 2, ...).")
        ids[column] = str(int(value))
    emotion = (row["Emotion"] or "").strip().lower()
    return Utterance(
        utterance_id=meld_utterance_id(split, ids["Dialogue_ID"], ids["Utterance_ID"]),
        text=repair_mojibake((row["Utterance"] or "").strip()),
        label=emotion,
        speaker=repair_mojibake((row["Speaker"] or "").strip()) or None,
        split=split,
    )


def _unknown_emotions_message(path: str, unknown: Mapping[str, list[int]]) -> str:
    listing = "; ".join(
        f"{repr(emotion) if emotion else 'an empty field'} (line{'s' if len(lines) > 1 else ''} {_lines(lines)})"
        for emotion, lines in unknown.items()
    )
    return (
        f"{path}: 'Emotion' is not one of MELD's 7 emotions ({', '.join(MELD_LABELS)}): {listing}. "
        "Correct the 'Emotion' field of those rows or remove them."
    )


def _lines(lines: list[int]) -> str:
    listed = ", ".join(str(line) for line in lines[:_LISTED])
    return listed + (f" and {len(lines) - _LISTED} more" if len(lines) > _LISTED else "")


def _log_counts(corpus: Corpus, rows: int, dropped: Mapping[str, int]) -> None:
    by_split = {name: corpus.counts("split").get(name, 0) for name in SPLIT_NAMES}
    logger.info(
        "MELD: %d of %d rows read (text only); per split: %s; per class: %s; %d speakers",
        len(corpus),
        rows,
        by_split,
        corpus.counts("label"),
        len(corpus.counts("speaker")),
    )
    if dropped:
        logger.info("MELD: dropped classes outside the label set: %s", dict(sorted(dropped.items())))
    if len(corpus.skip_report):
        logger.warning("MELD: %s", corpus.skip_report.summary(total=rows))
