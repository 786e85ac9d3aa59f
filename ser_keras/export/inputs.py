"""Model inputs for one clip, as the `serving_tokens` signature and the TFLite model take them.

Tokenization and the VGGish front end run here, in Python, for runtimes that
cannot run them in the graph (TFLite) and for calibration data.

Example:

>>> inputs = clip_model_inputs(preprocessor, waveform, "I'm fine.")  # doctest: +SKIP
>>> inputs["audio_patches"].shape  # doctest: +SKIP
(1, 3, 96, 64)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ser_keras.audio import params, waveform_to_examples
from ser_keras.export.layout import PREPROCESSOR_CONFIG_FILE, PREPROCESSOR_DIR, ModelPathError

#: The inputs of a raw-input model with the audio encoder inside (`ser_keras.models`).
MODEL_INPUT_NAMES: tuple[str, ...] = (
    "token_ids",
    "segment_ids",
    "padding_mask",
    "audio_patches",
    "audio_mask",
)
#: The text inputs alone: a text-only model's.
TEXT_INPUT_NAMES: tuple[str, ...] = MODEL_INPUT_NAMES[:3]
#: The audio inputs alone: an audio-only model's.
AUDIO_INPUT_NAMES: tuple[str, ...] = MODEL_INPUT_NAMES[3:]


def clip_model_inputs(
    preprocessor: Callable[[tf.Tensor], Mapping[str, tf.Tensor]],
    waveform: np.ndarray | None,
    text: str,
    input_names: Sequence[str] = MODEL_INPUT_NAMES,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
) -> dict[str, np.ndarray]:
    """Batch-of-one model inputs for a 16 kHz mono waveform and its transcript.

    Args:
        preprocessor: the model's text preprocessor (string tensor `[B]` in,
            `token_ids`/`segment_ids`/`padding_mask` out).
        waveform: float32 samples at 16 kHz, shape `[samples]`; `None`
            when `input_names` has no audio input.
        text: the transcript ("" when there is none).
        input_names: the inputs the model takes (a text-only or audio-only
            model takes a subset); only these are computed.
        max_patches: cap on 0.96 s audio patches, as in the export.

    Returns:
        A dict of numpy arrays with a leading batch axis of 1: int32 token ids
        and segment ids, bool masks, float32 patches `[1, N, 96, 64]`.

    Example:

    >>> clip_model_inputs(preprocessor, np.zeros(16000, "float32"), "")["audio_mask"]  # doctest: +SKIP
    array([[ True]])
    """
    unknown = sorted(set(input_names) - set(MODEL_INPUT_NAMES))
    if unknown:
        raise ValueError(
            f"Unknown model inputs {unknown}: a raw-input model takes {list(MODEL_INPUT_NAMES)}."
        )
    inputs: dict[str, np.ndarray] = {}
    if any(name in input_names for name in TEXT_INPUT_NAMES):
        tokens = preprocessor(tf.constant([text]))
        inputs["token_ids"] = np.asarray(tokens["token_ids"], np.int32)
        inputs["segment_ids"] = np.asarray(tokens["segment_ids"], np.int32)
        inputs["padding_mask"] = np.asarray(tokens["padding_mask"], bool)
    if any(name in input_names for name in AUDIO_INPUT_NAMES):
        if waveform is None:
            raise ValueError(f"The model inputs {list(input_names)} include audio: pass the clip's waveform.")
        patches = waveform_to_examples(waveform, params.SAMPLE_RATE, max_patches=max_patches).numpy()
        inputs["audio_patches"] = patches[np.newaxis]
        inputs["audio_mask"] = np.ones((1, patches.shape[0]), bool)
    return {name: inputs[name] for name in input_names}


def load_export_preprocessor(directory: str | os.PathLike):
    """Loads the text preprocessor saved in an export's side files or a TFLite bundle.

    The folder `preprocessor/` is what keras-hub's `save_to_preset` writes for
    a preprocessor alone (`preprocessor.json`, `tokenizer.json`, the vocabulary
    under `assets/`); it has no backbone `config.json`, so it is rebuilt from
    its config and its assets are loaded, as keras-hub's preset loader does.

    Args:
        directory: the folder holding `preprocessor/` (a SavedModel's
            `assets.extra/`, or a TFLite bundle).

    Raises:
        ModelPathError: there is no readable `preprocessor/preprocessor.json`.

    Example:

    >>> preprocessor = load_export_preprocessor("export/ser/1/assets.extra")  # doctest: +SKIP
    """
    import keras

    import ser_keras.text  # noqa: F401  (registers TranscriptPreprocessor)

    preset = Path(directory) / PREPROCESSOR_DIR
    config_path = preset / PREPROCESSOR_CONFIG_FILE
    if not config_path.is_file():
        raise ModelPathError(
            directory,
            f"it has no {PREPROCESSOR_DIR}/{PREPROCESSOR_CONFIG_FILE} (the text preprocessor); "
            "export the model with ser_keras.export.export_model (TFLite bundles: "
            "tflite_export/convert.py).",
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        preprocessor = keras.saving.deserialize_keras_object(config)
    except (OSError, ValueError, TypeError) as error:
        raise ModelPathError(config_path, f"cannot rebuild the text preprocessor ({error}).") from error
    preprocessor.load_preset_assets(str(preset))
    return preprocessor
