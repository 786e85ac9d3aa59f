"""The int8 TFLite variant: what stays float32, and the conversion that keeps it so.

int8 weights and activations are calibrated on a representative dataset (clips of the
training data, `ser_keras.export.representative`). Two parts stay float32
(`int8_float_part` says which, and the bundle's metadata records it):

- the attention-score ops (`FLOAT_OPS_IN_INT8`), everywhere: Keras masks attention by
  filling padded positions with -1e9 before the softmax, and an int8 range calibrated on
  that fill value rounds every real score to the same number (the model then attends
  uniformly and its predictions collapse). These ops hold no weights.
- the text encoder (the keras-hub backbone: embeddings and transformer layers), unless
  `int8_text="int8"`: int8 activations through a deep encoder add up (a 6-layer MiniLM
  teacher keeps the float model's class on only 80% of the demo test clips). The audio
  branch (VGGish, most of the parameters) and the fusion head are int8. `int8_text="int8"`
  gives the smallest, full-integer file.

Example:

>>> FLOAT_OPS_IN_INT8
('BATCH_MATMUL', 'TRANSPOSE', 'SELECT_V2', 'SOFTMAX')
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from collections.abc import Sequence

import tensorflow as tf

from ser_keras.export.layout import KERAS_MODEL_FILE, ModelPathError, find_saved_model, read_metadata, side_files_dir

logger = logging.getLogger(__name__)

#: TFLite ops kept in float32 by the int8 variant (masked attention scores; see above).
FLOAT_OPS_IN_INT8: tuple[str, ...] = ("BATCH_MATMUL", "TRANSPOSE", "SELECT_V2", "SOFTMAX")

#: `int8_text` choices of the int8 variant: text encoder in float32 (default) or int8 too.
INT8_TEXT_MODES: tuple[str, ...] = ("float", "int8")


def text_encoder_layer_names(saved_model_dir: str | os.PathLike) -> list[str]:
    """The names of an exported model's text-encoder layers (its keras-hub backbones).

    Read from the architecture in the export's `assets.extra/model.keras`
    (its `config.json`; no weights are loaded). A layer counts when its class
    is a `keras_hub.models.Backbone`.

    Raises:
        ModelPathError: the export has no readable `model.keras`.

    Example:

    >>> text_encoder_layer_names("saved_models/demo/export/teacher")  # doctest: +SKIP
    ['bert_backbone']
    """
    import keras
    import keras_hub

    keras_file = side_files_dir(find_saved_model(saved_model_dir)) / KERAS_MODEL_FILE
    try:
        with zipfile.ZipFile(keras_file) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
    except (OSError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ModelPathError(
            keras_file,
            f"cannot read the model's layers ({type(error).__name__}: {error}); export the model "
            "again with ser_keras.export.export_model, or quantize the text encoder too "
            "(int8_text='int8', convert.py --int8-text int8).",
        ) from error
    names = []
    for layer in layers:
        layer_class = keras.saving.get_registered_object(layer.get("registered_name") or "")
        if isinstance(layer_class, type) and issubclass(layer_class, keras_hub.models.Backbone):
            names.append(layer["config"]["name"])
    return names


def int8_float_part(saved_model_dir: str | os.PathLike, int8_text: str = "float") -> dict[str, object]:
    """What the int8 variant of an export keeps in float32 (recorded in the bundle's metadata).

    Args:
        saved_model_dir: an export folder (highest version) or SavedModel folder.
        int8_text: `"float"` keeps the text encoder in float32, `"int8"`
            quantizes it too (see `INT8_TEXT_MODES`).

    Returns:
        `int8_text`, `float_ops` (TFLite op names kept float everywhere,
        `FLOAT_OPS_IN_INT8`) and `float_layers` (the model's layers kept
        entirely float: its text encoder, or none).

    Raises:
        ValueError: an unknown `int8_text`, or a model with text inputs whose
            text encoder is not a keras-hub backbone.
        ModelPathError: the export has no readable `model.keras` (needed
            for `"float"` only).

    Example:

    >>> int8_float_part("saved_models/demo/export/teacher")  # doctest: +SKIP
    {'int8_text': 'float', 'float_ops': ['BATCH_MATMUL', 'TRANSPOSE', 'SELECT_V2', 'SOFTMAX'],
     'float_layers': ['bert_backbone']}
    """
    if int8_text not in INT8_TEXT_MODES:
        raise ValueError(f"int8_text must be one of {INT8_TEXT_MODES}; got {int8_text!r}.")
    float_layers = []
    saved_model_dir = find_saved_model(saved_model_dir)
    if int8_text == "float" and "token_ids" in read_metadata(side_files_dir(saved_model_dir))["input_names"]:
        float_layers = text_encoder_layer_names(saved_model_dir)
        if not float_layers:
            raise ValueError(
                f"The model of {saved_model_dir} reads token ids but has no keras-hub backbone layer "
                "to keep in float32: quantize the text encoder too (int8_text='int8', "
                "convert.py --int8-text int8)."
            )
    return {"int8_text": int8_text, "float_ops": list(FLOAT_OPS_IN_INT8), "float_layers": float_layers}


def layer_tensor_pattern(layer_names: Sequence[str]) -> re.Pattern:
    """Matches the TFLite tensor names inside the given Keras layers.

    The converter names a tensor after the TensorFlow name scopes of the op
    that makes it, `<model>_1/<layer>_1/...`: tracing may append `_<n>` to
    each scope, and fused ops join several names with `;`.

    Example:

    >>> pattern = layer_tensor_pattern(["bert_backbone"])
    >>> bool(pattern.search("teacher_1/bert_backbone_1/transformer_layer_0_1/add"))
    True
    >>> bool(pattern.search("teacher_1/patch_encoder_1/vggish_1/conv1_1/Relu"))
    False
    """
    alternatives = "|".join(re.escape(name) for name in layer_names)
    return re.compile(rf"(?:^|[/;])(?:{alternatives})(?:_\d+)?/")


def quantize_selectively(converter, representative_data, float_layers: Sequence[str]) -> bytes:
    """Calibrates once, then quantizes all but `FLOAT_OPS_IN_INT8` and the ops of `float_layers`."""

    def dataset():
        return (dict(inputs) for inputs in representative_data)

    converter.representative_dataset = dataset
    options = tf.lite.experimental.QuantizationDebugOptions
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=dataset,
        debug_options=options(denylisted_ops=list(FLOAT_OPS_IN_INT8)),
    )
    if float_layers:
        pattern = layer_tensor_pattern(float_layers)
        names = [
            tensor["name"]
            for tensor in tf.lite.Interpreter(model_content=debugger.calibrated_model).get_tensor_details()
            if pattern.search(tensor["name"])
        ]
        if not names:
            raise ValueError(
                f"No op of the layers {list(float_layers)} was found in the converted graph, so they "
                "cannot be kept in float32; quantize the text encoder too (int8_text='int8')."
            )
        logger.info("int8: keeping %d tensors of %s in float32.", len(names), ", ".join(float_layers))
        debugger.options = options(denylisted_ops=list(FLOAT_OPS_IN_INT8), denylisted_nodes=names)
    return debugger.get_nondebug_quantized_model()
