"""VGGish, the audio encoder: a native Keras model with weight import from the originals.

Example:

>>> from ser_keras.vggish import build_vggish
>>> vggish = build_vggish(weights="vggish_model.ckpt")  # doctest: +SKIP
"""

from ser_keras.audio.params import EMBEDDING_SIZE
from ser_keras.vggish.model import build_vggish, vggish_network
from ser_keras.vggish.postprocess import VGGishPostprocessor
from ser_keras.vggish.weights import (
    ORIGINAL_SCOPES,
    ORIGINAL_SHAPES,
    VGGishWeightsError,
    check_vggish_weights,
    load_vggish_weights,
    read_vggish_variables,
)

__all__ = [
    "EMBEDDING_SIZE",
    "ORIGINAL_SCOPES",
    "ORIGINAL_SHAPES",
    "VGGishPostprocessor",
    "VGGishWeightsError",
    "build_vggish",
    "check_vggish_weights",
    "load_vggish_weights",
    "read_vggish_variables",
    "vggish_network",
]
