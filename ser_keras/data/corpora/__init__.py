"""Readers for the public emotion corpora: EmoDB, RAVDESS speech, CREMA-D and MELD.

The audio corpora's readers turn a corpus folder into a `Corpus` from the
corpus' own file-name convention alone (the audio is not opened), with the
speaker, the gender where known, the label and, where the sentence is known,
the text. MELD's reader reads its three CSVs into a text-only corpus (no
audio) that carries MELD's standard train/dev/test split.

| name | corpus | speakers | full label set (class-id order) | 4-class subset drops | text |
|---|---|---|---|---|---|
| `emodb` | EmoDB | 10 | angry, bored, disgust, fearful, happy, sad, neutral | bored, \
disgust, fearful | empty |
| `ravdess` | RAVDESS speech | 24 | neutral, calm, happy, sad, angry, fearful, disgust, \
surprised | calm (not merged), fearful, disgust, surprised | the statement |
| `crema-d` | CREMA-D | 91 | angry, disgust, fearful, happy, neutral, sad | disgust, \
fearful | empty |
| `meld` | MELD (text only, its train/dev/test split) | 304 names | neutral, surprise, fear, \
sadness, joy, disgust, anger | surprise, fear, disgust (and renames anger, joy, sadness) | \
the utterance |

The 4-class subset ("4class") is angry, happy, sad, neutral in that order (the
IEMOCAP classes, `ser_keras.labels.DEFAULT_LABELS`); every audio corpus names
these four classes the same way in its full set, so the subset only drops
clips. MELD keeps its own names in the full set and the subset maps anger ->
angry, joy -> happy, sadness -> sad. The modules `emodb`, `ravdess`, `crema_d`
and `meld` document each convention.

Example:

>>> CORPUS_NAMES
('emodb', 'ravdess', 'crema-d', 'meld')
>>> corpus_label_names("crema-d")
('angry', 'disgust', 'fearful', 'happy', 'neutral', 'sad')
>>> corpus = corpus_from_files("emodb", ["03a01Fa.wav", "03a01Lb.wav"], "4class")
>>> corpus.counts("label")
{'angry': 0, 'happy': 1, 'sad': 0, 'neutral': 0}
>>> corpus = read_corpus("emodb", "data/emodb/wav")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ser_keras.data.corpora.base import (
    FOUR_CLASS_LABELS,
    LABEL_SUBSETS,
    UNRECOGNISED_NAME,
    CorpusConvention,
    FileNameError,
    ParsedName,
    build_corpus,
    wav_files,
)
from ser_keras.data.corpora.crema_d import CREMA_D, CREMA_D_LABELS, parse_crema_d_name
from ser_keras.data.corpora.emodb import EMODB, EMODB_LABELS, parse_emodb_name
from ser_keras.data.corpora.meld import (
    MELD_FOUR_CLASS,
    MELD_LABELS,
    MELD_NAME,
    meld_label_set,
    read_meld,
)
from ser_keras.data.corpora.ravdess import RAVDESS, RAVDESS_LABELS, parse_ravdess_name
from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Corpus

#: Registry name -> convention, for the corpora read from their file names.
CORPORA: dict[str, CorpusConvention] = {
    convention.name: convention for convention in (EMODB, RAVDESS, CREMA_D)
}

#: The corpora read from their CSV files (text only): registry name -> reader.
CSV_CORPORA = {MELD_NAME: read_meld}

#: The corpus names `read_corpus` (and `--dataset`) accepts.
CORPUS_NAMES: tuple[str, ...] = (*CORPORA, *CSV_CORPORA)


def corpus_convention(name: str) -> CorpusConvention:
    """The naming convention and label set of a registered corpus.

    Args:
        name: one of `CORPUS_NAMES` (case-insensitive).

    Raises:
        DatasetError: for an unknown name, listing the known ones, or a corpus
            read from its CSV files (MELD), which has no file-name convention.

    Example:

    >>> corpus_convention("RAVDESS").title
    'RAVDESS'
    """
    key = _known_name(name)
    if key in CSV_CORPORA:
        raise DatasetError(
            f"Corpus {name!r} is read from its CSV files, not from file names: use read_corpus({key!r}, <folder>)."
        )
    return CORPORA[key]


def _known_name(name: str) -> str:
    """The registry name of `name` (case-insensitive); a `DatasetError` listing the known ones."""
    key = name.strip().lower()
    if key not in CORPUS_NAMES:
        raise DatasetError(f"Unknown corpus {name!r}; known corpora: {', '.join(CORPUS_NAMES)}.")
    return key


def corpus_label_names(name: str, label_subset: str = "full") -> tuple[str, ...]:
    """A corpus' label names in class-id order.

    Args:
        name: one of `CORPUS_NAMES`.
        label_subset: "full" (the corpus' classes, in its emotion-code order)
            or "4class" (angry, happy, sad, neutral).

    Raises:
        DatasetError: for an unknown corpus or subset.

    Example:

    >>> corpus_label_names("ravdess")
    ('neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised')
    >>> corpus_label_names("ravdess", "4class")
    ('angry', 'happy', 'sad', 'neutral')
    >>> corpus_label_names("meld")
    ('neutral', 'surprise', 'fear', 'sadness', 'joy', 'disgust', 'anger')
    """
    if _known_name(name) == MELD_NAME:
        return meld_label_set(label_subset)
    return corpus_convention(name).label_set(label_subset)


def corpus_from_files(
    name: str,
    paths: Iterable[str | os.PathLike],
    label_subset: str = "full",
    *,
    strict: bool = False,
) -> Corpus:
    """Builds a corpus from a list of its clip files, by their names only (nothing is opened).

    Useful when the file list comes from elsewhere (an archive listing, a
    `git ls-tree`); `read_corpus` lists a folder and calls this.

    Args:
        name: one of `CORPUS_NAMES`.
        paths: the clip files; the utterances keep this order.
        label_subset: "full" or "4class".
        strict: raise a `DatasetError` naming the first badly named or
            duplicate file instead of listing it in the skip report.

    Raises:
        DatasetError: for an unknown corpus or subset, a corpus read from its
            CSV files (MELD), in strict mode, or when no file is a usable clip.

    Example:

    >>> corpus = corpus_from_files("crema-d", ["1001_DFA_ANG_XX.wav", "1002_IEO_SAD_HI.wav"])
    >>> corpus.counts("speaker")
    {'1001': 1, '1002': 1}
    """
    return build_corpus(corpus_convention(name), paths, label_subset, strict=strict)


def read_corpus(
    name: str,
    data_dir: str | os.PathLike,
    label_subset: str = "full",
    *,
    strict: bool = False,
) -> Corpus:
    """Reads a public emotion corpus from its folder.

    Every `.wav` file under `data_dir` (sub-folders included, e.g. RAVDESS'
    `Actor_01/` ...; hidden files ignored) is parsed by the corpus' naming
    convention; utterances come in order of their path relative to
    `data_dir`. Utterance ids are the file stems. MELD is read from the three
    CSVs in `data_dir` instead (`ser_keras.data.corpora.meld.read_meld`).

    Args:
        name: one of `CORPUS_NAMES`: "emodb", "ravdess", "crema-d" or "meld".
        data_dir: the folder holding the corpus' `.wav` files (MELD: its
            `train_sent_emo.csv`, `dev_sent_emo.csv` and `test_sent_emo.csv`).
        label_subset: "full" (the corpus' own classes) or "4class" (angry,
            happy, sad, neutral; see the module docstring for what is dropped).
        strict: raise a `DatasetError` naming the first badly named or
            duplicate file (MELD: row) instead of listing it in the corpus'
            skip report.

    Returns:
        The `Corpus`, whose `label_names` is the chosen label set.

    Raises:
        DatasetError: for an unknown corpus or subset, a missing folder, a
            folder without `.wav` files, no usable clip, or (strict mode) a
            badly named or duplicate file.

    Example:

    >>> corpus = read_corpus("ravdess", "data/ravdess", "4class")  # doctest: +SKIP
    >>> corpus.counts("label")  # doctest: +SKIP
    {'angry': 192, 'happy': 192, 'sad': 192, 'neutral': 96}
    """
    corpus_label_names(name, label_subset)  # a bad name or subset fails before the walk
    if _known_name(name) in CSV_CORPORA:
        return CSV_CORPORA[_known_name(name)](data_dir, label_subset, strict=strict)
    return build_corpus(
        corpus_convention(name), wav_files(data_dir), label_subset, strict=strict, root=data_dir
    )


__all__ = [
    "CORPORA",
    "CORPUS_NAMES",
    "CREMA_D",
    "CREMA_D_LABELS",
    "CSV_CORPORA",
    "EMODB",
    "EMODB_LABELS",
    "FOUR_CLASS_LABELS",
    "LABEL_SUBSETS",
    "MELD_FOUR_CLASS",
    "MELD_LABELS",
    "MELD_NAME",
    "RAVDESS",
    "RAVDESS_LABELS",
    "UNRECOGNISED_NAME",
    "CorpusConvention",
    "FileNameError",
    "ParsedName",
    "corpus_convention",
    "corpus_from_files",
    "corpus_label_names",
    "meld_label_set",
    "parse_crema_d_name",
    "parse_emodb_name",
    "parse_ravdess_name",
    "read_corpus",
    "read_meld",
]
