"""Running the main job as a user does, for the job tests: a tiny BERT preset, the command, the
comparison of a resumed run with an uninterrupted one.

Every run is a subprocess of `training_scripts/distill.py` (the job switches on TensorFlow's global
op determinism, which must not leak into other tests).
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from seed_offset import shifted
from text_model_stand_ins import save_tiny_preset_with_tokenizer

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training_scripts" / "distill.py"


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    # The preset's weights are drawn from the shifted seed too (SER_TEST_SEED_OFFSET, seed_offset.py).
    return save_tiny_preset_with_tokenizer(tmp_path_factory.mktemp("preset"), texts, seed=shifted(0))


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
        "--enrolment-clips", "2",
        "--no-export",
        "--output-dir", str(output_dir),
        "--run-name", "tiny",
        "--seed", str(shifted(0)),  # SER_TEST_SEED_OFFSET; a later --seed in `extra` replaces it
        *extra,
    ]


def run_job(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def weights_of(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


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


def assert_resumed_as_uninterrupted(uninterrupted: Path, killed: Path, stage_dirs) -> list[list[dict]]:
    """Each stage's best weights (1e-5) and every epoch's loss (1e-5 relative) match, and so do the
    test scores; returns both runs' results.json models (uninterrupted first)."""
    for stage_dir in stage_dirs:
        expected = weights_of(next(uninterrupted.glob(f"{stage_dir}/best.weights.h5")))
        actual = weights_of(next(killed.glob(f"{stage_dir}/best.weights.h5")))
        assert expected.keys() == actual.keys() and expected
        for name in expected:
            np.testing.assert_allclose(actual[name], expected[name], atol=1e-5, err_msg=f"{stage_dir}: {name}")
        # Every epoch's losses, the resumed ones included: the dropout masks were the same.
        expected_history = json.loads(next(uninterrupted.glob(f"{stage_dir}/done.json")).read_text())["history"]
        actual_history = json.loads(next(killed.glob(f"{stage_dir}/done.json")).read_text())["history"]
        assert len(actual_history["loss"]) == len(expected_history["loss"])
        np.testing.assert_allclose(actual_history["loss"], expected_history["loss"], rtol=1e-5, err_msg=stage_dir)
    results = [json.loads((root / "tiny" / "results.json").read_text())["models"] for root in (uninterrupted, killed)]
    assert [m["test"] for m in results[1]] == [m["test"] for m in results[0]]
    return results


def scores_of_predictions(path: Path) -> dict[str, float]:
    """ACC, BACC, MF1 and WF1 of a job's `predictions/<model>_test.csv`, computed here from its rows (numpy,
    not the job's scikit-learn calls): the reference a Table II row must equal."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, f"{path} has no predictions"
    labels = np.array([row["label"] for row in rows])
    predicted = np.array([row["predicted_label"] for row in rows])
    f1, recall, support = {}, {}, {}
    for name in sorted({*labels, *predicted}):
        true_positives = float(np.sum((labels == name) & (predicted == name)))
        support[name] = float(np.sum(labels == name))
        precision = true_positives / max(np.sum(predicted == name), 1)
        recall[name] = true_positives / max(support[name], 1)
        both = precision + recall[name]
        f1[name] = 2 * precision * recall[name] / both if both else 0.0
    return {
        "acc": float(np.mean(labels == predicted)),
        "bacc": float(np.mean([recall[name] for name in recall if support[name]])),
        "mf1": float(np.mean(list(f1.values()))),
        "wf1": float(sum(f1[name] * support[name] for name in f1) / len(labels)),
    }
