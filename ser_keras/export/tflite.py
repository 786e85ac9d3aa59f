"""TFLite (LiteRT) conversion of the `serving_tokens` signature, and running the result.

Four variants, as `quantize`:

* `"none"`: float32, numerically the SavedModel (max abs diff ~1e-7);
* `"float16"`: float16 weights (half the size), float32 compute;
* `"dynamic"`: int8 weights, activations quantized on the fly;
* `"int8"`: int8 weights and activations, calibrated on a representative
  dataset (clips of the training data). Inputs and outputs stay float32 /
  int32 / bool. Two parts stay float32 (`int8_float_part` says which):

  - the attention-score ops (`FLOAT_OPS_IN_INT8`), everywhere: Keras masks
    attention by filling padded positions with -1e9 before the softmax, and
    an int8 range calibrated on that fill value rounds every real score to
    the same number (the model then attends uniformly and its predictions
    collapse). These ops hold no weights.
  - the text encoder (the keras-hub backbone: embeddings and transformer
    layers), unless `int8_text="int8"`: int8 activations through a deep
    encoder add up (a 6-layer MiniLM teacher keeps the float model's class
    on only 80% of the demo test clips). The audio branch (VGGish, most of
    the parameters) and the fusion head are int8. `int8_text="int8"` gives
    the smallest, full-integer file.

Tokenization and the log-mel front end stay outside the TFLite graph (token
ids and patches in); `clip_model_inputs` computes them.

A bare Keras model file (`.keras`, e.g. the `model.keras` in an export's
`assets.extra/`) converts too: `export_keras_model_file` first writes it as a
SavedModel, with its text preprocessor and label names taken from the
arguments or from the export side files beside it.

Example:

>>> calibration = representative_inputs(train_utterances, preprocessor)  # doctest: +SKIP
>>> content = convert_to_tflite("export/ser/1", "int8", calibration)  # doctest: +SKIP
>>> model = TFLiteModel(content)  # doctest: +SKIP
>>> model(clip_model_inputs(preprocessor, waveform, "Hi."))["probabilities"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ser_keras.audio import AudioReadError, load_audio, params
from ser_keras.export.atomic import atomic_write
from ser_keras.export.inputs import MODEL_INPUT_NAMES, clip_model_inputs, load_export_preprocessor
from ser_keras.export.layout import (
    KERAS_MODEL_FILE,
    METADATA_FILE,
    PREPROCESSOR_DIR,
    TFLITE_DIR,
    TFLITE_SUFFIX,
    TOKENS_SIGNATURE,
    ModelPathError,
    find_saved_model,
    read_metadata,
    side_files_dir,
)
from ser_keras.export.saved_model import export_model

logger = logging.getLogger(__name__)

QUANTIZATION_MODES: tuple[str, ...] = ("none", "float16", "dynamic", "int8")

#: TFLite ops kept in float32 by the int8 variant (masked attention scores; see above).
FLOAT_OPS_IN_INT8: tuple[str, ...] = ("BATCH_MATMUL", "TRANSPOSE", "SELECT_V2", "SOFTMAX")

#: `int8_text` choices of the int8 variant: text encoder in float32 (default) or int8 too.
INT8_TEXT_MODES: tuple[str, ...] = ("float", "int8")

#: The key of a TFLite bundle's `metadata.json` that describes each `.tflite` file's conversion.
TFLITE_METADATA_KEY = "tflite"

LITERT_INSTALL_COMMAND = "pip install ai-edge-litert"

KERAS_SUFFIX = ".keras"


def is_keras_model_file(path: str | os.PathLike) -> bool:
    """Whether a `--model` path names a model file rather than an export or SavedModel folder.

    A `.keras` path (a missing one too) or any existing file counts, so that
    `export_keras_model_file` reports what is wrong with it.

    Example:

    >>> is_keras_model_file("runs/demo/export/teacher/1/assets.extra/model.keras")
    True
    >>> is_keras_model_file("/tmp")
    False
    """
    path = Path(path)
    return path.suffix == KERAS_SUFFIX or path.is_file()


def keras_bundle_dir(keras_path: str | os.PathLike) -> Path:
    """The default TFLite bundle folder of a bare `.keras` file: `<its folder>/tflite/<stem>`.

    Example:

    >>> keras_bundle_dir("checkpoints/student.keras").as_posix()
    'checkpoints/tflite/student'
    """
    keras_path = Path(keras_path)
    return keras_path.parent / TFLITE_DIR / keras_path.stem


def _load_keras_model(path: Path):
    import keras

    import ser_keras.models  # noqa: F401  (registers the 3M-SER layers)
    import ser_keras.vggish  # noqa: F401  (registers the VGGish front-end layers)

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises ValueError, OSError, zipfile errors, ...
        raise ModelPathError(path, f"not a readable Keras model file ({type(error).__name__}: {error}).") from error


def _check_vocabulary(model, preprocessor, path: Path) -> None:
    """Fails when the tokenizer's ids do not fit the model's text encoder (a wrong preset)."""
    sizes = {
        layer.vocabulary_size
        for layer in model.layers
        if isinstance(getattr(layer, "vocabulary_size", None), int)
    }
    tokenizer_size = preprocessor.tokenizer.vocabulary_size()
    if sizes and tokenizer_size not in sizes:
        raise ValueError(
            f"The text preprocessor has {tokenizer_size} tokens but the text encoder of {path} "
            f"has {sorted(sizes)[0]}: pass the text preset the model was trained with."
        )


def export_keras_model_file(
    keras_path: str | os.PathLike,
    export_dir: str | os.PathLike,
    *,
    label_names: Sequence[str] | None = None,
    text_preset: str | None = None,
    sequence_length: int | None = None,
) -> Path:
    """Writes a bare `.keras` raw-input model as an export (SavedModel and side files).

    The converter needs what a `.keras` file lacks: the label names and, for a
    model with text inputs, the text preprocessor. Arguments win; otherwise
    they come from the export side files beside the file (`metadata.json`,
    `preprocessor/`), as in a SavedModel's `assets.extra/`.

    Args:
        keras_path: the `.keras` file (from `export_model` or `model.save`).
        export_dir: where the export goes (a new or empty export folder).
        label_names: the class names in logit order.
        text_preset: the text-encoder preset whose tokenizer the model was
            trained with (see `ser_keras.text.resolve_preset`).
        sequence_length: tokens per transcript, with `text_preset` (default:
            the metadata's).

    Returns:
        The SavedModel folder, `<export_dir>/1`.

    Raises:
        ModelPathError: the file is missing, not a `.keras` file, or unreadable.
        ValueError: no label names or no text preprocessor can be found, or
            they do not fit the model.

    Example:

    >>> export_keras_model_file("ckpt/student.keras", "/tmp/student",
    ...                         label_names=["angry", "happy", "sad", "neutral"],
    ...                         text_preset="bert_base_en_uncased", sequence_length=48)  # doctest: +SKIP
    PosixPath('/tmp/student/1')
    """
    path = Path(keras_path)
    if not path.is_file():
        raise ModelPathError(path, "no such file." if not path.exists() else f"not a {KERAS_SUFFIX} file.")
    if path.suffix != KERAS_SUFFIX:
        raise ModelPathError(
            path,
            f"not a Keras model file ({KERAS_SUFFIX}); a weights-only checkpoint such as training's "
            "best.weights.h5 holds no architecture. Pass an export folder, a SavedModel folder or "
            f"a {KERAS_SUFFIX} file (an export keeps one as assets.extra/{KERAS_MODEL_FILE}).",
        )
    model = _load_keras_model(path)
    side_files = path.parent
    metadata = read_metadata(side_files) if (side_files / METADATA_FILE).is_file() else {}
    label_names = list(label_names or metadata.get("label_names") or [])
    if not label_names:
        raise ValueError(
            f"{path} has no {METADATA_FILE} beside it with the label names: pass them in logit "
            "order (tflite_export/convert.py --labels angry,happy,sad,neutral)."
        )
    input_names = list(model.input) if isinstance(model.input, Mapping) else []
    preprocessor = None
    if "token_ids" in input_names:
        if text_preset is not None:
            from ser_keras.text import load_text_preprocessor

            sequence_length = sequence_length or metadata.get("sequence_length")
            if sequence_length is None:
                raise ValueError(
                    f"{path} has no {METADATA_FILE} beside it with the sequence length: pass the "
                    "tokens per transcript the model was trained with (convert.py --sequence-length)."
                )
            preprocessor = load_text_preprocessor(text_preset, int(sequence_length))
        elif (side_files / PREPROCESSOR_DIR).is_dir():
            preprocessor = load_export_preprocessor(side_files)
        else:
            raise ValueError(
                f"{path} reads token ids but has no {PREPROCESSOR_DIR}/ beside it: pass the text "
                "preset and sequence length it was trained with (convert.py --text-preset PRESET "
                "--sequence-length N)."
            )
        _check_vocabulary(model, preprocessor, path)
    max_patches = metadata.get("max_patches", params.DEFAULT_MAX_PATCHES)
    return Path(export_model(model, preprocessor, label_names, export_dir, max_patches=max_patches))


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
            content = _selectively_quantize(converter, representative_data, float_part["float_layers"])
        else:
            content = converter.convert()
    logger.info("Converted %s to TFLite (%s): %.2f MB.", saved_model_dir, quantize, len(content) / 1e6)
    return content


def _selectively_quantize(converter, representative_data, float_layers: Sequence[str]) -> bytes:
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


def representative_inputs(
    utterances: Sequence,
    preprocessor,
    input_names: Sequence[str] = MODEL_INPUT_NAMES,
    max_patches: int | None = params.DEFAULT_MAX_PATCHES,
    limit: int = 100,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Batch-of-one model inputs for a seeded random sample of training clips (int8 calibration).

    Args:
        utterances: `ser_keras.data.Utterance`s with audio (the training split).
        preprocessor: the model's text preprocessor.
        input_names: the model's inputs (from the export's metadata).
        max_patches: cap on audio patches per clip.
        limit: at most this many clips.
        seed: which clips are drawn.

    Returns:
        A list of input dicts; unreadable clips are left out with a warning.

    Raises:
        ValueError: no clip could be read.

    Example:

    >>> data = representative_inputs(corpus.utterances, preprocessor, limit=50)  # doctest: +SKIP
    """
    candidates = [item for item in utterances if item.has_audio]
    random.Random(seed).shuffle(candidates)
    samples = []
    for utterance in candidates[:limit]:
        try:
            waveform = load_audio(utterance.audio_path)
        except AudioReadError as error:
            logger.warning("Calibration: %s; clip left out.", error)
            continue
        samples.append(
            clip_model_inputs(preprocessor, waveform, utterance.text, input_names, max_patches)
        )
    if not samples:
        raise ValueError(
            f"No readable audio clip among {len(candidates[:limit])} calibration candidates; "
            "pass a manifest whose audio files exist."
        )
    return samples


def default_bundle_dir(saved_model_dir: str | os.PathLike) -> Path:
    """`<export_dir>/tflite/<version>` for the SavedModel `<export_dir>/<version>`.

    Example:

    >>> default_bundle_dir("export/ser/3").as_posix()
    'export/ser/tflite/3'
    """
    saved_model_dir = Path(saved_model_dir)
    return saved_model_dir.parent / TFLITE_DIR / saved_model_dir.name


def tflite_file_name(quantize: str) -> str:
    """The file name of a variant in a bundle.

    Example:

    >>> tflite_file_name("int8")
    'ser_int8.tflite'
    """
    return f"ser_{quantize}{TFLITE_SUFFIX}"


def write_tflite_bundle(
    content: bytes,
    saved_model_dir: str | os.PathLike,
    quantize: str,
    output_dir: str | os.PathLike | None = None,
    conversion: Mapping[str, object] | None = None,
) -> Path:
    """Writes a TFLite model with copies of the export's metadata and preprocessor.

    The bundle folder is all `ser_keras.serving.EmotionRecognizer` needs. Its
    `metadata.json` is the export's, plus `"tflite"`: for each `.tflite` file
    of the bundle, its `quantize` mode and the `conversion` details (for int8,
    what stayed float32: `int8_float_part`).

    Args:
        content: the flatbuffer from `convert_to_tflite`.
        saved_model_dir: the SavedModel it came from (its side files are copied).
        quantize: the variant, for the file name.
        output_dir: the bundle folder (default `default_bundle_dir`).
        conversion: details of the conversion to record in the metadata.

    Returns:
        The path of the `.tflite` file.

    Example:

    >>> write_tflite_bundle(content, "export/ser/1", "int8",
    ...                     conversion=int8_float_part("export/ser/1"))  # doctest: +SKIP
    PosixPath('export/ser/tflite/1/ser_int8.tflite')
    """
    saved_model_dir = find_saved_model(saved_model_dir)
    side_files = side_files_dir(saved_model_dir)
    if not (side_files / METADATA_FILE).is_file():
        raise ModelPathError(
            saved_model_dir,
            f"it has no {side_files.name}/{METADATA_FILE}; export it with "
            "ser_keras.export.export_model.",
        )
    output_dir = Path(output_dir) if output_dir is not None else default_bundle_dir(saved_model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    metadata = read_metadata(side_files)
    variants = {
        name: details
        for name, details in _bundle_variants(output_dir).items()
        if (output_dir / name).is_file()
    }
    variants[tflite_file_name(quantize)] = {"quantize": quantize, **(conversion or {})}
    metadata[TFLITE_METADATA_KEY] = dict(sorted(variants.items()))
    with atomic_write(output_dir / METADATA_FILE) as stream:
        stream.write(json.dumps(metadata, indent=2) + "\n")
    if (side_files / PREPROCESSOR_DIR).is_dir():
        shutil.copytree(side_files / PREPROCESSOR_DIR, output_dir / PREPROCESSOR_DIR, dirs_exist_ok=True)
    path = output_dir / tflite_file_name(quantize)
    with atomic_write(path, "wb") as stream:
        stream.write(content)
    return path


def _bundle_variants(bundle_dir: Path) -> dict[str, dict]:
    """The `"tflite"` entries of a bundle's existing metadata (none when it has no readable one)."""
    if not (bundle_dir / METADATA_FILE).is_file():
        return {}
    try:
        variants = read_metadata(bundle_dir).get(TFLITE_METADATA_KEY, {})
    except ModelPathError:
        return {}
    return dict(variants) if isinstance(variants, Mapping) else {}


class TFLiteModel:
    """A TFLite model's `serving_tokens` signature, run with the LiteRT interpreter.

    Inputs of any batch size, sequence length and patch count: the signature
    runner resizes the input tensors on each call.

    Args:
        model: a `.tflite` path or the flatbuffer bytes.
        num_threads: interpreter threads (`None`: LiteRT's default).

    Example:

    >>> model = TFLiteModel("export/ser/tflite/1/ser_int8.tflite")  # doctest: +SKIP
    >>> model(inputs)["label_id"]  # doctest: +SKIP
    array([2], dtype=int32)
    """

    def __init__(self, model: str | os.PathLike | bytes, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise ImportError(
                f"Running TFLite models needs the LiteRT interpreter: {LITERT_INSTALL_COMMAND}."
            ) from error
        if isinstance(model, bytes):
            interpreter = Interpreter(model_content=model, num_threads=num_threads)
            self.size_bytes = len(model)
        else:
            path = Path(model)
            if not path.is_file():
                raise ModelPathError(path, "no such TFLite file.")
            try:
                interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            except ValueError as error:
                raise ModelPathError(path, f"not a readable TFLite model ({error}).") from error
            self.size_bytes = path.stat().st_size
        signatures = interpreter.get_signature_list()
        if TOKENS_SIGNATURE not in signatures:
            raise ValueError(
                f"The TFLite model has no '{TOKENS_SIGNATURE}' signature (it has "
                f"{sorted(signatures)}); convert it with tflite_export/convert.py."
            )
        self.input_names: list[str] = list(signatures[TOKENS_SIGNATURE]["inputs"])
        self._runner = interpreter.get_signature_runner(TOKENS_SIGNATURE)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the model on a dict of input arrays; returns its outputs by name."""
        missing = sorted(set(self.input_names) - set(inputs))
        if missing:
            raise ValueError(f"The TFLite model needs the inputs {missing}.")
        return self._runner(**{name: np.asarray(inputs[name]) for name in self.input_names})


def compare_predictions(
    model: TFLiteModel,
    reference: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    samples: Sequence[Mapping[str, np.ndarray]],
) -> dict[str, float]:
    """How closely a TFLite model follows a reference on the same inputs.

    Args:
        model: the TFLite model.
        reference: inputs -> probabilities `[1, C]` (the SavedModel's
            `serving_tokens`, or the Keras model with a softmax).
        samples: batch-of-one input dicts (e.g. test clips).

    Returns:
        `max_abs_diff` (of probabilities over all samples and classes) and
        `agreement` (the fraction of samples with the same predicted class).

    Example:

    >>> compare_predictions(model, saved_model_probabilities, test_inputs)  # doctest: +SKIP
    {'max_abs_diff': 2.1e-07, 'agreement': 1.0, 'num_samples': 50.0}
    """
    if not samples:
        raise ValueError("compare_predictions needs at least one sample.")
    ours = np.concatenate([model(inputs)["probabilities"] for inputs in samples])
    theirs = np.concatenate([np.asarray(reference(inputs)) for inputs in samples])
    return {
        "max_abs_diff": float(np.max(np.abs(ours - theirs))),
        "agreement": float(np.mean(ours.argmax(axis=-1) == theirs.argmax(axis=-1))),
        "num_samples": float(len(samples)),
    }
