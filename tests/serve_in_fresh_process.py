"""Runs an exported SavedModel in a fresh Python process with TensorFlow alone.

    python tests/serve_in_fresh_process.py SAVED_MODEL_DIR INPUTS.npz OUTPUTS.npz

`INPUTS.npz` holds `text`, `waveform` and `waveform_length` (the
`serving_default` signature's inputs) and, optionally, the token-level inputs
of `serving_tokens`. `OUTPUTS.npz` gets every output of each signature that
was run, as `<signature>/<output>`, the signature names (`signatures`) and the
project modules this process imported (`foreign_modules`: must be empty, a
served model needs no ser_keras or keras_hub).
"""

import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

RAW_INPUTS = ("text", "waveform", "waveform_length")


def main(saved_model_dir: str, inputs_path: str, outputs_path: str) -> None:
    data = np.load(inputs_path)
    loaded = tf.saved_model.load(saved_model_dir)
    outputs = {}
    for name, signature in loaded.signatures.items():
        wanted = signature.structured_input_signature[1]
        if name != "serving_default" and not set(wanted) <= set(data.files):
            continue
        keys = RAW_INPUTS if name == "serving_default" else wanted
        results = signature(**{key: tf.constant(data[key]) for key in keys})
        for key, value in results.items():
            value = value.numpy()
            outputs[f"{name}/{key}"] = value.astype(str) if value.dtype == object else value  # strings: no pickle
    foreign = sorted(module for module in sys.modules if module.split(".")[0] in ("ser_keras", "keras_hub"))
    np.savez(
        outputs_path, **outputs, signatures=np.array(sorted(loaded.signatures)),
        foreign_modules=np.array(foreign, dtype=str),
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
