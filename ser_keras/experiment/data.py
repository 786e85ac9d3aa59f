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
from ser_keras.models.fusion import uses_audio, uses_text

logger = logging.getLogger(__name__)

#: IEMOCAP's five sessions: one leave-one-session-out fold each.
LOSO_FOLDS = (1, 2, 3, 4, 5)


class CorpusModalityError(ValueError):
    """The corpus lacks the modality the models need (the command-line jobs exit with status 2).

    Example:

    >>> isinstance(CorpusModalityError("no audio"), ValueError)
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
    """Reads the dataset named by `config` (demo corpus, IEMOCAP or a manifest).

    Example:

    >>> len(load_corpus(DataConfig()))  # doctest: +SKIP
    864
    """
    if config.dataset == "iemocap":
        corpus = read_iemocap(config.data_dir, strict=config.strict)
    else:
        path = DEMO_MANIFEST if config.dataset == "demo" else config.manifest
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Manifest '{path}' not found."
                + (" The demo corpus ships with the repository under data/demo/." if config.dataset == "demo" else "")
            )
        corpus = read_manifest(path, strict=config.strict)
    logger.info("Corpus: %d utterances; per class %s.", len(corpus), corpus.counts("label"))
    if len(corpus.skip_report):
        logger.warning(corpus.skip_report.summary(len(corpus) + len(corpus.skip_report)))
    return corpus


def _split_kind(corpus: Corpus, config: DataConfig) -> str:
    if config.split_file:
        return "split-file"
    if config.split != "auto":
        return config.split
    has_split_column = corpus.utterances and all(item.split for item in corpus.utterances)
    return "manifest" if has_split_column else "paper"


def _limited(splits: Splits, limit: int | None) -> Splits:
    if limit is None:
        return splits

    def spread(items):
        if len(items) <= limit:
            return items
        step = len(items) / limit
        return [items[int(index * step)] for index in range(limit)]

    return Splits(*(spread(items) for items in splits))


def job_folds(corpus: Corpus, config: DataConfig) -> list[tuple[str, Splits]]:
    """The `(fold name, splits)` pairs of the job: one for `single`, five for `loso`.

    Example:

    >>> folds = job_folds(corpus, DataConfig(dataset="iemocap", data_dir="...", protocol="loso"))  # doctest: +SKIP
    >>> [name for name, _ in folds]  # doctest: +SKIP
    ['session1', 'session2', 'session3', 'session4', 'session5']
    """
    if config.protocol == "loso":
        return [
            (f"session{fold}", _limited(make_splits(corpus.utterances, "loso", fold=fold), config.limit_per_split))
            for fold in LOSO_FOLDS
        ]
    kind = _split_kind(corpus, config)
    splits = make_splits(corpus.utterances, kind, seed=config.split_seed, split_file=config.split_file)
    logger.info("Split: %s (split seed %d).", kind, config.split_seed)
    for name, items in splits._asdict().items():
        if not items:
            raise ValueError(
                f"The {name} split is empty (split kind '{kind}'); check the manifest's split "
                "column or choose another --split."
            )
    return [("main", _limited(splits, config.limit_per_split))]
