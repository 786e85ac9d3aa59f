"""The optional VGGish postprocessor: PCA, clipping and 8-bit quantisation.

As in the original release (`vggish_pca_params.npz` with `pca_eigen_vectors`
`[128, 128]` and `pca_means` `[128, 1]` or `[128]`): `E @ (x - mean)`, clipped to
[-2, 2], mapped to [0, 255] and truncated to integers (the original's cast to uint8). The result stays float32 so that it can
feed the fusion head.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

from ser_keras.audio import params

PCA_EIGEN_VECTORS_NAME = "pca_eigen_vectors"
PCA_MEANS_NAME = "pca_means"
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0


@keras.saving.register_keras_serializable(package="ser_keras")
class VGGishPostprocessor(keras.layers.Layer):
    """PCA-whitens, clips and 8-bit quantises VGGish embeddings (non-trainable).

    Args:
        eigen_vectors: `[128, 128]` PCA matrix (rows are components).
        means: `[128]` (or `[128, 1]`) PCA means.

    Example:

    >>> layer = VGGishPostprocessor(np.eye(128), np.zeros(128))
    >>> float(layer(np.full([1, 128], 2.0, "float32"))[0, 0])
    255.0
    """

    def __init__(self, eigen_vectors, means, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.eigen_vectors = np.asarray(eigen_vectors, dtype="float32")
        self.means = np.asarray(means, dtype="float32").reshape(-1)
        expected = (params.EMBEDDING_SIZE, params.EMBEDDING_SIZE)
        if self.eigen_vectors.shape != expected or self.means.shape != (params.EMBEDDING_SIZE,):
            raise ValueError(
                f"PCA parameters must be {expected} eigen vectors and {params.EMBEDDING_SIZE} "
                f"means; got {self.eigen_vectors.shape} and {self.means.shape}."
            )

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> "VGGishPostprocessor":
        """Reads `vggish_pca_params.npz`.

        Example:

        >>> layer = VGGishPostprocessor.from_file("vggish_pca_params.npz")  # doctest: +SKIP
        """
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return cls(arrays[PCA_EIGEN_VECTORS_NAME], arrays[PCA_MEANS_NAME], **kwargs)
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(
                f"Cannot read VGGish PCA parameters from '{path}': {error}. Expected an .npz "
                f"with '{PCA_EIGEN_VECTORS_NAME}' and '{PCA_MEANS_NAME}'."
            ) from error

    def call(self, embeddings):
        centered = embeddings - ops.convert_to_tensor(self.means)
        projected = ops.matmul(centered, ops.transpose(ops.convert_to_tensor(self.eigen_vectors)))
        clipped = ops.clip(projected, QUANTIZE_MIN, QUANTIZE_MAX)
        scaled = (clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
        return ops.floor(scaled)

    def get_config(self):
        config = super().get_config()
        config.update(
            eigen_vectors=self.eigen_vectors.tolist(), means=self.means.tolist()
        )
        return config
