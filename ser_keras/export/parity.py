"""Parity checks: how closely a TFLite model follows its float reference on the same inputs.

`tflite_export/convert.py` reports them for every variant it writes, against the
SavedModel's `serving_tokens` on `--eval-clips` test clips (50 by default).

Example:

>>> compare_predictions(model, saved_model_probabilities, test_inputs)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ser_keras.export.interpreter import TFLiteModel


def compare_predictions(
    model: TFLiteModel,
    reference: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    samples: Sequence[Mapping[str, np.ndarray]],
) -> dict[str, float]:
    """How closely a TFLite model follows a reference on the same inputs.

    Args:
        model: the TFLite model.
        reference: inputs -> probabilities `[1, C]` (the SavedModel's
            `serving_tokens`, or the Keras model with a softmax).
        samples: batch-of-one input dicts (e.g. test clips).

    Returns:
        `max_abs_diff` (of probabilities over all samples and classes) and
        `agreement` (the fraction of samples with the same predicted class).

    Example:

    >>> compare_predictions(model, saved_model_probabilities, test_inputs)  # doctest: +SKIP
    {'max_abs_diff': 2.1e-07, 'agreement': 1.0, 'num_samples': 50.0}
    """
    if not samples:
        raise ValueError("compare_predictions needs at least one sample.")
    ours = np.concatenate([model(inputs)["probabilities"] for inputs in samples])
    theirs = np.concatenate([np.asarray(reference(inputs)) for inputs in samples])
    return {
        "max_abs_diff": float(np.max(np.abs(ours - theirs))),
        "agreement": float(np.mean(ours.argmax(axis=-1) == theirs.argmax(axis=-1))),
        "num_samples": float(len(samples)),
    }
