"""A bare Keras model file (`.keras`) written as an export, so that it converts like one.

A `.keras` raw-input model (the `model.keras` in an export's `assets.extra/`, or the
output of `model.save`) lacks what the TFLite converter needs: `export_keras_model_file`
writes it as a SavedModel with its side files, taking the label names and the text
preprocessor from the arguments or from the export side files beside the file.

Example:

>>> is_keras_model_file("checkpoints/student.keras")
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ser_keras.audio import params
from ser_keras.export.inputs import load_export_preprocessor
from ser_keras.export.layout import KERAS_MODEL_FILE, METADATA_FILE, PREPROCESSOR_DIR, ModelPathError, read_metadata
from ser_keras.export.saved_model import export_model

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
