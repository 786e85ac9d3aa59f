"""Selective int8: the text encoder stays float32, the audio branch is int8, and the bundle says so."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

from export_stand_ins import REPO_ROOT, demo_corpus, tiny_export



@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


@pytest.fixture(scope="module")
def text_encoder(tiny) -> str:
    """The name of the tiny model's keras-hub backbone (Keras numbers it after earlier tests' backbones)."""
    import keras_hub

    names = [layer.name for layer in tiny.model.layers if isinstance(layer, keras_hub.models.Backbone)]
    assert len(names) == 1
    return names[0]


@pytest.fixture(scope="module")
def calibration(tiny):
    from ser_keras.export import representative_inputs

    train = [item for item in demo_corpus().utterances if item.split == "train"]
    return representative_inputs(train, tiny.preprocessor, limit=16)


def op_outputs(content: bytes) -> list[tuple[str, str, np.dtype, list[np.dtype]]]:
    """(op type, output tensor name, output dtype, input dtypes) of every op of a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    rows = []
    for op in interpreter._get_ops_details():  # the only listing of op types LiteRT offers
        output = tensors[op["outputs"][0]]
        inputs = [tensors[index]["dtype"] for index in op["inputs"] if index in tensors]
        rows.append((op["op_name"], output["name"], output["dtype"], inputs))
    return rows


def in_layer(layer_name: str, tensor_name: str) -> bool:
    from ser_keras.export.tflite import layer_tensor_pattern

    return bool(layer_tensor_pattern([layer_name]).search(tensor_name))


@pytest.fixture(scope="module")
def int8_ops(tiny, calibration):
    """The ops of the default int8 conversion and of the full-integer one (`int8_text="int8"`)."""
    from ser_keras.export import convert_to_tflite

    return {
        mode: op_outputs(convert_to_tflite(tiny.saved_model_dir, "int8", calibration, int8_text=mode))
        for mode in ("float", "int8")
    }


def test_the_float_part_is_the_models_keras_hub_backbone(tiny, text_encoder):
    from ser_keras.export.tflite import int8_float_part

    assert int8_float_part(tiny.saved_model_dir) == {
        "int8_text": "float",
        "float_ops": ["BATCH_MATMUL", "TRANSPOSE", "SELECT_V2", "SOFTMAX"],
        "float_layers": [text_encoder],
    }
    assert int8_float_part(tiny.saved_model_dir, "int8")["float_layers"] == []
    with pytest.raises(ValueError, match="int8_text must be one of"):
        int8_float_part(tiny.saved_model_dir, "int4")


def test_int8_keeps_the_text_encoder_float_and_quantizes_vggish(int8_ops, text_encoder):
    ops = int8_ops["float"]
    text_matmuls = [op for op in ops if op[0] == "FULLY_CONNECTED" and in_layer(text_encoder, op[1])]
    assert len(text_matmuls) == 12  # 2 layers x (query, key, value, attention output, 2 feed-forward)
    assert all(op[2] == np.float32 and op[3][:2] == [np.float32, np.float32] for op in text_matmuls)
    # Inside the text encoder, int8 appears only where the converter rounds the softmax's fixed [0, 1] range.
    assert {op[0] for op in ops if in_layer(text_encoder, op[1]) and op[2] == np.int8} <= {"QUANTIZE"}

    convolutions = [op for op in ops if op[0] == "CONV_2D"]
    assert len(convolutions) == 1  # the stand-in audio encoder's only convolution
    assert convolutions[0][2] == np.int8
    assert convolutions[0][3][:2] == [np.int8, np.int8]  # activations and weights
    head = [op for op in ops if op[0] == "FULLY_CONNECTED" and in_layer("fusion_head", op[1])]
    assert head and all(op[2] == np.int8 for op in head)


def test_full_integer_option_quantizes_the_text_encoder_too(int8_ops, text_encoder):
    ops = int8_ops["int8"]
    text_matmuls = [op for op in ops if op[0] == "FULLY_CONNECTED" and in_layer(text_encoder, op[1])]
    assert len(text_matmuls) == 12
    assert all(op[2] == np.int8 and op[3][:2] == [np.int8, np.int8] for op in text_matmuls)


@pytest.fixture(scope="module")
def convert_script():
    spec = importlib.util.spec_from_file_location("convert_script", REPO_ROOT / "tflite_export" / "convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_metadata_lists_the_float_part_of_each_variant(tiny, text_encoder, convert_script, tmp_path, capsys):
    common = ["--model", str(tiny.export_dir), "--output", str(tmp_path), "--eval-clips", "0"]
    assert convert_script.main([*common, "--quantize", "int8", "--calibration-clips", "8"]) == 0
    assert f"kept in float32: layers [{text_encoder!r}]" in capsys.readouterr().out
    assert convert_script.main([*common, "--quantize", "none"]) == 0

    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["label_names"] == list(tiny.label_names)
    assert metadata["tflite"] == {
        "ser_int8.tflite": {
            "quantize": "int8",
            "int8_text": "float",
            "float_ops": ["BATCH_MATMUL", "TRANSPOSE", "SELECT_V2", "SOFTMAX"],
            "float_layers": [text_encoder],
        },
        "ser_none.tflite": {"quantize": "none"},
    }


def test_export_without_its_keras_file_asks_for_full_integer(tiny, tmp_path):
    from ser_keras.export import ModelPathError
    from ser_keras.export.tflite import int8_float_part

    copy = tmp_path / "export" / "1"
    shutil.copytree(tiny.saved_model_dir, copy)
    (copy / "assets.extra" / "model.keras").unlink()
    with pytest.raises(ModelPathError, match=r"model.keras.*int8_text='int8'"):
        int8_float_part(copy)
