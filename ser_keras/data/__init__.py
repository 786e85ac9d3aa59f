"""Datasets and input pipelines: corpora, manifests, splits, tf.data, encoder cache.

Example:

>>> from ser_keras.data import make_dataset, make_splits, read_manifest
>>> corpus = read_manifest("data/demo/manifest.csv")  # doctest: +SKIP
>>> splits = make_splits(corpus.utterances, "manifest")  # doctest: +SKIP
>>> train = make_dataset(splits.train, corpus.label_names, preprocessor=preprocessor,
...                      shuffle=True, seed=0)  # doctest: +SKIP
"""

from ser_keras.data.cache import EncoderCache, weights_fingerprint
from ser_keras.data.corpora import CORPUS_NAMES, corpus_label_names, read_corpus
from ser_keras.data.errors import DatasetError
from ser_keras.data.iemocap import IEMOCAP_LABEL_MAP, clean_transcript, read_iemocap
from ser_keras.data.manifest import read_manifest
from ser_keras.data.pipeline import DEFAULT_BUCKET_BOUNDARIES, make_dataset, with_audio_patches
from ser_keras.data.records import SPLIT_NAMES, Corpus, Utterance, count_by, label_ids
from ser_keras.data.skip_report import SkippedItem, SkipReport
from ser_keras.data.splits import (
    SPLIT_KINDS,
    Splits,
    loso_split,
    make_splits,
    normalize_split_name,
    paper_split,
    read_split_file,
    split_from_field,
    split_from_file,
)

__all__ = [
    "CORPUS_NAMES",
    "DEFAULT_BUCKET_BOUNDARIES",
    "IEMOCAP_LABEL_MAP",
    "SPLIT_KINDS",
    "SPLIT_NAMES",
    "Corpus",
    "DatasetError",
    "EncoderCache",
    "SkipReport",
    "SkippedItem",
    "Splits",
    "Utterance",
    "clean_transcript",
    "corpus_label_names",
    "count_by",
    "label_ids",
    "loso_split",
    "make_dataset",
    "make_splits",
    "normalize_split_name",
    "paper_split",
    "read_corpus",
    "read_iemocap",
    "read_manifest",
    "read_split_file",
    "split_from_field",
    "split_from_file",
    "weights_fingerprint",
    "with_audio_patches",
]
