"""SpecAugment-style masks on log-mel patches, drawn from a seed (stateless, so a resumed run repeats them).

Each patch `[96 frames, 64 bands]` gets one frequency mask (up to
`MAX_MASKED_BANDS` consecutive bands) and one time mask (up to
`MAX_MASKED_FRAMES` consecutive frames), each of a random width that may be
zero, filled with the patch's mean (Park et al., 2019, without time warping).
The audio stage trains its encoder on masked patches (`Recipe.audio_augmentation`);
on EmoDB's unseen speakers this was worth 5 points of validation balanced
accuracy (docs/RESULTS.md).

Example:

>>> import numpy as np
>>> patch = np.arange(96 * 64, dtype="float32").reshape(96, 64)
>>> masked = mask_patch(patch, seed=[0, 1]).numpy()
>>> masked.shape, bool((masked != patch).sum() <= 8 * 96 + 16 * 64)
((96, 64), True)
"""

from __future__ import annotations

import tensorflow as tf

#: The widest frequency mask (bands of 64) and time mask (frames of 96, 0.16 s).
MAX_MASKED_BANDS = 8
MAX_MASKED_FRAMES = 16


def mask_patch(patch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One frequency mask and one time mask on a `[frames, bands]` patch, placed by a stateless `seed` (`[2]` ints).

    Example:

    >>> import numpy as np
    >>> patch = np.ones([96, 64], "float32")
    >>> bool((mask_patch(patch, [3, 4]).numpy() == 1.0).all())  # masks are filled with the mean
    True
    """
    patch = tf.convert_to_tensor(patch)
    frames, bands = tf.shape(patch)[0], tf.shape(patch)[1]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    band_width = tf.random.stateless_uniform([], seeds[0], 0, MAX_MASKED_BANDS + 1, tf.int32)
    band_start = tf.random.stateless_uniform([], seeds[1], 0, bands - band_width + 1, tf.int32)
    frame_width = tf.random.stateless_uniform([], seeds[2], 0, MAX_MASKED_FRAMES + 1, tf.int32)
    frame_start = tf.random.stateless_uniform([], seeds[3], 0, frames - frame_width + 1, tf.int32)
    band_index = tf.range(bands)[None, :]
    frame_index = tf.range(frames)[:, None]
    masked = ((band_index >= band_start) & (band_index < band_start + band_width)) | (
        (frame_index >= frame_start) & (frame_index < frame_start + frame_width)
    )
    return tf.where(masked, tf.reduce_mean(patch), patch)
