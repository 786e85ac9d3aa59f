"""Linear-probe reference models: logistic regression on features the job already has.

A deep model is only worth its number if it beats a linear model on the same
inputs. The job fits three probes on the training split and reports them as
reference rows of Table II:

* text: the mean over real tokens of the frozen (pretrained) text encoder's
  sequence output;
* audio: the clip's utterance statistics
  (`ser_keras.audio.statistics.utterance_statistics`: per log-mel band and per
  MFCC, the mean, standard deviation, 10-90 percentile range and standard
  deviation of frame-to-frame differences; 336 numbers), the same numbers that
  the models' heads read beside their audio embeddings;
* both concatenated.

Each is scikit-learn's `LogisticRegression(C=0.01, class_weight="balanced")`
on standardised features.

A clip without audio (a text-only row of a mixed corpus) is read by an audio
probe as the models read it, with its audio absent: its audio statistics are
missing (NaN), the probe fills them with the training mean (so they weigh
nothing after standardisation, as a masked audio input adds nothing to a
model) and an extra column says that the audio is absent
(`probe_features(..., absent_audio=True)`). So the probes score the same clips
as the models.

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> labels = np.arange(200) % 4
>>> features = rng.normal(size=(200, 8)) + 3 * labels[:, None]
>>> probe = fit_linear_probe(features[:100], labels[:100])
>>> float((probe.predict(features[100:]) == labels[100:]).mean()) > 0.8
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ser_keras.audio.statistics import UTTERANCE_STATISTICS_SIZE, utterance_statistics

#: Inverse regularisation strength of every probe.
PROBE_C = 0.01

#: Probe names in Table II order, and the features each reads.
PROBE_KINDS: tuple[str, ...] = ("text", "audio", "text+audio")

def mean_pooled(features: np.ndarray) -> np.ndarray:
    """The mean over positions of `[L, H]` text features (real tokens only): `[H]`.

    Example:

    >>> mean_pooled(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [2.0, 3.0]
    """
    return np.asarray(features, np.float64).mean(axis=0).astype(np.float32)


def fit_linear_probe(features: np.ndarray, labels: Sequence[int], c: float = PROBE_C):
    """Fits mean imputation + standardisation + class-balanced logistic regression; returns the pipeline.

    Missing features (NaN: the audio statistics of a clip without audio) are
    filled with their training mean; without any, the imputation changes nothing.

    Example:

    >>> probe = fit_linear_probe(np.array([[0.0], [1.0], [0.1], [0.9]]), [0, 1, 0, 1], c=10.0)
    >>> probe.predict(np.array([[0.05], [0.95]])).tolist()
    [0, 1]
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=c, class_weight="balanced", max_iter=5000),
    )
    return pipeline.fit(np.asarray(features), np.asarray(labels))


def probe_features(
    kind: str,
    utterance_ids: Sequence[str],
    text_features: Mapping[str, np.ndarray] | None,
    log_mel_patches: Mapping[str, np.ndarray] | None,
    *,
    absent_audio: bool = False,
) -> np.ndarray:
    """The `[len(utterance_ids), D]` input of one probe kind (`PROBE_KINDS`).

    Args:
        kind: one of `PROBE_KINDS`.
        utterance_ids: the clips, in order.
        text_features: the frozen text encoder's outputs per clip (text probes).
        log_mel_patches: the log-mel patches per clip (audio probes).
        absent_audio: clips missing from `log_mel_patches` have no audio: their
            audio statistics are NaN (`fit_linear_probe` imputes them) and one
            more column is 1 for them, 0 for the others. Pass the same value for
            the training and the scored clips.

    Raises:
        ValueError: for an unknown kind, or when its features are not given.
        KeyError: for a clip without features when `absent_audio` is off.

    Example:

    >>> probe_features("audio", ["a"], None, {"a": np.zeros([1, 96, 64])}).shape
    (1, 336)
    >>> features = probe_features("audio", ["a", "b"], None, {"a": np.zeros([1, 96, 64])}, absent_audio=True)
    >>> features.shape, features[:, -1].tolist(), bool(np.isnan(features[1, 0]))
    ((2, 337), [0.0, 1.0], True)
    """
    if kind not in PROBE_KINDS:
        raise ValueError(f"probe kind must be one of {', '.join(PROBE_KINDS)}; got {kind!r}.")
    parts = []
    if kind in ("text", "text+audio"):
        if text_features is None:
            raise ValueError(f"The {kind} probe needs text features.")
        parts.append(np.stack([mean_pooled(text_features[key]) for key in utterance_ids]))
    if kind in ("audio", "text+audio"):
        if log_mel_patches is None:
            raise ValueError(f"The {kind} probe needs log-mel patches.")
        parts.append(np.stack([_audio_statistics(log_mel_patches, key, absent_audio) for key in utterance_ids]))
        if absent_audio:
            parts.append(np.array([[float(key not in log_mel_patches)] for key in utterance_ids], np.float32))
    return np.concatenate(parts, axis=1)


def _audio_statistics(log_mel_patches: Mapping[str, np.ndarray], key: str, absent_audio: bool) -> np.ndarray:
    """`utterance_statistics` of a clip, or NaNs for a clip without audio when `absent_audio`."""
    if absent_audio and key not in log_mel_patches:
        return np.full(UTTERANCE_STATISTICS_SIZE, np.nan, np.float32)
    return utterance_statistics(log_mel_patches[key])
