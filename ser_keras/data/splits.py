"""Train / validation / test splits: paper, leave-one-session-out, split file, manifest column.

* `paper`: the authors' split: stratified random 10 % test, then 10 % of the rest
  validation (seed 0), with scikit-learn's `train_test_split`. Speaker-dependent.
* `loso`: leave-one-session-out, the speaker-independent protocol. Fold k holds
  out the k-th session (sorted by name): validation on one of its two speakers
  (by default the female one), test on the other; the other sessions train.
* `speaker_folds`: speaker-independent folds for any corpus with speakers: one
  fold per speaker (leave-one-speaker-out) or k folds of speakers; fold i tests
  on its speakers, validates on the next fold's, trains on the rest.
* `split-file`: a CSV `utterance_id,split` that reproduces any published split.
* `manifest`: the `split` column of a manifest (the demo corpus splits by voice).

Example:

>>> splits = make_splits(corpus.utterances, "paper")  # doctest: +SKIP
>>> splits.counts()  # doctest: +SKIP
{'train': 4479, 'validation': 498, 'test': 554}
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from sklearn.model_selection import train_test_split

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import SPLIT_NAMES, Utterance

logger = logging.getLogger(__name__)

#: The split kinds understood by `make_splits`.
SPLIT_KINDS: tuple[str, ...] = ("paper", "loso", "split-file", "manifest")

_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}

#: Utterances a class needs for the paper split: two stratified draws, each needs two per class.
_MIN_PER_CLASS = 3

#: Utterance ids listed in an error before "and N more".
_LISTED = 10


class Splits(NamedTuple):
    """The utterances of the train, validation and test splits.

    Example:

    >>> Splits([], [], []).counts()
    {'train': 0, 'validation': 0, 'test': 0}
    """

    train: list[Utterance]
    validation: list[Utterance]
    test: list[Utterance]

    def counts(self) -> dict[str, int]:
        """Number of utterances per split."""
        return {name: len(items) for name, items in self._asdict().items()}


def normalize_split_name(value: str) -> str | None:
    """Canonical split name: "train", "validation" or "test"; `None` for an empty value.

    "val", "valid" and "dev" mean "validation"; case and surrounding spaces are ignored.

    Raises:
        ValueError: for any other value.

    Example:

    >>> normalize_split_name(" Dev ")
    'validation'
    """
    name = value.strip().lower()
    if not name:
        return None
    name = _SPLIT_ALIASES.get(name, name)
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split '{value}'; use one of {list(SPLIT_NAMES)}.")
    return name


def paper_split(
    utterances: Sequence[Utterance],
    test_fraction: float = 0.1,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> Splits:
    """The paper's stratified split: `test_fraction` test, then `validation_fraction` of the rest.

    Args:
        utterances: the corpus, in reading order (the order changes which items are drawn).
        test_fraction: share of all utterances that go to the test split.
        validation_fraction: share of the remaining utterances that go to validation.
        seed: the `random_state` of both `train_test_split` calls.

    Raises:
        DatasetError: when a class has fewer utterances than a stratified
            draw needs (two in each draw), or the corpus is too small to put
            every class in the validation and test shares.

    Example:

    >>> splits = paper_split(corpus.utterances)  # doctest: +SKIP
    >>> splits.counts()  # IEMOCAP, 5,531 utterances  # doctest: +SKIP
    {'train': 4479, 'validation': 498, 'test': 554}
    >>> paper_split([Utterance(f"u{i}", "hi", "sad") for i in range(9)] + [Utterance("x", "hi", "angry")])
    Traceback (most recent call last):
    ...
    ser_keras.data.errors.DatasetError: The paper split draws a stratified 10 % test and 10 % validation share, ...
    """
    items = list(utterances)
    counts = Counter(item.label for item in items)
    too_few = {label: count for label, count in sorted(counts.items()) if count < _MIN_PER_CLASS}
    if too_few:
        raise DatasetError(
            "The paper split draws a stratified 10 % test and 10 % validation share, so every class needs at "
            f"least {_MIN_PER_CLASS} utterances; too few: "
            + ", ".join(f"'{label}' ({count})" for label, count in too_few.items())
            + ". Add utterances of those classes, remove their rows, or split with a split file "
            "(--split-file) or the manifest's split column."
        )
    try:
        rest, test = train_test_split(
            items, test_size=test_fraction, random_state=seed, stratify=[item.label for item in items]
        )
        train, validation = train_test_split(
            rest,
            test_size=validation_fraction,
            random_state=seed,
            stratify=[item.label for item in rest],
        )
    except ValueError as error:  # scikit-learn: too small a corpus for a stratified share of every class
        raise DatasetError(
            f"The paper split (stratified 10 % test, then 10 % validation) cannot split these {len(items)} "
            f"utterances of {len(counts)} classes ({dict(sorted(counts.items()))}): {error} Add utterances, or "
            "split with a split file (--split-file) or the manifest's split column."
        ) from error
    return _logged(Splits(train, validation, test), "paper")


def loso_split(utterances: Sequence[Utterance], fold: int, validation_gender: str = "F") -> Splits:
    """Leave-one-session-out fold `fold` (1-based).

    The sessions are sorted by name; fold k holds out the k-th. Its speaker of
    gender `validation_gender` is the validation split, its other speaker the
    test split; all other sessions are the training split.

    Args:
        utterances: items with `session`, `speaker` and `gender` set (IEMOCAP).
        fold: 1 ... number of sessions.
        validation_gender: the gender ("F" or "M") of the held-out session's
            speaker used for validation; swap it to test on the other one.

    Raises:
        DatasetError: when items lack session/speaker/gender, when `fold` is
            out of range, or when the held-out session does not have exactly
            one speaker of each gender.

    Example:

    >>> splits = loso_split(corpus.utterances, fold=1)  # doctest: +SKIP
    >>> {item.speaker for item in splits.test}  # doctest: +SKIP
    {'Ses01M'}
    """
    lacking = [
        item.utterance_id
        for item in utterances
        if not (item.session and item.speaker and item.gender)
    ]
    if lacking:
        raise DatasetError(
            f"Leave-one-session-out needs session, speaker and gender for every utterance; "
            f"{len(lacking)} lack them (e.g. '{lacking[0]}'). Use it with IEMOCAP, or use "
            "a split file or the manifest's split column."
        )
    sessions = sorted({item.session for item in utterances})
    if not 1 <= fold <= len(sessions):
        raise DatasetError(
            f"LOSO fold must be in 1..{len(sessions)} (sessions {sessions}); got {fold}."
        )
    held_out = sessions[fold - 1]
    speakers = {(item.gender, item.speaker) for item in utterances if item.session == held_out}
    genders = sorted(gender for gender, _ in speakers)
    if genders != ["F", "M"] or validation_gender not in genders:
        raise DatasetError(
            f"LOSO needs one female and one male speaker in the held-out session {held_out} "
            f"and validation_gender 'F' or 'M'; found speakers {sorted(speakers)} and "
            f"validation_gender '{validation_gender}'."
        )
    train, validation, test = [], [], []
    for item in utterances:
        if item.session != held_out:
            train.append(item)
        elif item.gender == validation_gender:
            validation.append(item)
        else:
            test.append(item)
    return _logged(Splits(train, validation, test), f"loso fold {fold} (held out {held_out})")


def read_split_file(path: str | os.PathLike) -> dict[str, str]:
    """Reads a split CSV with header `utterance_id,split` into `{utterance_id: split}`.

    Raises:
        DatasetError: for a missing file or column, an empty id, an unknown
            split name or a repeated id, naming the line.

    Example:

    >>> read_split_file("iemocap_paper_split.csv")  # doctest: +SKIP
    {'Ses01F_impro01_F000': 'train', ...}
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Split file '{path}' does not exist.")
    assignments: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as csv_file:
        reader = csv.DictReader(csv_file)
        if not reader.fieldnames or not {"utterance_id", "split"} <= set(reader.fieldnames):
            raise DatasetError(
                f"Split file '{path}' must start with the header 'utterance_id,split'; "
                f"got {reader.fieldnames}."
            )
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            utterance_id = (row["utterance_id"] or "").strip()
            if not utterance_id:
                raise DatasetError(f"{where}: the 'utterance_id' field is empty.")
            try:
                split = normalize_split_name(row["split"] or "")
            except ValueError as error:
                raise DatasetError(f"{where}: field 'split': {error}") from error
            if split is None:
                raise DatasetError(f"{where}: the 'split' field is empty.")
            if utterance_id in assignments:
                raise DatasetError(f"{where}: utterance_id '{utterance_id}' is listed twice.")
            assignments[utterance_id] = split
    return assignments


def split_from_file(utterances: Sequence[Utterance], path: str | os.PathLike) -> Splits:
    """Splits the utterances as a split file says; utterances it does not list are left out.

    Ids of the file that are not in the corpus (e.g. skipped clips) are logged.

    Raises:
        DatasetError: when no utterance of the corpus is in the file.

    Example:

    >>> splits = split_from_file(corpus.utterances, "splits.csv")  # doctest: +SKIP
    """
    assignments = read_split_file(path)
    split = {name: [] for name in SPLIT_NAMES}
    unlisted = 0
    for item in utterances:
        if item.utterance_id in assignments:
            split[assignments[item.utterance_id]].append(item)
        else:
            unlisted += 1
    known = {item.utterance_id for item in utterances}
    absent = [utterance_id for utterance_id in assignments if utterance_id not in known]
    if len(absent) == len(assignments):
        raise DatasetError(
            f"None of the {len(assignments)} ids of split file '{path}' is in the corpus "
            f"(e.g. '{absent[0]}'); check that it belongs to this corpus."
            if absent
            else f"Split file '{path}' lists no utterance."
        )
    if absent:
        logger.warning(
            "Split file %s: %d listed ids are not in the corpus (skipped or missing), e.g. %s.",
            path,
            len(absent),
            absent[:5],
        )
    if unlisted:
        logger.info(
            "Split file %s: %d utterances of the corpus are not listed and left out.",
            path,
            unlisted,
        )
    return _logged(Splits(**split), f"split file {path}")


def split_from_field(utterances: Sequence[Utterance], source: str | os.PathLike | None = None) -> Splits:
    """Splits by each utterance's own `split` field (a manifest's `split` column).

    Args:
        utterances: the corpus.
        source: the manifest the fields come from, named in the error.

    Raises:
        DatasetError: when some utterances have no split; it lists them.

    Example:

    >>> split_from_field([Utterance("a", "hi", "sad", split="test")]).counts()
    {'train': 0, 'validation': 0, 'test': 1}
    >>> split_from_field([Utterance("a", "hi", "sad", split="test"), Utterance("b", "hi", "sad")], "m.csv")
    Traceback (most recent call last):
    ...
    ser_keras.data.errors.DatasetError: m.csv: 1 utterances have no split value: 'b'. Fill the 'split' column of ...
    """
    lacking = [item.utterance_id for item in utterances if item.split is None]
    if lacking:
        shown = ", ".join(f"'{utterance_id}'" for utterance_id in lacking[:_LISTED])
        more = f" and {len(lacking) - _LISTED} more" if len(lacking) > _LISTED else ""
        raise DatasetError(
            f"{f'{source}: ' if source else ''}{len(lacking)} utterances have no split value: {shown}{more}. "
            "Fill the 'split' column of these rows (train, validation or test), or empty it in every row "
            "and choose another split kind (--split paper, or --split-file)."
        )
    split = {name: [item for item in utterances if item.split == name] for name in SPLIT_NAMES}
    return _logged(Splits(**split), "manifest split column")


def make_splits(
    utterances: Sequence[Utterance],
    kind: str,
    *,
    seed: int = 0,
    fold: int | None = None,
    split_file: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
) -> Splits:
    """Splits a corpus by one of `SPLIT_KINDS`.

    Args:
        utterances: the corpus.
        kind: "paper", "loso", "split-file" or "manifest".
        seed: the random seed of the paper split.
        fold: the LOSO fold (1-based), required for "loso".
        split_file: the CSV, required for "split-file".
        source: the manifest of the corpus, named in the errors of "manifest".

    Example:

    >>> make_splits(corpus.utterances, "loso", fold=5).counts()  # doctest: +SKIP
    """
    if kind == "paper":
        return paper_split(utterances, seed=seed)
    if kind == "loso":
        if fold is None:
            raise ValueError("The 'loso' split needs `fold` (1-based session index).")
        return loso_split(utterances, fold)
    if kind == "split-file":
        if split_file is None:
            raise ValueError("The 'split-file' split needs `split_file`, a CSV utterance_id,split.")
        return split_from_file(utterances, split_file)
    if kind == "manifest":
        return split_from_field(utterances, source)
    raise ValueError(f"Unknown split kind '{kind}'; use one of {list(SPLIT_KINDS)}.")


def speaker_folds(utterances: Sequence[Utterance], num_folds: int | None = None) -> list[tuple[str, Splits]]:
    """Speaker-independent folds: `(fold name, Splits)` pairs, no speaker in two splits of a fold.

    Speakers are sorted by name and dealt round-robin into `num_folds` groups
    (one speaker each by default: leave-one-speaker-out). Fold i tests on group
    i, validates on group i + 1 (the first group for the last fold) and trains
    on the others. A fold is named `speaker_<name>` (one speaker per fold) or
    `speakers<i>` (`num_folds` groups).

    Raises:
        DatasetError: for clips without a speaker, fewer than three speakers,
            or more folds than speakers.

    Example:

    >>> items = [Utterance(f"{s}_{i}", "", "sad", speaker=s) for s in "abc" for i in range(2)]
    >>> [(name, splits.counts()["test"]) for name, splits in speaker_folds(items)]
    [('speaker_a', 2), ('speaker_b', 2), ('speaker_c', 2)]
    """
    lacking = [item.utterance_id for item in utterances if not item.speaker]
    if lacking:
        raise DatasetError(
            f"Speaker folds (--protocol loso) need every clip's speaker; {len(lacking)} clips have none "
            f"(e.g. '{lacking[0]}'): fill the manifest's 'speaker' column, or use --protocol single."
        )
    speakers = sorted({item.speaker for item in utterances})
    count = len(speakers) if num_folds is None else num_folds
    if len(speakers) < 3 or not 3 <= count <= len(speakers):
        raise DatasetError(
            f"Speaker folds need at least three speakers and three folds, and no more folds than speakers "
            "(one fold tests, the next validates, the others train); the corpus has "
            f"{len(speakers)} ({', '.join(speakers[:10])}) and {count} folds were asked for."
        )
    groups = [speakers[index::count] for index in range(count)]
    folds, names = [], set()
    for index, group in enumerate(groups):
        validation_group = set(groups[(index + 1) % count])
        splits = Splits(
            [item for item in utterances if item.speaker not in group and item.speaker not in validation_group],
            [item for item in utterances if item.speaker in validation_group],
            [item for item in utterances if item.speaker in group],
        )
        name = f"speaker_{_safe_name(group[0])}" if count == len(speakers) else f"speakers{index + 1}"
        if name in names:  # two speaker names that differ only in characters a folder name cannot hold
            name = f"{name}_{index + 1}"
        names.add(name)
        folds.append((name, _logged(splits, f"{name}: test {', '.join(group)}")))
    return folds


def _safe_name(name: str) -> str:
    """A speaker name usable in a folder name."""
    return "".join(character if character.isalnum() or character in "-_" else "_" for character in name)


def _logged(splits: Splits, description: str) -> Splits:
    logger.info("Split (%s): %s", description, splits.counts())
    return splits
