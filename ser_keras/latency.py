"""Inference latency as the paper measures it: one sample at a time, warm, median.

`measure_latency` is the one timing function; what a figure includes is what
the timed `predict` call holds, one of `LATENCY_SCOPES`.

Example:

>>> import numpy as np
>>> samples = [np.zeros(3), np.zeros(5)]
>>> stats = measure_latency(lambda x: x.sum(), samples, warmup=2, repeats=10)
>>> sorted(stats)
['mean_ms', 'median_ms', 'p90_ms', 'runs']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


#: What the timed call holds, by name, and where each figure is reported.
LATENCY_SCOPES = {
    "model": "token ids and log-mel patches in, logits out (encoders and fusion head): Table II "
             "(the job's `Inference Time`) and every backend of `training_scripts/benchmark.py`",
    "served": "a decoded clip and its transcript in, label out, through the serving backend "
              "(log-mel front end, tokenizer and model): `training_scripts/evaluate.py`",
    "branch": "one part of the model alone (front end, audio encoder, tokenizer, BERT, fusion "
              "head): the benchmark's time per branch",
}


def measure_latency(
    predict: Callable[[Any], Any],
    samples: Sequence[Any],
    warmup: int = 3,
    repeats: int = 50,
    warm_every_shape: bool = True,
) -> dict[str, float]:
    """Times `predict` on single samples, cycling through `samples`: the one definition of latency.

    Every latency figure of the project (Table II, the benchmark, `evaluate.py`,
    `tflite_export/convert.py`) comes from this function; they differ only in
    what `predict` holds (see `LATENCY_SCOPES`).

    Args:
        predict: called with one sample (a batch of 1); its result is
            converted with `np.asarray` so that lazy/async work finishes inside
            the timed region.
        samples: inputs with real lengths (e.g. test clips), used in turn.
        warmup: untimed calls after the shape warm-up (caches).
        repeats: timed calls; the median is the headline figure.
        warm_every_shape: first call `predict` once on each distinct input
            shape, untimed (tracing, XLA compilation, tensor resizes), so that
            no timed call pays for them.

    Returns:
        `median_ms`, `mean_ms`, `p90_ms` and `runs`.

    Example:

    >>> measure_latency(lambda x: x, [1.0], warmup=0, repeats=3)["runs"]
    3.0
    """
    if not samples:
        raise ValueError("measure_latency needs at least one sample.")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    if warm_every_shape:
        for sample in _one_per_shape(samples):
            _materialize(predict(sample))
    for index in range(warmup):
        _materialize(predict(samples[index % len(samples)]))
    timings = np.empty(repeats)
    for index in range(repeats):
        sample = samples[index % len(samples)]
        start = time.perf_counter()
        _materialize(predict(sample))
        timings[index] = time.perf_counter() - start
    timings *= 1000.0
    return {
        "median_ms": float(np.median(timings)),
        "mean_ms": float(np.mean(timings)),
        "p90_ms": float(np.percentile(timings, 90)),
        "runs": float(repeats),
    }


def _one_per_shape(samples: Sequence[Any]) -> list[Any]:
    """The first sample of each distinct input shape (a dict's shapes by key)."""
    seen: dict[tuple, Any] = {}
    for sample in samples:
        if isinstance(sample, Mapping):
            key = tuple((name, np.shape(value)) for name, value in sorted(sample.items()))
        else:
            key = (np.shape(sample),)
        seen.setdefault(key, sample)
    return list(seen.values())


def _materialize(result: Any) -> None:
    if isinstance(result, dict):
        for value in result.values():
            np.asarray(value)
    elif isinstance(result, (list, tuple)):
        for value in result:
            np.asarray(value)
    else:
        np.asarray(result)
