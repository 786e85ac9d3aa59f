"""TFLite conversion: all four variants against the Keras model on the demo test clips."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from export_stand_ins import REPO_ROOT, demo_corpus, tiny_export

#: Minimum fraction of the 144 demo test clips with the Keras model's class, per variant. Measured over
#: SER_TEST_SEED_OFFSET 0-4: float16 1.0 every time; dynamic 0.993 to 1.0 (up to 7 clips within twice its
#: largest probability error of a tie); int8 0.972 to 1.0. A flip needs a clip that close to a tie, so each
#: bound leaves several flips beyond the most measured.
MIN_AGREEMENT = {"none": 1.0, "float16": 0.98, "dynamic": 0.97, "int8": 0.93}
#: Maximum file size relative to the float32 variant.
MAX_RELATIVE_SIZE = {"none": 1.0, "float16": 0.7, "dynamic": 0.5, "int8": 0.5}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


@pytest.fixture(scope="module")
def calibration(tiny):
    from ser_keras.export import representative_inputs

    train = [item for item in demo_corpus().utterances if item.split == "train"]
    return representative_inputs(train, tiny.preprocessor, limit=60)


def test_trained_model_is_not_a_near_tie(tiny):
    # Measured over SER_TEST_SEED_OFFSET 0-4 (the fixture trains until it fits 90% of its clips): median
    # margin 0.65 to 0.79, all four classes predicted. (Trained for a fixed 30 epochs at a higher learning
    # rate, offset 1 gave 0.24 and offset 2 stayed at chance: one class, median margin 0.02.)
    top_two = np.sort(tiny.keras_test_probabilities, axis=1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]
    assert np.median(margins) > 0.2
    assert len(set(tiny.keras_test_probabilities.argmax(axis=1))) >= 3


@pytest.fixture(scope="module")
def float32_size(tiny):
    from ser_keras.export import convert_to_tflite

    return len(convert_to_tflite(tiny.saved_model_dir, "none"))


@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic", "int8"])
def test_variant_follows_the_keras_model(tiny, calibration, float32_size, quantize, tmp_path):
    from ser_keras.export import TFLiteModel, compare_predictions, convert_to_tflite, write_tflite_bundle

    content = convert_to_tflite(tiny.saved_model_dir, quantize, calibration)
    assert len(content) <= MAX_RELATIVE_SIZE[quantize] * float32_size
    path = write_tflite_bundle(content, tiny.saved_model_dir, quantize, tmp_path / "bundle")
    assert path == tmp_path / "bundle" / f"ser_{quantize}.tflite"
    assert path.read_bytes() == content
    assert json.loads((path.parent / "metadata.json").read_text())["label_names"] == list(tiny.label_names)
    assert (path.parent / "preprocessor" / "preprocessor.json").is_file()

    model = TFLiteModel(path)
    assert set(model.input_names) == set(tiny.model.input)
    reference = iter(tiny.keras_test_probabilities)
    report = compare_predictions(model, lambda _: next(reference)[np.newaxis], tiny.test_inputs)
    assert report["num_samples"] == len(tiny.test_clips) == 144
    assert report["agreement"] >= MIN_AGREEMENT[quantize]
    if quantize == "none":
        assert report["max_abs_diff"] < 1e-4
    outputs = model(tiny.test_inputs[0])
    assert outputs["label_id"].dtype == np.int32
    assert outputs["label"][0].decode() == tiny.label_names[int(outputs["label_id"][0])]


def test_int8_needs_representative_data_and_modes_are_checked(tiny):
    from ser_keras.export import ModelPathError, convert_to_tflite

    with pytest.raises(ValueError, match="representative"):
        convert_to_tflite(tiny.saved_model_dir, "int8")
    with pytest.raises(ValueError, match="quantize must be one of"):
        convert_to_tflite(tiny.saved_model_dir, "int4")
    with pytest.raises(ModelPathError, match="no such file"):
        convert_to_tflite(tiny.export_dir / "nowhere", "none")


def test_convert_script_prints_size_latency_and_parity(tiny, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tflite_export" / "convert.py"),
         "--model", str(tiny.export_dir), "--quantize", "int8", "--output", str(tmp_path),
         "--calibration-clips", "16", "--eval-clips", "12"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (tmp_path / "ser_int8.tflite").is_file()
    assert "MB (int8)" in result.stdout
    assert "latency (batch 1, median of 12)" in result.stdout
    agreement = float(result.stdout.split("same class ")[1].split("%")[0])
    assert agreement >= 75.0
