"""Utterance-level statistics inside the model: what a linear probe reads, as a model input.

A deep audio model trained on a few hundred clips of real speech can lose to a
logistic regression on summary statistics of the same log-mel frames
(docs/RESULTS.md). The fusion head therefore also reads those statistics
directly (`build_fusion_head(audio_statistics=...)`): standardised with the
training clips' mean and deviation, through dropout, into a linear layer whose
logits are added to the attention path's. The head then contains the probe,
and can only fall behind it by overfitting, which the validation-selected
checkpoint guards against.

`UtteranceStatistics` computes them in the graph from the padded patches and
their mask (the models that read audio patches, hence every export, the
`serving_speaker` signature and TFLite); models trained on cached audio
embeddings read the same numbers precomputed by `clip_statistics`. Both match
`ser_keras.audio.statistics.utterance_statistics`, the NumPy reference.

Example:

>>> import numpy as np
>>> patches = np.zeros([2, 3, 96, 64], "float32")
>>> mask = np.array([[True, True, False], [False, False, False]])
>>> tuple(UtteranceStatistics()(patches, mask).shape)
(2, 336)
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
from keras import layers, ops

from ser_keras.audio.statistics import UTTERANCE_STATISTICS_SIZE, dct_matrix
from ser_keras.models.frame_statistics import frame_statistics


@keras.saving.register_keras_serializable(package="ser_keras")
class UtteranceStatistics(layers.Layer):
    """The 336 utterance statistics of padded patches `[B, N, 96, 64]` with mask `[B, N]`: `[B, 336]`.

    The frames of the masked-in patches are the clip (masked-in patches come
    first); a clip with none gets zeros. Frame-to-frame differences are taken
    between consecutive masked-in frames only.

    Example:

    >>> import numpy as np
    >>> ramp = np.tile(np.arange(96, dtype="float32")[None, None, :, None], (1, 2, 1, 64))
    >>> values = UtteranceStatistics()(ramp, np.array([[True, False]])).numpy()[0]
    >>> float(values[0]), float(values[252])
    (47.5, 0.0)
    """

    def call(self, patches, mask):
        batch, frames_per_patch, bands = ops.shape(patches)[0], patches.shape[2], patches.shape[3]
        frames = ops.reshape(patches, (batch, -1, bands))
        valid = ops.reshape(
            ops.repeat(ops.expand_dims(ops.cast(mask, "bool"), -1), frames_per_patch, axis=-1), (batch, -1)
        )
        dct = ops.convert_to_tensor(dct_matrix(bands))
        features = ops.concatenate([frames, ops.matmul(frames, dct)], axis=-1)  # [B, T, 84]
        return frame_statistics(features, ops.expand_dims(ops.cast(valid, features.dtype), -1))

    def compute_output_shape(self, patches_shape, mask_shape=None):
        return (patches_shape[0], UTTERANCE_STATISTICS_SIZE)


def clip_statistics(patches: Mapping[str, np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
    """`UtteranceStatistics` of each clip's patches `[N_i, 96, 64]`: utterance id -> `[336]`.

    The cached input of models trained on precomputed audio embeddings; the
    same layer computes it in the exported models.

    Example:

    >>> import numpy as np
    >>> clip_statistics({"a": np.zeros([2, 96, 64], "float32")})["a"].shape
    (336,)
    """
    layer = UtteranceStatistics()
    keys = sorted(patches, key=lambda key: (len(patches[key]), key))
    result = {}
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        longest = max(len(patches[key]) for key in chunk)
        padded = np.zeros([len(chunk), longest, *np.shape(patches[chunk[0]])[1:]], np.float32)
        mask = np.zeros([len(chunk), longest], bool)
        for row, key in enumerate(chunk):
            padded[row, : len(patches[key])] = patches[key]
            mask[row, : len(patches[key])] = True
        values = keras.ops.convert_to_numpy(layer(padded, mask))
        result.update(zip(chunk, values))
    return result
