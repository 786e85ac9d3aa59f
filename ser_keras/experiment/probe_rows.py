"""Linear-probe reference rows of Table II, fitted from features the job already has.

A probe row is comparable with the model rows: it is trained and scored on the
same clips as the models. In a corpus where some clips have no audio, an
audio probe reads those clips with their audio absent, as the models do (see
`ser_keras.probes`), rather than leaving them out; clips whose audio could
not be read are left out of both. Each row records its clips per split
(`extra["clips"]`) and, when some have no audio, how many
(`extra["clips_without_audio"]`).

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
        One `ModelResult` per probe, role `"reference"`, trained and scored on
        the clips the models use: every clip of `splits`, except, when the job
        reads audio, those with an audio file but no patches (unreadable). An
        audio probe reads clips without audio with their audio absent. A
        probe is left out when no training clip has its inputs, or those
        clips have one label.

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
    split_items = {
        name: [item for item in getattr(splits, name) if _scored(item, text_features, log_mel_patches)]
        for name in ("train", "validation", "test")
    }
    results = []
    for kind in kinds:
        reads_audio = "audio" in kind

        def lacks_audio(item, reads_audio=reads_audio) -> bool:
            return reads_audio and item.utterance_id not in log_mel_patches

        without_audio = {name: sum(lacks_audio(item) for item in items) for name, items in split_items.items()}
        with_inputs = [item for item in split_items["train"] if not lacks_audio(item)]
        if not with_inputs or len({item.label for item in with_inputs}) < 2:
            logger.warning("No linear probe on %s: too few labelled training clips with those inputs.", kind)
            continue
        absent_audio = any(without_audio.values())

        def inputs(items, kind=kind, absent_audio=absent_audio):
            features = probe_features(
                kind, [item.utterance_id for item in items], text_features, log_mel_patches, absent_audio=absent_audio
            )
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
                extra={
                    "model_key": f"probe_{kind.replace('+', '_')}",
                    "features": coefficients.shape[1],
                    "clips": {name: len(items) for name, items in split_items.items()},
                    **({"clips_without_audio": without_audio} if absent_audio else {}),
                },
            )
        )
        logger.info(
            "Linear probe (%s): validation acc %.4f, test acc %.4f",
            kind, scores.get("validation", {}).get("acc", float("nan")), scores.get("test", {}).get("acc", float("nan")),
        )
    return results


def _scored(item, text_features: Mapping[str, np.ndarray] | None, log_mel_patches: Mapping[str, np.ndarray] | None) -> bool:
    """Whether the models are scored on `item`: they leave out a clip whose audio file could not be read."""
    has_text = text_features is None or item.utterance_id in text_features
    return has_text and (log_mel_patches is None or not item.has_audio or item.utterance_id in log_mel_patches)
