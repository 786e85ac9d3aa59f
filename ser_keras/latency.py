"""Inference latency as the paper measures it: one sample at a time, warm, median.

Example:

>>> import numpy as np
>>> samples = [np.zeros(3), np.zeros(5)]
>>> stats = measure_latency(lambda x: x.sum(), samples, warmup=2, repeats=10)
>>> sorted(stats)
['mean_ms', 'median_ms', 'p90_ms', 'runs']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def measure_latency(
    predict: Callable[[Any], Any],
    samples: Sequence[Any],
    warmup: int = 5,
    repeats: int = 50,
) -> dict[str, float]:
    """Times `predict` on single samples, cycling through `samples`.

    Args:
        predict: called with one sample (a batch of 1); its result is
            converted with `np.asarray` so that lazy/async work finishes inside
            the timed region.
        samples: inputs with real lengths (e.g. test clips), used in turn.
        warmup: untimed calls first (tracing, caches).
        repeats: timed calls; the median is the headline figure.

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


def _materialize(result: Any) -> None:
    if isinstance(result, dict):
        for value in result.values():
            np.asarray(value)
    elif isinstance(result, (list, tuple)):
        for value in result:
            np.asarray(value)
    else:
        np.asarray(result)
