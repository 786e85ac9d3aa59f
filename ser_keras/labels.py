"""Emotion label sets: IEMOCAP's four classes, and a corpus's own classes, renamed, merged and ordered.

A corpus's label set (its order gives the class ids, the models' outputs and
every table's columns) is, in this order of precedence:

1. `--labels a,b,c`: those names in that order;
2. otherwise the labels the corpus uses, in the corpus's own order: a public
   corpus's documented order (`ser_keras.data.corpora`), IEMOCAP's four; for a
   manifest, `label_order`: those among IEMOCAP's four first, in
   `DEFAULT_LABELS` order (so the demo corpus keeps angry, happy, sad,
   neutral), then the others alphabetically.

`--label-map old=new,...` renames labels before that (two old names mapped to
one new name merge their classes, e.g. `exc=happy`).

Example:

>>> label_order(["sad", "bored", "angry", "disgust"])
('angry', 'sad', 'bored', 'disgust')
>>> parse_label_map("exc=happy, fru=angry")
{'exc': 'happy', 'fru': 'angry'}
"""

from __future__ import annotations

from collections.abc import Iterable

#: The paper's four IEMOCAP classes (excited is merged into happy by the readers).
DEFAULT_LABELS: tuple[str, ...] = ("angry", "happy", "sad", "neutral")


def label_order(labels: Iterable[str]) -> tuple[str, ...]:
    """The label set of a corpus without `--labels`: its labels, IEMOCAP's four first, then alphabetical.

    Example:

    >>> label_order(["neutral", "happy", "happy"])
    ('happy', 'neutral')
    """
    present = set(labels)
    return tuple(name for name in DEFAULT_LABELS if name in present) + tuple(sorted(present - set(DEFAULT_LABELS)))


def parse_labels(text: str) -> tuple[str, ...]:
    """`--labels a,b,c` as a tuple of names.

    Raises:
        ValueError: for an empty name, a repeated name or fewer than two names.

    Example:

    >>> parse_labels("neutral, angry")
    ('neutral', 'angry')
    """
    names = tuple(name.strip() for name in text.split(","))
    if any(not name for name in names):
        raise ValueError(f"--labels {text!r}: a label name is empty; give names separated by commas.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--labels {text!r}: {', '.join(repeated)} given more than once.")
    if len(names) < 2:
        raise ValueError(f"--labels {text!r}: a classifier needs at least two classes.")
    return names


def parse_label_map(text: str) -> dict[str, str]:
    """`--label-map old=new,...` as a dict.

    Raises:
        ValueError: for an entry without `=`, an empty name, or an old name given twice.

    Example:

    >>> parse_label_map("exc=happy")
    {'exc': 'happy'}
    """
    mapping: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        old, sep, new = (value.strip() for value in entry.partition("="))
        if not sep or not old or not new:
            raise ValueError(f"--label-map {text!r}: entry {entry!r} is not old=new (e.g. exc=happy).")
        if old in mapping:
            raise ValueError(f"--label-map {text!r}: {old!r} is mapped twice.")
        mapping[old] = new
    return mapping
