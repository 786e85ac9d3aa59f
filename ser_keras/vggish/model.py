"""A native Keras 3 VGGish, layer for layer as the original TF-Slim model.

`[N, 96, 64]` log-mel patches in, `[N, 128]` raw embeddings out; 72,141,184
parameters. All convolutions are 3x3, stride 1, SAME padding, ReLU; all pools are
2x2, stride 2, SAME padding; the embedding layer `fc2` is linear, as in the
current original release.
"""

from __future__ import annotations

import logging
import os

import keras
from keras import layers

from ser_keras.audio import params
from ser_keras.vggish.postprocess import VGGishPostprocessor
from ser_keras.vggish.weights import WEIGHTS_HELP, load_vggish_weights

logger = logging.getLogger(__name__)

_warned_random = False


#: The original training initialiser, N(0, 0.01) truncated.
ORIGINAL_INITIALIZER = "original"


def _initializer(kind: str) -> keras.initializers.Initializer:
    if kind == ORIGINAL_INITIALIZER:
        return keras.initializers.TruncatedNormal(stddev=0.01)
    return keras.initializers.get(kind)


def _conv(filters: int, name: str, initializer: str) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        kernel_size=3,
        strides=1,
        padding="same",
        activation="relu",
        kernel_initializer=_initializer(initializer),
        name=name,
    )


def _pool(name: str) -> layers.MaxPooling2D:
    return layers.MaxPooling2D(pool_size=2, strides=2, padding="same", name=name)


def _dense(units: int, name: str, initializer: str, activation: str | None = "relu") -> layers.Dense:
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=_initializer(initializer),
        name=name,
    )


def vggish_network(name: str = "vggish", initializer: str = "he_normal") -> keras.Model:
    """Builds the VGGish network with random weights.

    Args:
        name: the model's name.
        initializer: the kernels' random initialiser. The default, He-normal,
            keeps activations of order 1 through the 9 layers, so that an
            untrained VGGish is a usable random-feature extractor (its
            embeddings carry the log-mel information at a scale the fusion
            head's LayerNorm can use). `"original"` is the original release's
            training initialiser, N(0, 0.01), whose untrained embeddings are of
            order 1e-6. Pretrained weights replace either.

    Example:

    >>> model = vggish_network()
    >>> model.count_params()
    72141184
    """
    inputs = keras.Input((params.NUM_FRAMES, params.NUM_BANDS), name="log_mel_patches")
    x = layers.Reshape((params.NUM_FRAMES, params.NUM_BANDS, 1), name="add_channel")(inputs)
    x = _conv(64, "conv1", initializer)(x)
    x = _pool("pool1")(x)
    x = _conv(128, "conv2", initializer)(x)
    x = _pool("pool2")(x)
    x = _conv(256, "conv3_1", initializer)(x)
    x = _conv(256, "conv3_2", initializer)(x)
    x = _pool("pool3")(x)
    x = _conv(512, "conv4_1", initializer)(x)
    x = _conv(512, "conv4_2", initializer)(x)
    x = _pool("pool4")(x)
    x = layers.Flatten(name="flatten")(x)
    x = _dense(4096, "fc1_1", initializer)(x)
    x = _dense(4096, "fc1_2", initializer)(x)
    embeddings = _dense(params.EMBEDDING_SIZE, "fc2", initializer, activation=None)(x)
    return keras.Model(inputs, embeddings, name=name)


def _warn_random_once() -> None:
    global _warned_random
    if not _warned_random:
        logger.warning(
            "VGGish is randomly initialised: audio embeddings carry no pretrained "
            "knowledge. For real weights, %s.",
            WEIGHTS_HELP,
        )
        _warned_random = True


def build_vggish(
    weights: str | os.PathLike | None = None,
    pca_params: str | os.PathLike | None = None,
    name: str = "vggish",
) -> keras.Model:
    """Builds VGGish, optionally with pretrained weights and the PCA postprocessor.

    Args:
        weights: `None` for random weights (with one warning saying how to get
            real ones); a TF1 checkpoint (`vggish_model.ckpt`, V1 file or V2
            prefix); a local SavedModel directory of `google/vggish/1`; or a
            TF-Hub handle (downloaded through `tensorflow_hub`).
        pca_params: optional `vggish_pca_params.npz`; when given, the original
            PCA + clip + 8-bit quantisation postprocessor is appended (off by
            default: 3M-SER's later versions use raw embeddings).
        name: the model's name.

    Returns:
        A Keras model mapping `[N, 96, 64]` patches to `[N, 128]` embeddings.

    Example:

    >>> vggish = build_vggish()  # random weights, warns once
    >>> vggish(np.zeros([2, 96, 64], "float32")).shape  # doctest: +SKIP
    TensorShape([2, 128])
    """
    network = vggish_network(name=name)
    if weights is None:
        _warn_random_once()
    else:
        load_vggish_weights(network, weights)
    if pca_params is None:
        return network
    outputs = VGGishPostprocessor.from_file(pca_params)(network.output)
    return keras.Model(network.input, outputs, name=name)
