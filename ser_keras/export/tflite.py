"""TFLite (LiteRT) conversion of the `serving_tokens` signature; the TFLite names in one place.

Four variants, as `quantize`:

* `"none"`: float32, numerically the SavedModel (max abs diff ~1e-7);
* `"float16"`: float16 weights (half the size), float32 compute;
* `"dynamic"`: int8 weights, activations quantized on the fly;
* `"int8"`: int8 weights and activations, calibrated on a representative
  dataset (clips of the training data). Inputs and outputs stay float32 /
  int32 / bool. The attention-score ops and, unless `int8_text="int8"`, the
  text encoder stay float32 (`ser_keras.export.int8` says why).

Tokenization and the log-mel front end stay outside the TFLite graph (token
ids and patches in); `clip_model_inputs` computes them.

This module converts; the other TFLite jobs have a module each, and their
public names can be imported from here too:

* `keras_file`: a bare `.keras` file written as an export first
  (`export_keras_model_file`, `is_keras_model_file`);
* `int8`: what the int8 variant keeps in float32 (`int8_float_part`) and the
  selective quantization;
* `representative`: the calibration inputs (`representative_inputs`);
* `bundle`: the folder that serves a `.tflite` file (`write_tflite_bundle`);
* `interpreter`: running a `.tflite` file (`TFLiteModel`);
* `parity`: how closely it follows the float model (`compare_predictions`).

Example:

>>> calibration = representative_inputs(train_utterances, preprocessor)  # doctest: +SKIP
>>> content = convert_to_tflite("export/ser/1", "int8", calibration)  # doctest: +SKIP
>>> model = TFLiteModel(content)  # doctest: +SKIP
>>> model(clip_model_inputs(preprocessor, waveform, "Hi."))["probabilities"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from ser_keras.export.bundle import (
    TFLITE_METADATA_KEY,
    default_bundle_dir,
    keras_bundle_dir,
    tflite_file_name,
    write_tflite_bundle,
)
from ser_keras.export.int8 import (
    FLOAT_OPS_IN_INT8,
    INT8_TEXT_MODES,
    int8_float_part,
    layer_tensor_pattern,
    quantize_selectively,
    text_encoder_layer_names,
)
from ser_keras.export.interpreter import LITERT_INSTALL_COMMAND, TFLiteModel
from ser_keras.export.keras_file import KERAS_SUFFIX, export_keras_model_file, is_keras_model_file
from ser_keras.export.layout import TOKENS_SIGNATURE, find_saved_model
from ser_keras.export.parity import compare_predictions
from ser_keras.export.representative import representative_inputs

__all__ = [
    "FLOAT_OPS_IN_INT8",
    "INT8_TEXT_MODES",
    "KERAS_SUFFIX",
    "LITERT_INSTALL_COMMAND",
    "QUANTIZATION_MODES",
    "TFLITE_METADATA_KEY",
    "TFLiteModel",
    "compare_predictions",
    "convert_to_tflite",
    "default_bundle_dir",
    "export_keras_model_file",
    "int8_float_part",
    "is_keras_model_file",
    "keras_bundle_dir",
    "layer_tensor_pattern",
    "representative_inputs",
    "text_encoder_layer_names",
    "tflite_file_name",
    "write_tflite_bundle",
]

logger = logging.getLogger(__name__)

QUANTIZATION_MODES: tuple[str, ...] = ("none", "float16", "dynamic", "int8")


def convert_to_tflite(
    saved_model_dir: str | os.PathLike,
    quantize: str = "none",
    representative_data: Sequence[Mapping[str, np.ndarray]] | None = None,
    int8_text: str = "float",
) -> bytes:
    """Converts the `serving_tokens` signature of an exported SavedModel to a TFLite flatbuffer.

    Args:
        saved_model_dir: an export folder (highest version) or SavedModel folder.
        quantize: one of `QUANTIZATION_MODES`.
        representative_data: batch-of-one input dicts (see
            `representative_inputs`); required for `"int8"`, unused otherwise.
        int8_text: for `"int8"`: `"float"` keeps the text encoder in float32
            (see `int8_float_part`), `"int8"` quantizes it too (a smaller
            file, further from the float model).

    Returns:
        The TFLite model, with one signature named `serving_tokens`.

    Example:

    >>> len(convert_to_tflite("export/ser", "float16")) > 0  # doctest: +SKIP
    True
    """
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops of the other signature)

    if quantize not in QUANTIZATION_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZATION_MODES}; got {quantize!r}.")
    if quantize == "int8" and not representative_data:
        raise ValueError(
            "quantize='int8' calibrates activations on a representative dataset: pass "
            "representative_data (see representative_inputs)."
        )
    saved_model_dir = find_saved_model(saved_model_dir)
    float_part = int8_float_part(saved_model_dir, int8_text) if quantize == "int8" else None
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=[TOKENS_SIGNATURE]
    )
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    with warnings.catch_warnings():
        # int8 calibration runs TensorFlow's own (deprecated) interpreter internally.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        if quantize == "int8":
            content = quantize_selectively(converter, representative_data, float_part["float_layers"])
        else:
            content = converter.convert()
    logger.info("Converted %s to TFLite (%s): %.2f MB.", saved_model_dir, quantize, len(content) / 1e6)
    return content
