"""The benchmark suite on the smallest configuration, and its FLOP counts against independent counts.

The run uses a tiny BERT preset (3 layers, hidden 32; one 1-layer student), a
small convolutional stand-in for VGGish (real VGGish makes every TFLite
conversion take tens of seconds), and a handful of repetitions: it checks that
every model gets every backend's figures, not how fast they are.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from ser_keras.benchmarks.backends import BACKENDS
from ser_keras.benchmarks.flops import bert_flops, dense_and_conv_flops, model_flops
from ser_keras.benchmarks.suite import BenchmarkConfig, run_benchmark
from ser_keras.models.audio_cnn import build_compact_audio_encoder
from export_stand_ins import build_small_audio_encoder, demo_corpus
from text_model_stand_ins import build_tiny_bert, save_tiny_preset_with_tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "training_scripts" / "benchmark.py"


def _positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


# FLOPs ------------------------------------------------------------------------------------


def test_dense_and_conv_flops_match_a_hand_count():
    inputs = keras.Input((8, 6))
    x = keras.layers.Reshape((8, 6, 1))(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)  # 8x6x4 outputs, 3x3x1 kernel
    x = keras.layers.MaxPooling2D(2)(x)  # 4x3x4, not counted
    x = keras.layers.Conv2D(5, 3, padding="valid")(x)  # 2x1x5 outputs, 3x3x4 kernel
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)  # 10 -> 7
    model = keras.Model(inputs, outputs)
    hand_count = 2 * (8 * 6 * 4 * 9 * 1) + 2 * (2 * 1 * 5 * 9 * 4) + 2 * (10 * 7)
    assert hand_count == 4316
    assert dense_and_conv_flops(model) == hand_count


def test_vggish_flops_per_patch_match_a_hand_count():
    from ser_keras.vggish import vggish_network

    macs = (
        96 * 64 * 64 * 9 * 1  # conv1 at 96x64
        + 48 * 32 * 128 * 9 * 64  # conv2 after pool1
        + 24 * 16 * 256 * 9 * 128  # conv3_1
        + 24 * 16 * 256 * 9 * 256  # conv3_2
        + 12 * 8 * 512 * 9 * 256  # conv4_1
        + 12 * 8 * 512 * 9 * 512  # conv4_2
        + 6 * 4 * 512 * 4096  # fc1_1 on the flattened 6x4x512
        + 4096 * 4096  # fc1_2
        + 4096 * 128  # fc2
    )
    assert dense_and_conv_flops(vggish_network()) == 2 * macs


def test_bert_flops_match_the_tensorflow_profiler():
    """TensorFlow's own count of the matmuls in the traced graph (the pooler is pruned: unused)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    bert = build_tiny_bert(num_layers=2)
    length = 10
    spec = {
        "token_ids": tf.TensorSpec([1, length], tf.int32),
        "segment_ids": tf.TensorSpec([1, length], tf.int32),
        "padding_mask": tf.TensorSpec([1, length], tf.bool),
    }
    function = tf.function(lambda inputs: bert(inputs)["sequence_output"]).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(function).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options.update(output="none", account_type_regexes=["MatMul", "BatchMatMul.*", "Einsum"])
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    assert bert_flops(bert, length) == profile.total_float_ops == 353280


def test_model_flops_interpolate_fractional_patch_counts():
    bert = build_tiny_bert(num_layers=1)
    two = model_flops(bert, 1000, 8, 2, 4)
    three = model_flops(bert, 1000, 8, 3, 4)
    half = model_flops(bert, 1000, 8, 2.5, 4)
    assert half.audio == 2500 and half.text == two.text
    assert half.head == round((two.head + three.head) / 2)
    assert half.total == half.text + half.audio + half.head


# The script's flags ---------------------------------------------------------------------


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_flags_map_to_the_config():
    script = _script()
    config = script.benchmark_config(script.parse_args([]))
    assert (config.teacher_layers, config.student_layers, config.repeats) == (None, (4, 2, 1), 50)
    assert config.backends == BACKENDS
    assert config.output_dir == str(Path("saved_models") / "benchmark")
    assert config.training_models == ("teacher", "student_k1") and config.throughput_repeats == 1
    assert script.benchmark_config(script.parse_args(["--training-models", "all"])).training_models is None
    quick = script.benchmark_config(
        script.parse_args(["--quick", "--text-preset", "bert_base_en_uncased", "--layers", "12", "6", "4", "2",
                           "--backends", "keras", "tflite_int8", "--repeats", "7"])
    )
    assert (quick.teacher_layers, quick.student_layers, quick.repeats) == (12, (2,), 7)
    assert quick.backends == ("keras", "tflite_int8") and quick.memory_backends == ()
    assert quick.training_steps == 1
    assert script.main(["--dataset", "iemocap", "--output-dir", "/nonexistent/never/written"]) == 2  # no --data-dir


# The whole suite ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmark")
    preset = save_tiny_preset_with_tokenizer(root / "preset", [item.text for item in demo_corpus().utterances])
    results = root / "results.json"
    results.write_text(
        json.dumps(
            {
                "models": [
                    {"name": "teacher", "text_layers": 3, "role": "teacher", "distilled": False,
                     "test": {"acc": 0.5, "bacc": 0.5, "mf1": 0.4, "wf1": 0.4}},
                    {"name": "student + KD", "text_layers": 1, "role": "student", "distilled": True,
                     "test": {"acc": 0.45, "bacc": 0.4, "mf1": 0.3, "wf1": 0.3}},
                ]
            }
        )
    )
    config = BenchmarkConfig(
        text_preset=preset,
        student_layers=(1,),
        compact_students=("compact", "audio-compact"),
        sequence_length=16,
        repeats=3,
        warmup=1,
        latency_clips=3,
        throughput_batch_size=4,
        throughput_repeats=1,
        # keras: the worker loads each export's model.keras in a fresh process, as a user would
        # (the compact audio CNN's layers included); tflite_dynamic: LiteRT alone.
        memory_backends=("keras", "tflite_dynamic"),
        calibration_clips=2,
        training_steps=1,
        training_batch_size=4,
        training_models=("student_k1",),
        results=str(results),
        output_dir=str(root / "out"),
    )
    return run_benchmark(config, audio_encoder=build_small_audio_encoder())


def test_every_model_has_every_backend_with_positive_figures(benchmark):
    report = json.loads(Path(benchmark.paths["json"]).read_text())
    assert [model["key"] for model in report["models"]] == ["teacher", "student_k1", "compact", "audio_compact"]
    assert [model["text_layers"] for model in report["models"]] == [3, 1, 2, 0]
    for model in report["models"]:
        assert list(model["backends"]) == list(BACKENDS)
        for backend, figures in model["backends"].items():
            assert _positive_finite(figures["latency"]["median_ms"]), (model["key"], backend)
            assert figures["latency"]["runs"] == 3
            assert _positive_finite(figures["throughput"]["samples_per_s"]), (model["key"], backend)
            assert figures["throughput"]["batch_size"] == 4
            assert _positive_finite(figures["gflops_per_s"])
            assert _positive_finite(figures["ratio_to_teacher"])
        for backend in ("saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8"):
            assert _positive_finite(model["backends"][backend]["size_bytes"])
        for backend in ("keras", "tflite_dynamic"):
            assert _positive_finite(model["backends"][backend]["memory"]["model_mb"]), (model["key"], backend)
        assert "memory" not in model["backends"]["saved_model"]
        assert all(_positive_finite(value) for value in model["branches"].values())
        text_branch = {"tokenizer_ms", "text_encoder_ms", "head_ms"} if model["key"] != "audio_compact" else set()
        assert set(model["branches"]) == {"front_end_ms", "audio_encoder_ms", *text_branch}
    teacher, student = report["models"][:2]
    assert teacher["training"] == {}  # not among training_models
    for stage in ("stage1_cached", "stage1_uncached", "stage2"):
        cost = student["training"][stage]
        assert _positive_finite(cost["seconds_per_epoch"]) and cost["timed_steps"] == 1
        assert cost["steps_per_epoch"] == math.ceil(report["metadata"]["training"]["train_clips"] / 4)
        assert cost["seconds_per_epoch"] == pytest.approx(cost["seconds_per_step"] * cost["steps_per_epoch"])
    assert _positive_finite(student["training"]["stage1_cached"]["cache_build_s"])
    assert all(figures["ratio_to_teacher"] == 1.0 for figures in teacher["backends"].values())


def test_flops_and_params_in_the_report_are_consistent(benchmark):
    report = benchmark.report
    per_patch = dense_and_conv_flops(build_small_audio_encoder())
    mean_patches = report["metadata"]["mean_patches"]
    teacher, student, compact, audio_only = report["models"]
    for model in (teacher, student):
        flops = model["flops"]
        assert flops["total"] == flops["text"] + flops["audio"] + flops["head"]
        assert flops["audio"] == round(per_patch * mean_patches)
        assert model["params"]["num_text_layers"] == model["text_layers"]
    # The student keeps 1 of the teacher's 3 identical layers.
    assert student["flops"]["text"] * 3 == teacher["flops"]["text"]
    assert student["params"]["transformer_layers"] * 3 == teacher["params"]["transformer_layers"]
    # The compact students: the compact audio CNN per patch, a narrow BERT (2 x 16 of the 3 x 32 teacher).
    compact_per_patch = dense_and_conv_flops(build_compact_audio_encoder())
    for model in (compact, audio_only):
        assert model["flops"]["audio"] == round(compact_per_patch * mean_patches)
        assert model["params"]["total"] == sum(model["params"][part] for part in ("text_encoder", "vggish", "fusion_head"))
        assert model["params"]["vggish"] == build_compact_audio_encoder().count_params()
    assert 0 < compact["flops"]["text"] < student["flops"]["text"] and audio_only["flops"]["text"] == 0
    assert audio_only["params"]["text_encoder"] == 0 and audio_only["flops"]["head"] < compact["flops"]["head"]
    latency = teacher["backends"]["keras"]["latency"]["median_ms"]
    assert teacher["backends"]["keras"]["gflops_per_s"] == pytest.approx(teacher["flops"]["total"] / latency / 1e6)


def test_report_files_exist_and_the_png_loads(benchmark):
    from matplotlib.image import imread

    markdown = Path(benchmark.paths["markdown"]).read_text()
    for label in ("BERT_3-VGGish (teacher)", "BERT_1-VGGish", "BERT_2x16-AudioCNN (compact)", "AudioCNN (audio only)"):
        assert label in markdown
    assert "Against the teacher" in markdown
    for heading in ("Inference time per sample", "Throughput", "Peak memory", "Analytic FLOPs",
                    "Time per branch", "Training cost", "Test scores"):
        assert heading in markdown
    assert "| student + KD |" in markdown
    image = imread(benchmark.paths["png"])
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    accuracy = {model["key"]: [entry["name"] for entry in model["accuracy"]] for model in benchmark.report["models"]}
    assert accuracy == {"teacher": ["teacher"], "student_k1": ["student + KD"], "compact": [], "audio_compact": []}
    assert not any(Path(benchmark.paths["json"]).parent.glob("exports"))


def test_saved_report_rerenders_with_a_runs_scores_without_measuring(benchmark, tmp_path):
    saved = json.loads(Path(benchmark.paths["json"]).read_text())
    for model in saved["models"]:
        model["accuracy"] = []
    report_path = tmp_path / "saved.json"
    report_path.write_text(json.dumps(saved))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"models": [
        {"name": "BERT_1-VGGish", "text_layers": 1, "role": "student", "distilled": False,
         "test": {"acc": 0.61, "bacc": 0.6, "mf1": 0.59, "wf1": 0.6}},
    ]}))
    script = _script()
    assert script.main(["--report", str(report_path), "--results", str(results), "--output-dir", str(tmp_path / "out")]) == 0
    rerendered = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert [[entry["test"]["acc"] for entry in model["accuracy"]] for model in rerendered["models"]] == [[], [0.61], [], []]
    assert rerendered["models"][1]["backends"] == saved["models"][1]["backends"]  # nothing re-measured
    assert " | 60.00 | 61.00 | 59.00 | 60.00 |" in (tmp_path / "out" / "benchmark.md").read_text()
    assert script.main(["--report", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
