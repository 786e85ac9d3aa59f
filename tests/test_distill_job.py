"""The main job end to end, on a tiny BERT preset and a slice of the demo corpus: its outputs,
the reuse of a finished job, the exported models as served, two workers.

Every run is a subprocess of `training_scripts/distill.py`, as a user runs it (see job_runs.py).
Resume and seeds: test_job_resume.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from job_runs import (  # noqa: F401  (tiny_preset: a fixture)
    REPO,
    job_command,
    run_job,
    scores_of_predictions,
    tiny_preset,
    weights_of,
)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ser_keras.models.audio_cnn import build_compact_audio_encoder


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
        # Each test score is that of the model's test predictions, recomputed here from the job's predictions file.
        reference = scores_of_predictions(run_dir / "predictions" / f"{model['extra']['model_key']}_test.csv")
        assert model["test"] == pytest.approx(reference, abs=1e-9), model["name"]
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


def exporting_job_command(preset: str, output_dir: Path) -> list[str]:
    """The tiny job with an audio-only student, exporting every model."""
    command = [arg for arg in job_command(preset, output_dir) if arg != "--no-export"]
    return [*command, "--students", "1,audio-compact", "--no-baselines", "--export-all"]


@pytest.fixture(scope="module")
def two_replica_run(tiny_preset, tmp_path_factory):
    """The exporting job on one worker with two CPU replicas: (output dir, completed process)."""
    output_dir = tmp_path_factory.mktemp("two_replicas")
    command = exporting_job_command(tiny_preset, output_dir)
    command[1:2] = [str(REPO / "tests" / "job_on_cpu_replicas.py"), "2"]
    result = run_job(command)
    assert "MirroredStrategy over 2 CPU device(s)" in result.stderr
    return output_dir, result


def test_exported_models_score_as_in_the_job_when_evaluated_as_served(two_replica_run, tmp_path):
    output_dir, result = two_replica_run
    run_dir = output_dir / "tiny"
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


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("key", ["teacher", "student_k1_kd", "audio_compact_kd"])
def test_ser_predict_on_the_jobs_test_clips_gives_the_jobs_test_predictions(two_replica_run, tmp_path, key):
    """Table II is what a user gets: the speaker-normalised export, served by `ser-predict --manifest` on the
    job's test clips with their speakers, predicts each scored clip's label as the job did, and marks as
    enrolment exactly the clips the job left unscored (before, served clips fell back to the training
    statistics, and the job's statistics included the scored clip)."""
    output_dir, _ = two_replica_run
    run_dir = output_dir / "tiny"
    metadata = json.loads(next((run_dir / "export" / key).glob("*/assets.extra/metadata.json")).read_text())
    assert metadata["speaker_normalization"]["statistics"] == "enrolment"
    assert metadata["speaker_normalization"]["enrolment_clips"] == 2
    assert "serving_speaker" in metadata["signatures"].values()

    output = tmp_path / "served.csv"
    subprocess.run(
        [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(run_dir / "export" / key),
         "--manifest", str(run_dir / "predictions" / "test_clips.csv"), "--output", str(output)],
        check=True, capture_output=True, timeout=600,
    )
    served = read_rows(output)
    job = {row["utterance_id"]: row["predicted_label"] for row in read_rows(run_dir / "predictions" / f"{key}_test.csv")}
    scored = {row["utterance_id"]: row["predicted_label"] for row in served if row["enrolment"] == "0"}
    enrolled = [row for row in served if row["enrolment"] == "1"]
    assert scored == job
    assert len(enrolled) == 2 * len({row["speaker"] for row in served}) and len(scored) == len(served) - len(enrolled)

    # The job's Table II test accuracy is the accuracy of those predictions.
    results = {m["extra"]["model_key"]: m for m in json.loads((run_dir / "results.json").read_text())["models"]
               if m["role"] != "reference"}
    labels = {row["utterance_id"]: row["label"] for row in served}
    accuracy = np.mean([labels[utterance_id] == predicted for utterance_id, predicted in job.items()])
    assert abs(results[key]["test"]["acc"] - accuracy) < 1e-9


def output_files(output_dir: Path) -> list[str]:
    """Every file under `output_dir`; TensorBoard event files and cache files without their unique part."""
    files = []
    for path in output_dir.rglob("*"):
        if path.is_file():
            relative = path.relative_to(output_dir).as_posix()
            relative = re.sub(r"events\.out\.tfevents\..*", "events", relative)
            files.append(re.sub(r"-[0-9a-f]{24}\.npz$", "-<weights fingerprint>.npz", relative))
    return sorted(files)


def test_two_workers_write_one_set_of_outputs_and_train_as_one_worker_with_two_replicas(
    two_replica_run, tiny_preset, tmp_path
):
    reference_dir, _ = two_replica_run
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    # Logs to files: a worker blocked on a full pipe would stall the other at its next all-reduce.
    logs = [(tmp_path.parent / f"worker{index}.out", tmp_path.parent / f"worker{index}.err") for index in range(2)]
    workers = []
    for index, (out_path, err_path) in enumerate(logs):
        with open(out_path, "w") as out, open(err_path, "w") as err:
            workers.append(subprocess.Popen(
                exporting_job_command(tiny_preset, tmp_path), cwd=REPO, stdout=out, stderr=err,
                env=dict(os.environ, TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}})),
            ))
    try:
        for worker in workers:
            worker.wait(timeout=900)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    outputs = [(out_path.read_text(), err_path.read_text()) for out_path, err_path in logs]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-4000:]
    chief_log, other_log = (stderr for _, stderr in outputs)
    assert "MultiWorkerMirroredStrategy with 2 replicas in sync" in chief_log
    assert "Worker worker-1 is not the chief" in other_log and "is not the chief" not in chief_log
    # Both print where the (chief's) outputs are.
    assert all(f"Run directory: {tmp_path / 'tiny'}" in stdout for stdout, _ in outputs)

    # One set of outputs, file for file what a single worker writes; no worker folder left behind.
    assert output_files(tmp_path) == output_files(reference_dir)
    assert not (tmp_path / ".workers").exists()
    # The same training as one worker with two replicas, stage by stage, and so the same scores. (Before the
    # compact CNN's batch norm used the global batch, each worker kept its own moving statistics and the
    # other worker embedded its clips with them: the teacher's first step already differed.)
    done_files = sorted(path.relative_to(reference_dir) for path in reference_dir.rglob("done.json"))
    assert len(done_files) >= 5 and done_files == sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("done.json"))
    for done in done_files:
        expected, actual = (json.loads((root / done).read_text())["history"] for root in (reference_dir, tmp_path))
        for key in ("loss", "val_loss", "val_acc"):
            np.testing.assert_allclose(actual[key], expected[key], rtol=1e-5, err_msg=f"{done}: {key}")
    expected, actual = (weights_of(next(root.glob("teachers/*/*/main/teacher/finetune/best.weights.h5")))
                        for root in (reference_dir, tmp_path))
    assert expected.keys() == actual.keys() and all(np.allclose(expected[k], actual[k], atol=1e-5) for k in expected)
    results, reference = (json.loads((root / "tiny" / "results.json").read_text())["models"] for root in (tmp_path, reference_dir))
    assert [m["name"] for m in results] == [m["name"] for m in reference]
    assert [(m["validation"], m["test"]) for m in results] == [(m["validation"], m["test"]) for m in reference]
