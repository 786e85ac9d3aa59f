"""Exporting trained models: a TF Serving SavedModel and TFLite (LiteRT) bundles.

`export_model(model, preprocessor, label_names, export_dir, version=1)` writes:

```
<export_dir>/                    TF Serving's model_base_path
  <version>/                     the SavedModel (TF Serving scans numeric folders)
    saved_model.pb, variables/, assets/ (the tokenizer vocabulary), fingerprint.pb
    assets.extra/                side files; the graph and TF Serving ignore them
      model.keras                the Keras model (keras.saving.load_model, after importing ser_keras.models)
      preprocessor/              the text preprocessor (keras-hub save_to_preset)
      metadata.json              label names, input names, sample rate, sequence length,
                                 max_patches, signature names, library versions
  tflite/<version>/              written by tflite_export/convert.py (a self-contained bundle)
    ser_<quantize>.tflite        quantize: none, float16, dynamic, int8
    metadata.json, preprocessor/ copies of the side files above
```

SavedModel signatures:

* `serving_default`: `text` string `[B]`, `waveform` float32 `[B, T]` (16 kHz
  mono, zero-padded after each clip), `waveform_length` int32 `[B]` ->
  `probabilities` float32 `[B, C]`, `label_id` int32 `[B]`, `label` string
  `[B]`. Tokenization and the VGGish log-mel front end run inside the graph.
* `serving_tokens`: `token_ids`, `segment_ids` int32 `[B, L]`, `padding_mask`
  bool `[B, L]`, `audio_patches` float32 `[B, N, 96, 64]`, `audio_mask` bool
  `[B, N]` -> the same outputs. This is the signature converted to TFLite
  (tokenization cannot run in TFLite; `ser_keras.serving` runs it in Python).

Loading the SavedModel needs only `import tensorflow_text` (which registers the
tokenizer ops) before `tf.saved_model.load`.

Example:

>>> from ser_keras.export import export_model, convert_to_tflite
>>> saved_model_dir = export_model(models.raw_model, preprocessor, DEFAULT_LABELS,
...                                "export/ser")  # doctest: +SKIP
>>> tflite_bytes = convert_to_tflite(saved_model_dir, quantize="dynamic")  # doctest: +SKIP
"""

from ser_keras.export.bundle import default_bundle_dir, keras_bundle_dir, write_tflite_bundle
from ser_keras.export.inputs import MODEL_INPUT_NAMES, clip_model_inputs, load_export_preprocessor
from ser_keras.export.int8 import FLOAT_OPS_IN_INT8, INT8_TEXT_MODES, int8_float_part
from ser_keras.export.interpreter import TFLiteModel
from ser_keras.export.keras_file import export_keras_model_file, is_keras_model_file
from ser_keras.export.layout import (
    RAW_SIGNATURE,
    TOKENS_SIGNATURE,
    ModelPathError,
    find_saved_model,
    read_metadata,
    side_files_dir,
)
from ser_keras.export.parity import compare_predictions
from ser_keras.export.representative import representative_inputs
from ser_keras.export.saved_model import batch_audio_patches, export_model, load_tokens_signature
from ser_keras.export.tflite import QUANTIZATION_MODES, convert_to_tflite

__all__ = [
    "FLOAT_OPS_IN_INT8",
    "INT8_TEXT_MODES",
    "MODEL_INPUT_NAMES",
    "QUANTIZATION_MODES",
    "RAW_SIGNATURE",
    "TOKENS_SIGNATURE",
    "ModelPathError",
    "TFLiteModel",
    "batch_audio_patches",
    "clip_model_inputs",
    "compare_predictions",
    "convert_to_tflite",
    "default_bundle_dir",
    "export_keras_model_file",
    "export_model",
    "find_saved_model",
    "int8_float_part",
    "is_keras_model_file",
    "keras_bundle_dir",
    "load_export_preprocessor",
    "load_tokens_signature",
    "read_metadata",
    "representative_inputs",
    "side_files_dir",
    "write_tflite_bundle",
]
