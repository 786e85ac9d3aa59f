"""A compact audio encoder that trains from the labels: small CNN + patch statistics.

Without pretrained weights VGGish is a frozen random map of 72 M parameters
that throws away most of what its log-mel input carries (docs/RESULTS.md). The
compact encoder takes the same `[N, 96, 64]` log-mel patches and returns one
128-d embedding per patch, so it goes wherever VGGish goes (fusion head,
encoder cache, exports), but it is small enough to train on a CPU:

* `BandStandardization`: per-band standardisation with statistics of the
  training patches (non-trainable weights, exported with the model);
* a CNN of 3x3 convolutions (widths `conv_widths`, batch norm over the global
  batch, ReLU, 2x2 max pooling between blocks), globally average- and max-pooled;
* `PatchStatistics` of the standardised patch (per band: mean, standard
  deviation, 10-90 percentile range and the standard deviation of
  frame-to-frame differences), the prosodic summary a linear probe reads;
* both concatenated and projected to `embedding_size` by one Dense layer.

Candidates measured on the demo corpus (docs/RESULTS.md) are the arguments of
this one builder: `conv_widths=()` keeps the statistics only,
`statistics=False` the CNN only.

Example:

>>> import numpy as np
>>> encoder = build_compact_audio_encoder()
>>> tuple(encoder(np.zeros([3, 96, 64], "float32")).shape)
(3, 128)
>>> encoder.count_params() < 2_000_000
True
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from ser_keras.audio.params import EMBEDDING_SIZE, NUM_BANDS, NUM_FRAMES
from ser_keras.models.frame_statistics import frame_statistics

#: The default CNN widths (the measured "conv+stats" candidate).
DEFAULT_CONV_WIDTHS: tuple[int, ...] = (8, 16, 32, 64)

#: Batch-norm momentum: a corpus of a few hundred clips gives few steps per epoch,
#: so the moving statistics must settle within an epoch or two (Keras' 0.99 does not).
BATCH_NORM_MOMENTUM = 0.9

#: Name of the standardisation layer (`set_band_statistics` looks it up).
STANDARDIZATION_LAYER = "band_standardization"


def _batch_norm(name: str) -> layers.BatchNormalization:
    """Batch norm over the GLOBAL batch: under `tf.distribute` every replica normalises with the
    statistics of all replicas' patches, so each keeps the same moving statistics (otherwise each
    worker would embed clips with its own) and N replicas train as one device on the global batch.
    """
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, synchronized=True, name=name)


@keras.saving.register_keras_serializable(package="ser_keras")
class BandStandardization(layers.Layer):
    """`(x - mean) / std` per mel band, with non-trainable statistics.

    The statistics are weights (so they are saved, exported and part of the
    encoder cache's weight fingerprint); set them from training patches with
    `set_band_statistics`.

    Example:

    >>> import numpy as np
    >>> layer = BandStandardization()
    >>> layer.build((None, 96, 64))
    >>> float(layer(np.ones([1, 96, 64], "float32")).numpy().max())
    1.0
    """

    def build(self, input_shape):
        bands = input_shape[-1]
        self.mean = self.add_weight(shape=(bands,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(bands,), initializer="ones", trainable=False, name="std")

    def call(self, inputs):
        return (inputs - self.mean) / self.std

    def set_statistics(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sets the mean and std (floored at 1e-3) to those of `values` `[N, D]`, per column; returns them.

        Example:

        >>> layer = BandStandardization()
        >>> layer.build((None, 2))
        >>> [value.tolist() for value in layer.set_statistics(np.array([[0.0, 1.0], [2.0, 1.0]]))]
        [[1.0, 1.0], [1.0, 0.0010000000474974513]]
        """
        values = np.asarray(values, np.float64)
        mean = values.mean(axis=0).astype(np.float32)
        std = np.maximum(values.std(axis=0), 1e-3).astype(np.float32)
        self.mean.assign(mean)
        self.std.assign(std)
        return mean, std


@keras.saving.register_keras_serializable(package="ser_keras")
class PatchStatistics(layers.Layer):
    """Per-band summary statistics of `[B, T, F]` patches: `[B, 4 * F]`.

    Per band, over the `T` frames: mean, standard deviation, the range
    between the 10th and 90th percentiles, and the standard deviation of the
    frame-to-frame differences (`T >= 2`; `frame_statistics`, as in
    `UtteranceStatistics`).

    Example:

    >>> import numpy as np
    >>> patch = np.tile(np.arange(10, dtype="float32")[None, :, None], (1, 1, 2))
    >>> [round(float(value), 3) for value in PatchStatistics()(patch).numpy()[0]]
    [4.5, 4.5, 2.872, 2.872, 7.0, 7.0, 0.0, 0.0]
    """

    def call(self, patches):
        return frame_statistics(patches)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 4 * input_shape[-1])


def build_compact_audio_encoder(
    conv_widths: Sequence[int] = DEFAULT_CONV_WIDTHS,
    statistics: bool = True,
    embedding_size: int = EMBEDDING_SIZE,
    name: str = "compact_audio",
) -> keras.Model:
    """Builds the compact per-patch audio encoder `[N, 96, 64] -> [N, embedding_size]`.

    Args:
        conv_widths: filters of the 3x3 convolution blocks (`()`: no CNN).
        statistics: add the `PatchStatistics` branch.
        embedding_size: output width (128, like VGGish).
        name: the model's name.

    Raises:
        ValueError: when neither branch is selected.

    Example:

    >>> stats_only = build_compact_audio_encoder(conv_widths=())
    >>> stats_only.count_params()  # band statistics 2 x 64, batch norm 4 x 256, Dense 256 -> 128
    34048
    """
    conv_widths = tuple(conv_widths)
    if not conv_widths and not statistics:
        raise ValueError("The compact audio encoder needs conv_widths, statistics, or both.")
    patches = keras.Input((NUM_FRAMES, NUM_BANDS), name="log_mel_patches")
    standardized = BandStandardization(name=STANDARDIZATION_LAYER)(patches)
    branches = []
    if conv_widths:
        x = layers.Reshape((NUM_FRAMES, NUM_BANDS, 1), name="add_channel")(standardized)
        for index, width in enumerate(conv_widths):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{index + 1}")(x)
            x = _batch_norm(f"conv{index + 1}_bn")(x)
            x = layers.ReLU(name=f"conv{index + 1}_relu")(x)
            if index < len(conv_widths) - 1:
                x = layers.MaxPooling2D(2, name=f"pool{index + 1}")(x)
        branches += [layers.GlobalAveragePooling2D(name="conv_mean")(x), layers.GlobalMaxPooling2D(name="conv_max")(x)]
    if statistics:
        summary = PatchStatistics(name="patch_statistics")(standardized)
        branches.append(_batch_norm("statistics_bn")(summary))
    joined = branches[0] if len(branches) == 1 else layers.Concatenate(name="branches")(branches)
    embeddings = layers.Dense(embedding_size, name="embedding")(joined)
    return keras.Model(patches, embeddings, name=name)


def set_band_statistics(encoder: keras.Model, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sets the encoder's input standardisation to the per-band mean and std of `patches`.

    Args:
        encoder: from `build_compact_audio_encoder`.
        patches: training patches `[N, 96, 64]` (real ones, no padding).

    Returns:
        The `(mean, std)` set, each `[64]`.

    Example:

    >>> import numpy as np
    >>> encoder = build_compact_audio_encoder(conv_widths=())
    >>> mean, std = set_band_statistics(encoder, np.random.default_rng(0).normal(3, 2, [50, 96, 64]))
    >>> round(float(mean.mean()), 1), round(float(std.mean()), 1)
    (3.0, 2.0)
    """
    return encoder.get_layer(STANDARDIZATION_LAYER).set_statistics(np.reshape(patches, (-1, patches.shape[-1])))
