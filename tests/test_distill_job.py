"""The main job end to end, on a tiny BERT preset and a slice of the demo corpus.

Every run is a subprocess of `training_scripts/distill.py`, as a user runs it
(the job switches on TensorFlow's global op determinism, which must not leak
into other tests).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from text_model_stand_ins import save_tiny_preset_with_tokenizer

from ser_keras.models.audio_cnn import build_compact_audio_encoder

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training_scripts" / "distill.py"


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return save_tiny_preset_with_tokenizer(tmp_path_factory.mktemp("preset"), texts)


def job_command(preset: str, output_dir: Path, transfer_epochs: int = 2, *extra: str) -> list[str]:
    return [
        sys.executable, str(SCRIPT),
        "--text-preset", preset,
        "--limit-per-split", "16",
        "--students", "1",
        "--transfer-epochs", str(transfer_epochs),
        "--finetune-epochs", "1",
        "--audio-epochs", "2",
        "--batch-size", "8",
        "--sequence-length", "16",
        "--latency-runs", "2",
        "--no-export",
        "--output-dir", str(output_dir),
        "--run-name", "tiny",
        *extra,
    ]


def run_job(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def tensorboard_tags(directory: Path) -> set[str]:
    tags = set()
    for root, _, files in os.walk(directory):
        if any(name.startswith("events.out.tfevents") for name in files):
            accumulator = EventAccumulator(root, size_guidance={"tensors": 0})
            accumulator.Reload()
            tags.update(accumulator.Tags()["tensors"])
    return tags


def tensor_values(directory: Path, tag: str) -> list[float]:
    import tensorflow as tf

    values = []
    for root, _, files in os.walk(directory):
        if any(name.startswith("events.out.tfevents") for name in files):
            accumulator = EventAccumulator(root, size_guidance={"tensors": 0})
            accumulator.Reload()
            if tag in accumulator.Tags()["tensors"]:
                values += [float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
    return values


def weights_of(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


def test_job_writes_results_plots_tensorboard_and_reuses_its_teacher(tiny_preset, tmp_path):
    first = run_job(job_command(tiny_preset, tmp_path))
    run_dir = tmp_path / "tiny"
    assert f"tensorboard --logdir {run_dir / 'tensorboard'}" in first.stdout + first.stderr
    # The count itself is checked in test_text_tokenizer.py; here, that the job reports it per split.
    assert re.search(r"Transcripts longer than 16 tokens, cut: train \d+ of 16, validation \d+ of 16, "
                     r"test \d+ of 16", first.stderr)

    results = json.loads((run_dir / "results.json").read_text())
    models = [m for m in results["models"] if m["role"] != "reference"]
    assert [(m["text_layers"], m["distilled"], m["role"]) for m in models] == [
        (3, False, "teacher"), (1, False, "student"), (1, True, "student"),
    ]
    compact_parameters = build_compact_audio_encoder().count_params()
    for model in models:
        assert set(model["validation"]) == set(model["test"]) == {"bacc", "acc", "mf1", "wf1"}
        assert all(0.0 <= value <= 1.0 for value in model["test"].values())
        assert model["latency_ms"] > 0
        assert model["params"]["vggish"] == compact_parameters  # the audio encoder's column
        assert model["extra"]["audio_encoder"] == "compact"
    assert models[0]["params"]["total"] > models[1]["params"]["total"]
    probes = [m["name"] for m in results["models"] if m["role"] == "reference"]
    assert probes == ["Linear probe: text", "Linear probe: audio", "Linear probe: text+audio"]
    assert results["metadata"]["config"]["recipe"]["name"] == "demo"

    table = (run_dir / "results.md").read_text()
    assert "| Methods | Total Params (M) | Inference Time (ms) |" in table
    assert "BERT_1-AudioCNN + KD" in table
    assert "| Linear probe: audio |" in table
    assert (run_dir / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "epoch_acc" in tensorboard_tags(run_dir / "tensorboard" / "audio_encoder")
    confusion = sorted(os.listdir(run_dir / "confusion"))
    assert confusion == ["student_k1_kd_test.png", "student_k1_test.png", "teacher_test.png"]

    tags = tensorboard_tags(run_dir / "tensorboard")
    for tag in ("epoch_loss", "epoch_kl_loss", "epoch_ce_loss", "epoch_feature_loss",
                "epoch_learning_rate", "epoch_acc", "epoch_bacc", "epoch_wf1", "confusion/test",
                "test/acc", "results", "_hparams_/session_start_info"):
        assert tag in tags, f"{tag} missing from TensorBoard logs"

    # Stage 1 leaves the (constant) feature loss out; stage 2 trains the text encoder against it.
    transfer = tensor_values(run_dir / "tensorboard" / "student_k1_kd" / "transfer", "epoch_feature_loss")
    finetune = tensor_values(run_dir / "tensorboard" / "student_k1_kd" / "finetune", "epoch_feature_loss")
    assert transfer and all(value == 0.0 for value in transfer)
    assert finetune and all(value > 0.0 for value in finetune)

    # Same command again: the teacher (and students) are reused, with the same metrics.
    second = run_job(job_command(tiny_preset, tmp_path))
    assert "already done" in second.stderr
    assert "Epoch 1/" not in second.stdout  # no training at all
    again = json.loads((run_dir / "results.json").read_text())["models"]
    assert [m["test"] for m in again] == [m["test"] for m in results["models"]]  # probe rows too


def test_same_seed_same_metrics_and_other_seeds_the_same_split(tiny_preset, tmp_path):
    # A manifest without a split column: the job draws the paper split, which --seed must not move.
    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    manifest = tmp_path / "no_split_column.csv"
    with open(manifest, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[key for key in rows[0] if key != "split"])
        writer.writeheader()
        for row in rows[::4]:
            writer.writerow({**{key: value for key, value in row.items() if key != "split"},
                             "path": str(REPO / "data" / "demo" / row["path"])})
    data = ("--dataset", "manifest", "--manifest", str(manifest))
    run_job(job_command(tiny_preset, tmp_path / "a", 2, *data))
    run_job(job_command(tiny_preset, tmp_path / "b", 2, *data))
    run_job(job_command(tiny_preset, tmp_path / "c", 2, *data, "--seed", "1"))
    a = json.loads((tmp_path / "a" / "tiny" / "results.json").read_text())["models"]
    b = json.loads((tmp_path / "b" / "tiny" / "results.json").read_text())["models"]
    assert [(m["validation"], m["test"]) for m in a] == [(m["validation"], m["test"]) for m in b]
    splits = {run: (tmp_path / run / "tiny" / "splits.csv").read_text() for run in "ac"}
    assert splits["a"] == splits["c"] and splits["a"].count(",test") == 16


def kill_after_epoch(process: subprocess.Popen, stage_dir_glob: str, root: Path, epoch: int) -> None:
    """SIGKILLs the job once the stage's backup holds `epoch`, then checks the stage is unfinished."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        found = list(root.glob(f"{stage_dir_glob}/backup/training_metadata.json"))
        if found:
            try:
                if json.loads(found[0].read_text())["epoch"] >= epoch:
                    break
            except (json.JSONDecodeError, OSError):
                pass
        time.sleep(0.02)
    assert process.poll() is None, f"the job ended before it could be killed in {stage_dir_glob}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not list(root.glob(f"{stage_dir_glob}/done.json"))


def test_sigkill_in_either_stage_resumes_to_the_same_weights(tiny_preset, tmp_path):
    # Killed once in stage 1 of the teacher and once in stage 2 of a distilled student: stage 2
    # must not depend on random state that only an uninterrupted stage 1 leaves behind.
    transfer_epochs, finetune_epochs = 8, 6
    extra = ("--finetune-epochs", str(finetune_epochs))
    uninterrupted = tmp_path / "uninterrupted"
    run_job(job_command(tiny_preset, uninterrupted, transfer_epochs, *extra))

    killed = tmp_path / "killed"
    command = job_command(tiny_preset, killed, transfer_epochs, *extra)
    for stage_dir_glob, epoch in (("teachers/*/main/teacher/transfer", 2),
                                  ("tiny/models/*/main/student_k1_kd/finetune", 1)):
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_after_epoch(process, stage_dir_glob, killed, epoch)
    run_job(command)  # the same command resumes

    for stage_dir in ("teachers/*/main/teacher/transfer", "teachers/*/main/teacher/finetune",
                      "tiny/models/*/main/student_k1_kd/transfer", "tiny/models/*/main/student_k1_kd/finetune"):
        expected = weights_of(next(uninterrupted.glob(f"{stage_dir}/best.weights.h5")))
        actual = weights_of(next(killed.glob(f"{stage_dir}/best.weights.h5")))
        assert expected.keys() == actual.keys()
        for name in expected:
            np.testing.assert_allclose(actual[name], expected[name], atol=1e-5, err_msg=f"{stage_dir}: {name}")
        # Every epoch's losses, the resumed ones included: the dropout masks were the same.
        expected_history = json.loads(next(uninterrupted.glob(f"{stage_dir}/done.json")).read_text())["history"]
        actual_history = json.loads(next(killed.glob(f"{stage_dir}/done.json")).read_text())["history"]
        assert len(actual_history["loss"]) == len(expected_history["loss"])
        np.testing.assert_allclose(actual_history["loss"], expected_history["loss"], rtol=1e-5, err_msg=stage_dir)
    expected_results = json.loads((uninterrupted / "tiny" / "results.json").read_text())["models"]
    actual_results = json.loads((killed / "tiny" / "results.json").read_text())["models"]
    assert [m["test"] for m in actual_results] == [m["test"] for m in expected_results]


def test_exported_models_score_as_in_the_job_when_evaluated_as_served(tiny_preset, tmp_path):
    command = [arg for arg in job_command(tiny_preset, tmp_path) if arg != "--no-export"]
    result = run_job(command)
    run_dir = tmp_path / "tiny"
    assert "Exported best_student" in result.stdout
    exports = [run_dir / "export" / role for role in ("teacher", "best_student")]
    assert all((path / "1" / "saved_model.pb").is_file() for path in exports)

    evaluation_dir = tmp_path / "evaluation"
    run_job([
        sys.executable, str(REPO / "training_scripts" / "evaluate.py"),
        *[arg for path in exports for arg in ("--model", str(path))],
        "--limit-per-split", "16", "--latency-runs", "2", "--output-dir", str(evaluation_dir),
    ])
    job = {m["extra"]["model_key"]: m for m in json.loads((run_dir / "results.json").read_text())["models"]}
    served = json.loads((evaluation_dir / "results.json").read_text())["models"]
    best_key = next(line for line in result.stdout.splitlines() if "Exported best_student" in line)
    best_key = best_key.split("(")[1].split(")")[0]
    for evaluated, key in zip(served, ("teacher", best_key)):
        for split in ("validation", "test"):
            for metric, value in job[key][split].items():
                assert abs(evaluated[split][metric] - value) < 1e-6, (key, split, metric)
