"""Utterance-level statistics of a clip's log-mel frames and their MFCCs (NumPy reference).

What a linear model reads from a clip, and what the models read beside their
patch embeddings (`ser_keras.models.utterance_statistics.UtteranceStatistics`
computes the same numbers inside the model graph, so they export with it):

* the clip's log-mel frames `[T, 64]` (all of its patches, in order) and their
  first `NUM_MFCC` MFCCs (an orthonormal DCT-II of each frame, `[T, 20]`);
* for each of those 84 features, over the frames: mean, standard deviation,
  the range between the 10th and 90th percentiles (nearest-rank, the rank
  rounded half to even) and the standard deviation of frame-to-frame
  differences. The 336 numbers are ordered by statistic, then by feature.

On EmoDB (7 classes, leave-one-speaker-out, logistic regression) the MFCC
statistics add 6 to 9 points of balanced accuracy to the log-mel ones
(docs/RESULTS.md): the DCT decorrelates the bands, which a linear model with a
weight penalty cannot do itself.

Example:

>>> import numpy as np
>>> utterance_statistics(np.zeros([2, 96, 64], np.float32)).shape
(336,)
"""

from __future__ import annotations

import numpy as np

from ser_keras.audio.params import NUM_BANDS

#: MFCCs per frame (the first coefficients of the DCT of the log-mel bands).
NUM_MFCC = 20

#: Statistics per feature: mean, standard deviation, 10-90 percentile range, delta standard deviation.
STATISTICS_PER_FEATURE = 4

#: Features per frame: the log-mel bands and their MFCCs.
FEATURES_PER_FRAME = NUM_BANDS + NUM_MFCC

#: Length of `utterance_statistics`.
UTTERANCE_STATISTICS_SIZE = STATISTICS_PER_FEATURE * FEATURES_PER_FRAME

#: The percentiles whose difference is the range statistic.
RANGE_PERCENTILES = (0.1, 0.9)


def dct_matrix(num_bands: int = NUM_BANDS, num_coefficients: int = NUM_MFCC) -> np.ndarray:
    """The orthonormal DCT-II as a `[num_bands, num_coefficients]` matrix: `frames @ matrix` are MFCCs.

    Example:

    >>> matrix = dct_matrix(4, 4)
    >>> bool(np.allclose(matrix.T @ matrix, np.eye(4)))
    True
    """
    bands = np.arange(num_bands)[:, None]
    coefficients = np.arange(num_coefficients)[None, :]
    matrix = np.sqrt(2.0 / num_bands) * np.cos(np.pi * coefficients * (2 * bands + 1) / (2 * num_bands))
    matrix[:, 0] /= np.sqrt(2.0)
    return matrix.astype(np.float32)


def frame_features(patches: np.ndarray) -> np.ndarray:
    """A clip's frames `[T, 84]`: its log-mel bands followed by their MFCCs.

    Example:

    >>> frame_features(np.zeros([3, 96, 64])).shape
    (288, 84)
    """
    frames = np.asarray(patches, np.float64).reshape(-1, patches.shape[-1])
    return np.concatenate([frames, frames @ dct_matrix(frames.shape[-1]).astype(np.float64)], axis=1)


def utterance_statistics(patches: np.ndarray) -> np.ndarray:
    """The 336 statistics of a clip's log-mel patches `[N, 96, 64]`, over all its frames.

    Example:

    >>> ramp = np.tile(np.arange(10.0)[None, :, None], (1, 1, 64))
    >>> values = utterance_statistics(ramp)
    >>> float(values[0]), round(float(values[84]), 3), float(values[168]), float(values[252])
    (4.5, 2.872, 7.0, 0.0)
    """
    features = frame_features(patches)
    deltas = np.diff(features, axis=0) if len(features) > 1 else np.zeros_like(features)
    ranked = np.sort(features, axis=0)
    low, high = (int(np.round(q * (len(features) - 1))) for q in RANGE_PERCENTILES)
    return np.concatenate(
        [features.mean(axis=0), features.std(axis=0), ranked[high] - ranked[low], deltas.std(axis=0)]
    ).astype(np.float32)
