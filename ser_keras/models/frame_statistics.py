"""The four summary statistics of frames over time, over all frames or the masked-in ones.

One implementation for both layers that read them: `PatchStatistics` (each
patch of the compact audio encoder, all of its frames) and
`UtteranceStatistics` (each clip, the frames of its masked-in patches). Per
feature, over the frames: mean, (population) standard deviation, the range
between the `RANGE_PERCENTILES` (nearest rank, the rank rounded half to even)
and the standard deviation of frame-to-frame differences; ordered by statistic,
then by feature. `ser_keras.audio.statistics.utterance_statistics` is the NumPy
reference.

Example:

>>> import numpy as np
>>> ramp = np.tile(np.arange(10, dtype="float32")[None, :, None], (1, 1, 2))
>>> [round(float(value), 3) for value in frame_statistics(ramp).numpy()[0]]
[4.5, 4.5, 2.872, 2.872, 7.0, 7.0, 0.0, 0.0]
>>> first_four = np.array([[1.0] * 4 + [0.0] * 6], "float32")[..., None]
>>> [round(float(value), 3) for value in frame_statistics(ramp, first_four).numpy()[0]]
[1.5, 1.5, 1.118, 1.118, 3.0, 3.0, 0.0, 0.0]
"""

from __future__ import annotations

import numpy as np
from keras import ops

from ser_keras.audio.statistics import RANGE_PERCENTILES


def frame_statistics(frames, weights=None):
    """Mean, std, percentile range and delta std per feature of `frames` `[B, T, F]`, over `T`: `[B, 4 * F]`.

    Args:
        frames: `[B, T, F]`.
        weights: `None` (every frame counts; `T` static and >= 2) or `[B, T, 1]`
            of 0 and 1, the frames that count. Frame-to-frame differences are
            taken between neighbouring frames that both count; a row without
            any frame that counts gets zeros.
    """
    deltas = frames[:, 1:] - frames[:, :-1]
    if weights is None:
        # `ops.mean`/`ops.std` as PatchStatistics always had (sum / T rounds differently in the
        # last bit, and the full demo's trajectory, docs/RESULTS.md, follows such bits).
        mean, std = ops.mean(frames, axis=1), ops.std(frames, axis=1)
        delta_std = ops.std(deltas, axis=1)
        ranked = ops.sort(frames, axis=1)
        low, high = (round(q * (frames.shape[1] - 1)) for q in RANGE_PERCENTILES)
        spread = ranked[:, high] - ranked[:, low]
    else:
        count = ops.sum(weights, axis=1)  # [B, 1]
        mean, std = masked_moments(frames, weights, count)
        _, delta_std = masked_moments(deltas, weights[:, 1:] * weights[:, :-1])
        # Frames that do not count sort last; the ranks come from each row's own count.
        ranked = ops.sort(ops.where(weights > 0, frames, ops.full_like(frames, np.inf)), axis=1)
        last = ops.maximum(count - 1.0, 0.0)
        low, high = (_rank_values(ranked, ops.cast(ops.round(q * last), "int32")) for q in RANGE_PERCENTILES)
        spread = ops.where(count > 0, high - low, ops.zeros_like(high))
    return ops.concatenate([mean, std, spread, delta_std], axis=-1)


def masked_moments(values, weights, count=None):
    """Mean and (population) standard deviation over axis 1 of `values` `[B, T, F]`: each `[B, F]`.

    Over the frames with weight 1 (`weights` `[B, T, 1]`); zeros for a row
    without any. `count` is `sum(weights, axis=1)` when the caller has it already.

    Example:

    >>> import numpy as np
    >>> values = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> [float(moment[0, 0]) for moment in masked_moments(values, np.array([[[1.0], [1.0], [0.0]]], "float32"))]
    [2.0, 1.0]
    """
    count = ops.sum(weights, axis=1) if count is None else count
    safe = ops.maximum(count, 1.0)
    mean = ops.sum(values * weights, axis=1) / safe
    variance = ops.sum(ops.square(values - ops.expand_dims(mean, 1)) * weights, axis=1) / safe
    return mean, ops.sqrt(ops.maximum(variance, 0.0))


def _rank_values(ranked, ranks):
    """`ranked[b, ranks[b], f]` for every row `b` and feature `f`."""
    shape = ops.shape(ranked)
    indices = ops.broadcast_to(ops.reshape(ranks, (-1, 1, 1)), (shape[0], 1, shape[2]))
    return ops.squeeze(ops.take_along_axis(ranked, indices, axis=1), axis=1)
