"""tflite_export/convert.py on a bare Keras model file (`.keras`) instead of an export folder."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from export_stand_ins import REPO_ROOT, SEQUENCE_LENGTH, tiny_export

SCRIPT = REPO_ROOT / "tflite_export" / "convert.py"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


@pytest.fixture(scope="module")
def convert_script():
    """The script as a module, so that most cases run in this process (no TensorFlow start-up)."""
    spec = importlib.util.spec_from_file_location("convert_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def keras_file(tiny):
    return tiny.saved_model_dir / "assets.extra" / "model.keras"


@pytest.fixture(scope="module")
def text_preset(tiny, tmp_path_factory):
    """A keras-hub preset holding the tiny model's tokenizer (as `--text-preset` takes it)."""
    from text_model_stand_ins import build_tiny_bert

    directory = tmp_path_factory.mktemp("tiny_preset")
    tokenizer = tiny.preprocessor.tokenizer
    build_tiny_bert(num_layers=2, vocabulary_size=tokenizer.vocabulary_size()).save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    return str(directory)


def tflite_probabilities(path, samples) -> np.ndarray:
    from ser_keras.export import TFLiteModel

    model = TFLiteModel(path)
    return np.concatenate([model(inputs)["probabilities"] for inputs in samples])


@pytest.fixture(scope="module")
def from_export(tiny, convert_script, tmp_path_factory):
    """The fp32 TFLite model converted from the export folder, and its probabilities on the test clips."""
    output = tmp_path_factory.mktemp("from_export")
    argv = ["--model", str(tiny.export_dir), "--output", str(output), "--eval-clips", "0"]
    assert convert_script.main(argv) == 0
    return tflite_probabilities(output / "ser_none.tflite", tiny.test_inputs)


def test_bare_keras_file_with_flags_converts_like_the_export(
    tiny, convert_script, keras_file, text_preset, from_export, tmp_path
):
    bare = tmp_path / "checkpoints" / "student.keras"
    bare.parent.mkdir()
    shutil.copy(keras_file, bare)  # no metadata.json or preprocessor/ beside it
    argv = [
        "--model", str(bare), "--eval-clips", "0",
        "--labels", ",".join(tiny.label_names),
        "--text-preset", text_preset, "--sequence-length", str(SEQUENCE_LENGTH),
    ]
    assert convert_script.main(argv) == 0

    bundle = tmp_path / "checkpoints" / "tflite" / "student"  # the default bundle folder
    assert sorted(path.name for path in bundle.iterdir()) == ["metadata.json", "preprocessor", "ser_none.tflite"]
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["label_names"] == list(tiny.label_names)
    assert metadata["sequence_length"] == SEQUENCE_LENGTH
    probabilities = tflite_probabilities(bundle / "ser_none.tflite", tiny.test_inputs)
    assert probabilities.shape == (144, 4)
    assert np.max(np.abs(probabilities - from_export)) < 1e-4
    assert np.max(np.abs(probabilities - tiny.keras_test_probabilities)) < 1e-4
    assert sorted(path.name for path in bare.parent.iterdir()) == ["student.keras", "tflite"]


def test_keras_file_inside_an_export_reads_the_side_files_beside_it(
    tiny, convert_script, keras_file, from_export, tmp_path, capsys
):
    argv = ["--model", str(keras_file), "--output", str(tmp_path), "--eval-clips", "4"]
    assert convert_script.main(argv) == 0
    assert "same class 100.0%" in capsys.readouterr().out
    assert json.loads((tmp_path / "metadata.json").read_text())["label_names"] == list(tiny.label_names)
    probabilities = tflite_probabilities(tmp_path / "ser_none.tflite", tiny.test_inputs)
    assert np.max(np.abs(probabilities - from_export)) < 1e-4


def test_keras_file_without_label_names_exits_with_an_error_and_writes_nothing(keras_file, tmp_path):
    bare = tmp_path / "student.keras"
    shutil.copy(keras_file, bare)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(bare), "--eval-clips", "0"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bare} has no metadata.json beside it with the label names" in result.stderr
    assert "--labels angry,happy,sad,neutral" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["student.keras"]


@pytest.mark.parametrize(
    "case, flags, message",
    [
        ("missing", [], "missing.keras': no such file"),
        ("garbage", [], "not a readable Keras model file"),
        ("weights", [], "weights-only checkpoint"),
        ("no_preprocessor", ["--labels", "angry,happy,sad,neutral"], "--text-preset PRESET --sequence-length N"),
        ("wrong_labels", ["--labels", "angry,happy,sad"], "predicts 4 classes but 3 label names"),
    ],
)
def test_bad_model_files_give_a_clear_error(convert_script, keras_file, tmp_path, capsys, case, flags, message):
    sources = {"garbage": b"not a zip archive", "weights": b"\x89HDF\r\n"}
    names = {"missing": "missing.keras", "garbage": "broken.keras", "weights": "best.weights.h5"}
    path = tmp_path / names.get(case, "student.keras")
    if case in sources:
        path.write_bytes(sources[case])
    elif case == "no_preprocessor":
        shutil.copy(keras_file, path)
    elif case == "wrong_labels":
        path = keras_file  # its side files give the preprocessor; the flag overrides their labels
    output = tmp_path / "bundle"
    assert convert_script.main(["--model", str(path), "--output", str(output), "--eval-clips", "0", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # no temporary files left
    assert not list(keras_file.parent.glob(".*"))


def test_keras_flags_are_refused_for_an_export_folder(tiny, convert_script, capsys):
    assert convert_script.main(["--model", str(tiny.export_dir), "--labels", "a,b,c,d"]) == 2
    assert "apply to a .keras --model only" in capsys.readouterr().err
