"""TFLite bundles: `.tflite` files with copies of their export's metadata and text preprocessor.

A bundle folder is all `ser_keras.serving.EmotionRecognizer` needs: by default
`<export_dir>/tflite/<version>/` beside the SavedModel `<export_dir>/<version>`
(`default_bundle_dir`), or `<folder>/tflite/<stem>/` beside a bare `.keras` file
(`keras_bundle_dir`). One `ser_<quantize>.tflite` per variant; `metadata.json` records
each file's conversion under `"tflite"`.

Example:

>>> tflite_file_name("float16")
'ser_float16.tflite'
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from ser_keras.export.atomic import atomic_write
from ser_keras.export.layout import (
    METADATA_FILE,
    PREPROCESSOR_DIR,
    TFLITE_DIR,
    TFLITE_SUFFIX,
    ModelPathError,
    find_saved_model,
    read_metadata,
    side_files_dir,
)

#: The key of a TFLite bundle's `metadata.json` that describes each `.tflite` file's conversion.
TFLITE_METADATA_KEY = "tflite"


def default_bundle_dir(saved_model_dir: str | os.PathLike) -> Path:
    """`<export_dir>/tflite/<version>` for the SavedModel `<export_dir>/<version>`.

    Example:

    >>> default_bundle_dir("export/ser/3").as_posix()
    'export/ser/tflite/3'
    """
    saved_model_dir = Path(saved_model_dir)
    return saved_model_dir.parent / TFLITE_DIR / saved_model_dir.name


def keras_bundle_dir(keras_path: str | os.PathLike) -> Path:
    """The default TFLite bundle folder of a bare `.keras` file: `<its folder>/tflite/<stem>`.

    Example:

    >>> keras_bundle_dir("checkpoints/student.keras").as_posix()
    'checkpoints/tflite/student'
    """
    keras_path = Path(keras_path)
    return keras_path.parent / TFLITE_DIR / keras_path.stem


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
