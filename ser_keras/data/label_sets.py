"""Applying the user's label options to a corpus: `--label-map` (rename, merge) and `--labels` (names, order).

The rules are `ser_keras.labels`'s; this module checks a read corpus against
them (every class of the label set must have clips) and warns about classes
missing from a fold's splits.

Example:

>>> from ser_keras.data.records import Utterance
>>> corpus = Corpus([Utterance("a", "", "exc"), Utterance("b", "", "sad")], ("exc", "sad"))
>>> relabel(corpus, None, {"exc": "happy"}, "my corpus").label_names
('happy', 'sad')
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence

from ser_keras.data.errors import DatasetError
from ser_keras.data.records import Corpus
from ser_keras.labels import label_order

logger = logging.getLogger(__name__)


def relabel(corpus: Corpus, labels: Sequence[str] | None, label_map: Mapping[str, str], source: str) -> Corpus:
    """`corpus` with its labels mapped through `label_map` and its label set `labels`.

    Without `labels`, the corpus's own label order is kept (a public corpus's
    documented order), each name mapped, and labels the mapping introduces
    that the order does not place go last in `label_order`.

    Raises:
        DatasetError: for clips whose (mapped) label is not in `labels`, or
            names in `labels` that no clip has; both name `source` and the labels.

    Example:

    >>> from ser_keras.data.records import Utterance
    >>> corpus = Corpus([Utterance("a", "", "sad"), Utterance("b", "", "angry")], ("sad", "angry"))
    >>> relabel(corpus, ("sad", "angry"), {}, "c").label_names
    ('sad', 'angry')
    """
    utterances = [
        dataclasses.replace(item, label=label_map[item.label]) if item.label in label_map else item
        for item in corpus.utterances
    ]
    names = tuple(labels) if labels else _mapped_order(corpus.label_names, label_map, {item.label for item in utterances})
    outside = Counter(item.label for item in utterances if item.label not in names)
    if outside:
        listing = ", ".join(f"'{label}' ({count} clips)" for label, count in sorted(outside.items()))
        raise DatasetError(
            f"{source}: labels not in --labels {','.join(names)}: {listing}. Add them to --labels, merge them "
            "into a listed class with --label-map old=new, or remove those clips."
        )
    relabelled = Corpus(utterances, names, corpus.skip_report)
    check_label_set(relabelled, source)
    return relabelled


def _mapped_order(order: Sequence[str], label_map: Mapping[str, str], present: set[str]) -> tuple[str, ...]:
    names: list[str] = []
    for name in order:
        mapped = label_map.get(name, name)
        if mapped in present and mapped not in names:
            names.append(mapped)
    return (*names, *label_order(present - set(names)))


def check_label_set(corpus: Corpus, source: str) -> None:
    """Refuses a label set with a class that no clip of the corpus has.

    Raises:
        DatasetError: naming the empty classes and the corpus's labels.

    Example:

    >>> from ser_keras.data.records import Utterance
    >>> check_label_set(Corpus([Utterance("a", "", "sad")], ("sad",)), "c")
    """
    counts = corpus.counts("label")
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        used = sorted(name for name, count in counts.items() if count)
        raise DatasetError(
            f"{source}: the label set names {', '.join(empty)}, which no clip has (its clips' labels: "
            f"{', '.join(used)}). Fix the spelling in --labels, or leave the class out."
        )


def check_fold_labels(folds: Sequence[tuple[str, object]], label_names: Sequence[str]) -> list[str]:
    """Warns about classes without training clips in a fold, and about classes absent from a validation or test split.

    A model cannot learn a class it never sees, so the first is a loud
    warning (with `--limit-per-split` a smoke run may cut a class out); the
    second only means that split's balanced accuracy averages the other classes.

    Returns:
        The warnings, also logged.

    Example:

    >>> from ser_keras.data.records import Utterance
    >>> from ser_keras.data.splits import Splits
    >>> splits = Splits([Utterance("a", "", "sad")], [Utterance("c", "", "sad")], [Utterance("b", "", "angry")])
    >>> check_fold_labels([("main", splits)], ("sad", "angry"))[0]
    'Fold main: no training clip of angry: the models cannot learn it (...). Merge it with --label-map, ...'
    """
    warnings = []
    for fold_name, splits in folds:
        present = {name: {item.label for item in items} for name, items in splits._asdict().items()}
        untrained = [label for label in label_names if label not in present["train"]]
        if untrained:
            warnings.append(
                f"Fold {fold_name}: no training clip of {', '.join(untrained)}: the models cannot learn it "
                f"({len(label_names)} classes: {', '.join(label_names)}). Merge it with --label-map, leave it out "
                "with --labels, or use another split."
            )
        for split in ("validation", "test"):
            missing = [label for label in label_names if label not in present[split]]
            if missing:
                warnings.append(
                    f"Fold {fold_name}: the {split} split has no clip of {', '.join(missing)}; its balanced accuracy "
                    "averages the other classes."
                )
    for warning in warnings:
        logger.warning(warning)
    return warnings
