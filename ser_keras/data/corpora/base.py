"""What the corpus readers share: a file-name convention and the walk that applies it.

A public emotion corpus names each clip after what it holds (speaker, sentence,
emotion, ...). A `CorpusConvention` bundles a corpus' label set with the
function that parses one file name; `build_corpus` applies it to a list of
files and `wav_files` lists the `.wav` files of a corpus folder. No audio is
opened: the readers work on file names alone (a folder of empty files or of
Git LFS pointers reads the same as the real corpus).

What happens to each file:

* a name that does not follow the convention is listed in the skip report
  (reason "unrecognised file name"); strict mode raises a `DatasetError`
  naming the file instead;
* a well-named file that is not part of the corpus' speech set (a RAVDESS song
  clip) is left out and counted in the log, never an error;
* a clip whose emotion is outside the chosen label subset is dropped and
  counted in the log;
* a second file with the same name (stem) in another folder is listed in the
  skip report as "duplicate utterance id".

Example:

>>> from ser_keras.data.corpora import EMODB
>>> corpus = build_corpus(EMODB, ["wav/03a01Fa.wav", "wav/16b10Tb.wav", "wav/readme.wav"])
>>> [(item.utterance_id, item.speaker, item.label) for item in corpus]
[('03a01Fa', '03', 'happy'), ('16b10Tb', '16', 'sad')]
>>> corpus.skip_report.items[0].reason
'unrecognised file name'
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Corpus, Utterance
from ser_keras.data.skip_report import SkipReport
from ser_keras.labels import DEFAULT_LABELS

logger = logging.getLogger(__name__)

#: The label subsets every reader offers: the corpus' own classes, or the usual four.
LABEL_SUBSETS: tuple[str, ...] = ("full", "4class")

#: The 4-class subset: the IEMOCAP classes, in the project's order (angry, happy, sad, neutral).
FOUR_CLASS_LABELS: tuple[str, ...] = DEFAULT_LABELS

#: The reason a badly named file has in the skip report.
UNRECOGNISED_NAME = "unrecognised file name"

#: The reason a second clip or row with the same utterance id has in the skip report.
DUPLICATE_ID = "duplicate utterance id"


class FileNameError(ValueError):
    """A file name that does not follow its corpus' naming convention.

    The message says which part is wrong; `build_corpus` adds the file and the
    convention.

    Example:

    >>> raise FileNameError("emotion letter 'X' is not one of W, L, E, A, F, T, N")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: emotion letter 'X' is not one of W, L, E, A, F, T, N
    """


@dataclasses.dataclass(frozen=True)
class ParsedName:
    """What a file name says about its clip.

    Args:
        speaker: the speaker (actor) code as the corpus writes it, e.g. "03".
        label: the emotion, one of the corpus' full label names.
        gender: "F" or "M" when the corpus gives it, else `None`.
        text: the spoken sentence when it is known, else "" (audio-only).
        left_out: why a well-named file is not part of the corpus' speech set
            (e.g. "song"), or `None` for a clip to keep.

    Example:

    >>> ParsedName("03", "happy", gender="M").left_out is None
    True
    """

    speaker: str
    label: str
    gender: str | None = None
    text: str = ""
    left_out: str | None = None


@dataclasses.dataclass(frozen=True)
class CorpusConvention:
    """A corpus' file-name convention and label set.

    Args:
        name: the registry name, e.g. "emodb" (what `--dataset` takes).
        title: the corpus' usual name for messages, e.g. "EmoDB".
        naming: the naming pattern for messages, e.g. "SSTTTEV.wav (e.g. 03a01Fa.wav)".
        label_names: the full label set in its documented order (class ids).
        parse: file stem (name without `.wav`) -> `ParsedName`; raises
            `FileNameError` for a name that does not follow the convention.

    Example:

    >>> from ser_keras.data.corpora import CREMA_D
    >>> CREMA_D.label_set("4class")
    ('angry', 'happy', 'sad', 'neutral')
    """

    name: str
    title: str
    naming: str
    label_names: tuple[str, ...]
    parse: Callable[[str], ParsedName]

    def __post_init__(self):
        missing = [label for label in FOUR_CLASS_LABELS if label not in self.label_names]
        if missing:
            raise ValueError(
                f"{self.title}: the 4-class labels {missing} are not in its label set."
            )

    def label_set(self, label_subset: str = "full") -> tuple[str, ...]:
        """The label names of a subset, in class-id order.

        Args:
            label_subset: "full" (the corpus' own classes, `label_names`) or
                "4class" (`FOUR_CLASS_LABELS`: angry, happy, sad, neutral).

        Raises:
            DatasetError: for another subset name.

        Example:

        >>> from ser_keras.data.corpora import EMODB
        >>> EMODB.label_set("full")
        ('angry', 'bored', 'disgust', 'fearful', 'happy', 'sad', 'neutral')
        """
        return subset_labels(self.label_names, label_subset)


def subset_labels(label_names: Sequence[str], label_subset: str = "full") -> tuple[str, ...]:
    """The label names of a subset of a corpus' labels, in class-id order (every reader's subset check).

    Args:
        label_names: the corpus' full label set, in its class-id order.
        label_subset: "full" (`label_names`) or "4class" (`FOUR_CLASS_LABELS`).

    Raises:
        DatasetError: for another subset name.

    Example:

    >>> subset_labels(("calm", "angry", "happy", "sad", "neutral"), "4class")
    ('angry', 'happy', 'sad', 'neutral')
    >>> subset_labels(("calm",), "7class")
    Traceback (most recent call last):
    ...
    ser_keras.data.errors.DatasetError: `label_subset` must be one of ['full', '4class']; got '7class'.
    """
    if label_subset == "full":
        return tuple(label_names)
    if label_subset == "4class":
        return FOUR_CLASS_LABELS
    raise DatasetError(f"`label_subset` must be one of {list(LABEL_SUBSETS)}; got {label_subset!r}.")


@dataclasses.dataclass(frozen=True)
class NameLayout:
    r"""A file-name convention's layout: the pattern of a whole stem and the codes its fields may take.

    Args:
        layout: the layout for messages, e.g. "SSTTTEV".
        pattern: the pattern of the whole stem, one named group per field.
        codes: group -> `(part, table)`, checked in this order by `lookup_code`
            (`part` names the field in messages; `table` maps each valid code
            to its meaning or lists the valid codes). A group without an entry
            is taken as the pattern matched it.

    Example:

    >>> layout = NameLayout("NNx", re.compile(r"(?P<speaker>\d\d)(?P<emotion>[a-z])"),
    ...                     {"speaker": ("speaker", ("01", "02")), "emotion": ("emotion", {"a": "angry"})})
    >>> layout.read("02a")
    {'speaker': '02', 'emotion': 'angry'}
    >>> layout.read("1a")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: '1a' does not have the layout NNx
    >>> layout.read("03a")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: speaker '03' is not one of 01, 02
    """

    layout: str
    pattern: re.Pattern[str]
    codes: Mapping[str, tuple[str, Mapping[str, str | None] | Sequence[str]]]

    def read(self, stem: str) -> dict[str, str | None]:
        """Each field of a file stem: its meaning (its code for a table of codes, or an unchecked field).

        Raises:
            FileNameError: when the stem does not have the layout, or naming
                the first field (in `codes` order) whose code is not valid.
        """
        found = self.pattern.fullmatch(stem)
        if found is None:
            raise FileNameError(f"'{stem}' does not have the layout {self.layout}")
        fields: dict[str, str | None] = found.groupdict()
        for group, (part, table) in self.codes.items():
            fields[group] = lookup_code(fields[group], table, part)
        return fields


def lookup_code(code: str, table: Mapping[str, str | None] | Sequence[str], part: str) -> str | None:
    """The meaning of one code of a file name; the code itself when `table` is a sequence.

    A long table (more than 12 codes) is shown as its first and last code.

    Args:
        code: the code as written in the file name.
        table: code -> meaning, or the sequence of valid codes.
        part: what the code is, for the message, e.g. "emotion letter".

    Raises:
        FileNameError: naming the part, the code and the valid codes.

    Example:

    >>> lookup_code("W", {"W": "angry", "L": "bored"}, "emotion letter")
    'angry'
    >>> lookup_code("X", ("01", "02"), "statement")
    Traceback (most recent call last):
    ...
    ser_keras.data.corpora.base.FileNameError: statement 'X' is not one of 01, 02
    """
    if code not in table:
        codes = list(table)
        listing = ", ".join(codes) if len(codes) <= 12 else f"{codes[0]} ... {codes[-1]}"
        raise FileNameError(f"{part} '{code}' is not one of {listing}")
    return table[code] if isinstance(table, Mapping) else code


def wav_files(data_dir: str | os.PathLike) -> list[str]:
    """The `.wav` files under a folder and its sub-folders, sorted by relative path.

    Hidden files and folders (a name starting with ".", such as macOS `._x.wav`
    resource forks) are ignored; so are files with another extension. The
    extension is matched case-insensitively.

    Raises:
        DatasetError: when `data_dir` is not a folder or holds no `.wav` file.

    Example:

    >>> wav_files("data/emodb/wav")[:2]  # doctest: +SKIP
    ['data/emodb/wav/03a01Fa.wav', 'data/emodb/wav/03a01Nc.wav']
    """
    root = os.fspath(data_dir)
    if not os.path.isdir(root):
        raise DatasetError(f"Corpus folder '{root}' does not exist or is not a folder.")
    found = []
    for folder, sub_folders, files in os.walk(root):
        sub_folders[:] = [name for name in sub_folders if not name.startswith(".")]
        found += [
            os.path.join(folder, name)
            for name in files
            if not name.startswith(".") and name.lower().endswith(".wav")
        ]
    if not found:
        raise DatasetError(f"Corpus folder '{root}' holds no .wav file (sub-folders included).")
    return sorted(found, key=lambda path: os.path.relpath(path, root))


def build_corpus(
    convention: CorpusConvention,
    paths: Iterable[str | os.PathLike],
    label_subset: str = "full",
    *,
    strict: bool = False,
    root: str | os.PathLike | None = None,
) -> Corpus:
    """Turns a list of clip files into a corpus by their names alone (no audio is read).

    Args:
        convention: the corpus' naming convention.
        paths: the clip files, in the order the corpus lists them.
        label_subset: "full" or "4class" (see `CorpusConvention.label_set`).
        strict: raise on the first badly named or duplicate file instead of
            listing it in the skip report.
        root: the corpus folder; skipped files are named relative to it.

    Returns:
        A `Corpus` whose utterances have the file stem as id, the file as
        audio path, speaker, gender (when known), label and text ("" when the
        sentence is unknown).

    Raises:
        DatasetError: for a bad `label_subset`, in strict mode for the first
            skipped file, and when no file is left (so a wrong `--dataset`
            fails at once).

    Example:

    >>> from ser_keras.data.corpora import RAVDESS
    >>> corpus = build_corpus(RAVDESS, ["Actor_12/03-01-02-01-01-01-12.wav"], "full")
    >>> corpus[0].label, corpus[0].gender, corpus[0].text
    ('calm', 'F', 'Kids are talking by the door.')
    """
    labels = convention.label_set(label_subset)
    report = SkipReport(strict=strict)
    utterances: list[Utterance] = []
    first_file: dict[str, str] = {}
    left_out: collections.Counter[str] = collections.Counter()
    dropped: collections.Counter[str] = collections.Counter()
    total = 0
    for raw_path in paths:
        total += 1
        path = os.fspath(raw_path)
        shown = os.path.relpath(path, root) if root is not None else path
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            parsed = convention.parse(stem)
        except FileNameError as error:
            report.skip(
                shown,
                UNRECOGNISED_NAME,
                path,
                f"{error}; {convention.title} names its clips {convention.naming}",
            )
            continue
        if parsed.left_out is not None:
            left_out[parsed.left_out] += 1
            continue
        if parsed.label not in labels:
            dropped[parsed.label] += 1
            continue
        if is_duplicate(report, first_file, stem, shown, path):
            continue
        utterances.append(
            Utterance(
                utterance_id=stem,
                text=parsed.text,
                label=parsed.label,
                audio_path=path,
                speaker=parsed.speaker,
                gender=parsed.gender,
            )
        )
    corpus = Corpus(utterances, labels, report)
    if not utterances:
        raise DatasetError(
            f"{convention.title}: none of the {total} files is a usable clip "
            f"({len(report)} badly named, {sum(left_out.values())} left out, "
            f"{sum(dropped.values())} outside the label set {list(labels)}). "
            f"{convention.title} names its clips {convention.naming}: is this the right corpus?"
        )
    _log_counts(convention, corpus, total, left_out, dropped)
    return corpus


def is_duplicate(report: SkipReport, first_seen: dict[str, str], utterance_id: str, where: str, path: str) -> bool:
    """Whether `utterance_id` was read before (every reader's duplicate check).

    A repeated id is listed in the skip report as "duplicate utterance id",
    naming where the first one was read (strict mode: a `DatasetError`); a new
    one is recorded in `first_seen` as read from `where`.

    Example:

    >>> report, seen = SkipReport(), {}
    >>> is_duplicate(report, seen, "a", "x/a.wav", "x/a.wav"), is_duplicate(report, seen, "a", "y/a.wav", "y/a.wav")
    (False, True)
    >>> report.items[0].item_id, report.items[0].reason
    ('y/a.wav', 'duplicate utterance id')
    """
    if utterance_id in first_seen:
        report.skip(where, DUPLICATE_ID, path, f"'{utterance_id}' is already read from {first_seen[utterance_id]}")
        return True
    first_seen[utterance_id] = where
    return False


def _log_counts(
    convention: CorpusConvention,
    corpus: Corpus,
    total: int,
    left_out: Mapping[str, int],
    dropped: Mapping[str, int],
) -> None:
    speakers = corpus.counts("speaker")
    logger.info(
        "%s: %d of %d files read; per class: %s; %d speakers: %s",
        convention.title,
        len(corpus),
        total,
        corpus.counts("label"),
        len(speakers),
        speakers,
    )
    if left_out:
        logger.info("%s: left out (not speech clips): %s", convention.title, dict(left_out))
    if dropped:
        logger.info(
            "%s: dropped classes outside the label set: %s",
            convention.title,
            dict(sorted(dropped.items())),
        )
    if len(corpus.skip_report):
        logger.warning("%s: %s", convention.title, corpus.skip_report.summary(total=total))
