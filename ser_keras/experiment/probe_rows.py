"""Linear-probe reference rows of Table II, fitted from features the job already has.

Example:

>>> rows = probe_results(splits, text_features, patches, corpus.label_names)  # doctest: +SKIP
>>> [row.name for row in rows]  # doctest: +SKIP
['Linear probe: text', 'Linear probe: audio', 'Linear probe: text+audio']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from ser_keras.data import Splits
from ser_keras.probes import PROBE_KINDS, fit_linear_probe, probe_features
from ser_keras.reporting import ModelResult
from ser_keras.training.metrics import classification_metrics

logger = logging.getLogger(__name__)

#: `ModelResult.role` of the probe rows.
REFERENCE_ROLE = "reference"


def probe_results(
    splits: Splits,
    text_features: Mapping[str, np.ndarray] | None,
    log_mel_patches: Mapping[str, np.ndarray] | None,
    label_names: Sequence[str],
) -> list[ModelResult]:
    """Fits each probe whose features exist on `splits.train` and scores it on validation and test.

    Args:
        splits: the fold.
        text_features: the frozen text encoder's cached outputs (`None`: no text probe).
        log_mel_patches: the clips' log-mel patches (`None`: no audio probe).
        label_names: the label set.

    Returns:
        One `ModelResult` per probe, role `"reference"`; only clips that have
        every input of a probe are used (a probe with no training clip is left out).

    Example:

    >>> probe_results(splits, None, patches, DEFAULT_LABELS)[0].name  # doctest: +SKIP
    'Linear probe: audio'
    """
    index = {name: position for position, name in enumerate(label_names)}
    kinds = [
        kind
        for kind in PROBE_KINDS
        if ("text" not in kind or text_features is not None) and ("audio" not in kind or log_mel_patches is not None)
    ]
    results = []
    for kind in kinds:
        def usable(item, kind=kind) -> bool:
            return ("text" not in kind or item.utterance_id in text_features) and (
                "audio" not in kind or item.utterance_id in log_mel_patches
            )

        split_items = {name: [item for item in getattr(splits, name) if usable(item)] for name in ("train", "validation", "test")}
        if not split_items["train"] or len({item.label for item in split_items["train"]}) < 2:
            logger.warning("No linear probe on %s: too few labelled training clips with those inputs.", kind)
            continue

        def inputs(items, kind=kind):
            features = probe_features(kind, [item.utterance_id for item in items], text_features, log_mel_patches)
            return features, np.array([index[item.label] for item in items])

        probe = fit_linear_probe(*inputs(split_items["train"]))
        scores, predictions = {}, {}
        for name in ("validation", "test"):
            if split_items[name]:
                features, labels = inputs(split_items[name])
                predictions[name] = probe.predict(features)
                scores[name] = classification_metrics(labels, predictions[name])
        coefficients = probe[-1].coef_
        results.append(
            ModelResult(
                name=f"Linear probe: {kind}",
                text_layers=0,
                distilled=False,
                params={"total": int(coefficients.size + probe[-1].intercept_.size)},
                validation=scores.get("validation", {}),
                test=scores.get("test", {}),
                role=REFERENCE_ROLE,
                collapsed=len(label_names) > 1 and len(set(predictions.get("validation", [0, 1]))) <= 1,
                extra={"model_key": f"probe_{kind.replace('+', '_')}", "features": coefficients.shape[1]},
            )
        )
        logger.info(
            "Linear probe (%s): validation acc %.4f, test acc %.4f",
            kind, scores.get("validation", {}).get("acc", float("nan")), scores.get("test", {}).get("acc", float("nan")),
        )
    return results
