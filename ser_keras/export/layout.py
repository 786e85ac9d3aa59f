"""Where an export keeps what: version folders, side files, and finding them again.

See `ser_keras.export` for the layout. This module holds its names and the
functions that resolve a user's `--model` path to a SavedModel or a TFLite file.

Example:

>>> saved_model = find_saved_model("saved_models/demo/export/student")  # doctest: +SKIP
>>> saved_model.name  # the highest version  # doctest: +SKIP
'1'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Signature on raw inputs (text, waveform, waveform_length); TF Serving's default.
RAW_SIGNATURE = "serving_default"
#: Signature on model inputs (token ids, masks, log-mel patches); the one converted to TFLite.
TOKENS_SIGNATURE = "serving_tokens"
#: Signature on raw inputs plus a speaker's band statistics (speaker-normalised models only).
SPEAKER_SIGNATURE = "serving_speaker"

#: Files inside a SavedModel version folder that the graph does not load (TF Serving ignores them).
ASSETS_EXTRA = "assets.extra"
KERAS_MODEL_FILE = "model.keras"
PREPROCESSOR_DIR = "preprocessor"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
#: The metadata key of the speaker-normalisation reference (`None`: trained without it).
SPEAKER_NORMALIZATION_KEY = "speaker_normalization"
#: Default folder of TFLite bundles, under the export folder.
TFLITE_DIR = "tflite"
TFLITE_SUFFIX = ".tflite"

_SAVED_MODEL_FILE = "saved_model.pb"
FORMAT_NAME = "ser_keras.export"
FORMAT_VERSION = 1


class ModelPathError(FileNotFoundError):
    """A `--model` path that is not an export folder, a SavedModel or a TFLite bundle.

    Example:

    >>> str(ModelPathError("models/none", "no such file or folder."))
    "Cannot use model 'models/none': no such file or folder."
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        super().__init__(f"Cannot use model '{self.path}': {reason}")


def is_saved_model(path: str | os.PathLike) -> bool:
    """Whether `path` is a SavedModel folder (it holds `saved_model.pb`).

    Example:

    >>> is_saved_model("/nonexistent")
    False
    """
    return (Path(path) / _SAVED_MODEL_FILE).is_file()


def saved_model_versions(export_dir: str | os.PathLike) -> list[int]:
    """The numeric SavedModel versions under an export folder, ascending.

    Example:

    >>> saved_model_versions("/nonexistent")
    []
    """
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        return []
    return sorted(
        int(child.name)
        for child in export_dir.iterdir()
        if child.name.isdigit() and is_saved_model(child)
    )


def find_saved_model(path: str | os.PathLike) -> Path:
    """Resolves an export folder (highest version) or a SavedModel folder to the SavedModel.

    Raises:
        ModelPathError: `path` is missing, or neither kind of folder.

    Example:

    >>> find_saved_model("export/ser")  # doctest: +SKIP
    PosixPath('export/ser/2')
    """
    path = Path(path)
    if not path.exists():
        raise ModelPathError(path, "no such file or folder.")
    if is_saved_model(path):
        return path
    versions = saved_model_versions(path)
    if not versions:
        raise ModelPathError(
            path,
            "not a SavedModel folder (no saved_model.pb) nor an export folder with numeric "
            "version subfolders; pass what ser_keras.export.export_model wrote.",
        )
    return path / str(versions[-1])


def side_files_dir(saved_model_dir: str | os.PathLike) -> Path:
    """The folder of the Keras model, preprocessor and metadata of a SavedModel.

    Example:

    >>> side_files_dir("export/ser/1").as_posix()
    'export/ser/1/assets.extra'
    """
    return Path(saved_model_dir) / ASSETS_EXTRA


def write_metadata(directory: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Writes `metadata.json` into `directory`; returns its path.

    Example:

    >>> write_metadata("/tmp", {"label_names": ["sad"]}).name  # doctest: +SKIP
    'metadata.json'
    """
    path = Path(directory) / METADATA_FILE
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return path


def read_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """Reads the `metadata.json` of an export's side files or of a TFLite bundle.

    Raises:
        ModelPathError: the file is missing or not an export's metadata.

    Example:

    >>> read_metadata("export/ser/1/assets.extra")["label_names"]  # doctest: +SKIP
    ['angry', 'happy', 'sad', 'neutral']
    """
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise ModelPathError(
            directory,
            f"it has no {METADATA_FILE}: it was not written by ser_keras.export "
            "(export_model, or tflite_export/convert.py for TFLite bundles).",
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelPathError(path, f"unreadable metadata ({error}); export the model again.") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ModelPathError(path, f"not the metadata of a {FORMAT_NAME} export.")
    return metadata
