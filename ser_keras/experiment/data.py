"""Reading the job's corpus and cutting it into the folds to train on.

Example:

>>> corpus = load_corpus(DataConfig())  # the shipped demo corpus  # doctest: +SKIP
>>> [name for name, _ in job_folds(corpus, DataConfig())]  # doctest: +SKIP
['main']
"""

from __future__ import annotations

import logging
import os

from ser_keras.config import DEMO_MANIFEST, DataConfig
from ser_keras.data import Corpus, Splits, make_splits, read_iemocap, read_manifest
from ser_keras.data.corpora import CORPUS_NAMES, read_corpus
from ser_keras.data.iemocap import iemocap_label_map
from ser_keras.data.label_sets import check_fold_labels, check_label_set, relabel
from ser_keras.data.splits import speaker_folds
from ser_keras.data.errors import DatasetError
from ser_keras.models.fusion import uses_audio, uses_text

logger = logging.getLogger(__name__)

#: IEMOCAP's five sessions: one leave-one-session-out fold each.
LOSO_FOLDS = (1, 2, 3, 4, 5)


class CorpusModalityError(DatasetError):
    """The corpus lacks the modality the models need (the command-line jobs exit with status 2).

    Example:

    >>> isinstance(CorpusModalityError("no audio"), DatasetError)
    True
    """


def check_corpus_modalities(corpus: Corpus, modality: str) -> None:
    """Refuses, before any work, a modality that the corpus cannot feed.

    Raises:
        CorpusModalityError: no clip has audio for an audio model, or no transcript for a text model.

    Example:

    >>> check_corpus_modalities(Corpus([Utterance("a", "", "sad")]), "audio")  # doctest: +SKIP
    Traceback (most recent call last):
    CorpusModalityError: --modality audio needs audio, but no utterance of the corpus has an audio file ...
    """
    has_audio = any(item.has_audio for item in corpus)
    has_text = any((item.text or "").strip() for item in corpus)
    if uses_audio(modality) and not has_audio:
        raise CorpusModalityError(
            f"--modality {modality} needs audio, but no utterance of the corpus has an audio file"
            + (": use --modality text." if has_text else ".")
        )
    if uses_text(modality) and not has_text:
        raise CorpusModalityError(
            f"--modality {modality} needs transcripts, but every text of the corpus is empty"
            + (": use --modality audio." if has_audio else ".")
        )


def load_corpus(config: DataConfig) -> Corpus:
    """Reads the dataset named by `config` (demo corpus, IEMOCAP, a manifest or a public corpus), with its label set.

    The label set follows `--labels`, `--label-map` (and `--label-subset` for
    a public corpus): see `ser_keras.labels`.

    Raises:
        DatasetError: for a missing manifest or a bad row, naming the file and
            line; for labels outside `--labels`, or `--labels` names no clip has.

    Example:

    >>> len(load_corpus(DataConfig()))  # doctest: +SKIP
    864
    """
    if config.dataset == "iemocap":
        label_map, label_names = iemocap_label_map(config.label_mapping)
        corpus = read_iemocap(
            config.data_dir, strict=config.strict, label_map=label_map, label_names=config.labels or label_names
        )
        check_label_set(corpus, config.data_dir)
    elif config.dataset in CORPUS_NAMES:
        corpus = read_corpus(config.dataset, config.data_dir, config.label_subset, strict=config.strict)
        corpus = relabel(corpus, config.labels, config.label_mapping, f"--dataset {config.dataset} {config.data_dir}")
    else:
        path = _manifest_path(config)
        if not os.path.isfile(path):
            raise DatasetError(
                f"The demo corpus's manifest '{path}' is missing: it ships with the repository under data/demo/ "
                "(run from a full clone, or write it with training_scripts/make_demo_corpus.py)."
                if config.dataset == "demo"
                else f"--manifest {path}: no such file; give the path of a manifest CSV "
                "(header path,text,label[,speaker][,split][,utterance_id])."
            )
        corpus = read_manifest(path, strict=config.strict, label_names=config.labels, label_map=config.label_mapping)
        check_label_set(corpus, path)
    logger.info("Corpus: %d utterances; per class %s.", len(corpus), corpus.counts("label"))
    if len(corpus.skip_report):
        logger.warning(corpus.skip_report.summary(len(corpus) + len(corpus.skip_report)))
    return corpus


def _manifest_path(config: DataConfig) -> str | None:
    """The manifest the corpus is read from (`None` for IEMOCAP)."""
    return DEMO_MANIFEST if config.dataset == "demo" else config.manifest


def _split_kind(corpus: Corpus, config: DataConfig) -> str:
    """`--split auto`: the manifest's split column when any row fills it (then every row must), else paper."""
    if config.split_file:
        return "split-file"
    if config.split != "auto":
        return config.split
    return "manifest" if any(item.split for item in corpus.utterances) else "paper"


def _empty_split_message(name: str, kind: str, config: DataConfig) -> str:
    """Why split `name` is empty, naming where the split comes from, and what to do."""
    source, remedy = {
        "manifest": (f"the 'split' column of {_manifest_path(config)}", f"give some of its rows the split '{name}'"),
        "split-file": (f"split file {config.split_file}", f"list some utterances as '{name}' in it"),
    }.get(kind, (f"the {kind} split", "add utterances"))
    return (
        f"The {name} split is empty ({source}): the job needs train, validation and test utterances; "
        f"{remedy}, or choose another --split."
    )


def _limited(splits: Splits, limit: int | None) -> Splits:
    if limit is None:
        return splits
    if limit < 1:
        raise DatasetError(f"--limit-per-split must be a positive number of utterances; got {limit}.")

    def spread(items):
        if len(items) <= limit:
            return items
        step = len(items) / limit
        return [items[int(index * step)] for index in range(limit)]

    return Splits(*(spread(items) for items in splits))


def job_folds(corpus: Corpus, config: DataConfig) -> list[tuple[str, Splits]]:
    """The `(fold name, splits)` pairs of the job: one for `single`; for `loso`, IEMOCAP's five sessions or speaker folds.

    Raises:
        DatasetError: for a split that cannot be made (a partly filled split
            column, a bad split file, too few utterances of a class for the
            paper split), an empty split, or a `limit_per_split` below 1.

    Example:

    >>> folds = job_folds(corpus, DataConfig(dataset="iemocap", data_dir="...", protocol="loso"))  # doctest: +SKIP
    >>> [name for name, _ in folds]  # doctest: +SKIP
    ['session1', 'session2', 'session3', 'session4', 'session5']
    """
    if config.protocol == "loso" and config.dataset == "iemocap":
        folds = [(f"session{fold}", make_splits(corpus.utterances, "loso", fold=fold)) for fold in LOSO_FOLDS]
    elif config.protocol == "loso":
        folds = speaker_folds(corpus.utterances, config.speaker_folds)
        logger.info("Speaker folds: %d (test on each fold's speakers, validate on the next fold's).", len(folds))
    else:
        folds = [("main", _single_split(corpus, config))]
    folds = [(name, _limited(splits, config.limit_per_split)) for name, splits in folds]
    check_fold_labels(folds, corpus.label_names)
    return folds


def select_fold(folds: list[tuple[str, Splits]], name: str, config: DataConfig) -> Splits:
    """The splits of the fold named `name` among the job's `folds` (`job_folds`): `evaluate.py --fold`.

    Raises:
        DatasetError: for a name that is not a fold's, listing the fold names.

    Example:

    >>> select_fold([("main", splits)], "main", DataConfig()) is splits  # doctest: +SKIP
    True
    """
    names = [fold_name for fold_name, _ in folds]
    if name in names:
        return folds[names.index(name)][1]
    hint = (
        " A leave-one-speaker-out job's folds come from its data flags with --protocol loso "
        "(and --speaker-folds K if it used them); <run>/splits.csv lists them in its 'fold' column."
        if config.protocol == "single" else
        " <run>/splits.csv lists the folds the job used in its 'fold' column; give the data flags the job had."
    )
    raise DatasetError(
        f"--fold {name}: no such fold; with --protocol {config.protocol} the data has "
        f"{len(names)} fold{'s' if len(names) != 1 else ''}: {', '.join(names)}.{hint}"
    )


def _single_split(corpus: Corpus, config: DataConfig) -> Splits:
    """The one split of a `single` protocol job (checked for empty splits)."""
    kind = _split_kind(corpus, config)
    splits = make_splits(
        corpus.utterances, kind, seed=config.split_seed, split_file=config.split_file, source=_manifest_path(config)
    )
    logger.info("Split: %s (split seed %d).", kind, config.split_seed)
    for name, items in splits._asdict().items():
        if not items:
            raise DatasetError(_empty_split_message(name, kind, config))
    return splits
