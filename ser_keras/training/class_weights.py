"""Class weights that balance a training split's labels (`Recipe.class_weighting`).

A corpus such as MELD or IEMOCAP is far from balanced (MELD's training split is 47% neutral);
weighting each example by the inverse frequency of its class makes every class count alike in
the loss, as scikit-learn's `class_weight="balanced"` does. The weights reach Keras through
`fit(class_weight=...)`, which turns them into per-example sample weights (the `Distiller`
scales every part of its loss by them).

Example:

>>> balanced_class_weights(["sad", "sad", "sad", "angry"], ("angry", "sad"))
{0: 2.0, 1: 0.6666666666666666}
"""

from __future__ import annotations

import collections
from collections.abc import Sequence


def balanced_class_weights(labels: Sequence[str], label_names: Sequence[str]) -> dict[int, float]:
    """`n / (k * n_c)` for each class `c` of the `k` classes present among the `n` labels.

    A class of `label_names` absent from `labels` gets 1 (it has no example to weight), so the
    weights average to 1 over the examples and the loss keeps its scale. The trainer counts
    the training split's labels; a clip that a cache skipped (undecodable audio) still counts,
    so the weights then balance its examples up to those few.

    Args:
        labels: the training examples' labels.
        label_names: the label set; a weight's key is its class's index here.

    Returns:
        Class index -> weight, for `keras.Model.fit(class_weight=...)`.

    Raises:
        ValueError: `labels` is empty, or holds a label outside `label_names`.

    Example:

    >>> balanced_class_weights(["a", "a", "b", "b"], ("a", "b", "c"))
    {0: 1.0, 1: 1.0, 2: 1.0}
    """
    if not labels:
        raise ValueError("Class weights need at least one training label.")
    counts = collections.Counter(labels)
    unknown = sorted(set(counts) - set(label_names))
    if unknown:
        raise ValueError(f"Labels {unknown} are not in the label set {tuple(label_names)}.")
    total, present = len(labels), len(counts)
    return {
        index: total / (present * counts[name]) if counts[name] else 1.0 for index, name in enumerate(label_names)
    }
