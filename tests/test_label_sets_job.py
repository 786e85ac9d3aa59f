"""The job with other label sets than IEMOCAP's four, end to end: 3 merged classes in a chosen order (trained,
tabled, exported, served), and EmoDB's 7 classes under leave-one-speaker-out."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from job_runs import REPO, job_command, run_job, scores_of_predictions, tiny_preset  # noqa: F401  (a fixture)

TEXTS = ("a01", "a02", "a04", "a05", "a07")  # EmoDB text codes
EMODB_LABELS = ["angry", "bored", "disgust", "fearful", "happy", "sad", "neutral"]


def abs_approx(value: float):
    return pytest.approx(value, abs=1e-9)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_three_merged_classes_in_a_chosen_order_train_export_and_serve(tiny_preset, tmp_path):  # noqa: F811
    command = [arg for arg in job_command(tiny_preset, tmp_path) if arg != "--no-export"]
    run_job([*command, "--dataset", "manifest", "--manifest", str(REPO / "data" / "demo" / "manifest.csv"),
             "--label-map", "neutral=calm,sad=calm", "--labels", "calm,happy,angry", "--no-baselines"])
    run_dir = tmp_path / "tiny"
    results = json.loads((run_dir / "results.json").read_text())
    teacher = next(m for m in results["models"] if m["role"] == "teacher")
    expected = scores_of_predictions(run_dir / "predictions" / "teacher_test.csv")
    assert teacher["test"] == {key: abs_approx(value) for key, value in expected.items()}
    metadata = json.loads(next((run_dir / "export" / "teacher").glob("*/assets.extra/metadata.json")).read_text())
    assert metadata["label_names"] == ["calm", "happy", "angry"]

    served = tmp_path / "served.csv"
    subprocess.run([sys.executable, "-m", "ser_keras.serving.cli", "--model", str(run_dir / "export" / "teacher"),
                    "--manifest", str(run_dir / "predictions" / "test_clips.csv"), "--output", str(served)],
                   check=True, capture_output=True, timeout=600)
    rows = read_rows(served)
    assert [c for c in rows[0] if c.startswith("p_")] == ["p_calm", "p_happy", "p_angry"]
    assert {row["label"] for row in rows} == {"calm", "happy", "angry"}  # the job's test clips, relabelled
    job = {r["utterance_id"]: r["predicted_label"] for r in read_rows(run_dir / "predictions" / "teacher_test.csv")}
    assert {r["utterance_id"]: r["predicted_label"] for r in rows if r["enrolment"] == "0"} == job
    assert (run_dir / "confusion" / "teacher_test.png").is_file()


def write_emodb_fixture(folder: Path, speakers=("03", "08", "09")) -> None:
    """EmoDB file names (speaker, text, emotion letter, version) on demo audio: 2 clips per speaker and class."""
    demo = sorted((REPO / "data" / "demo" / "audio").glob("*.flac"))
    folder.mkdir()
    index = 0
    for speaker in speakers:
        for letter in "WLEAFTN":
            for version in "ab":
                waveform, rate = soundfile.read(demo[index])
                soundfile.write(folder / f"{speaker}{TEXTS[index % 5]}{letter}{version}.wav", waveform, rate)
                index += 1


def test_seven_emodb_classes_under_leave_one_speaker_out(tiny_preset, tmp_path):  # noqa: F811
    corpus = tmp_path / "emodb"
    write_emodb_fixture(corpus)
    result = run_job([*job_command(tiny_preset, tmp_path), "--dataset", "emodb", "--data-dir", str(corpus),
                      "--protocol", "loso", "--modality", "audio", "--students", "audio-compact", "--no-baselines"])
    assert "Speaker folds: 3" in result.stderr
    results = json.loads((tmp_path / "tiny" / "results.json").read_text())
    teacher = next(m for m in results["models"] if m["role"] == "teacher")
    folds = teacher["extra"]["folds"]
    assert [fold["fold"] for fold in folds] == ["speaker_03", "speaker_08", "speaker_09"]
    np.testing.assert_allclose(teacher["test"]["acc"], np.mean([fold["test"]["acc"] for fold in folds]), atol=1e-9)
    np.testing.assert_allclose(teacher["extra"]["test_std"]["acc"], np.std([fold["test"]["acc"] for fold in folds]),
                               atol=1e-9)
    assert "±" in (tmp_path / "tiny" / "results.md").read_text()
    # Each fold's scored test clips are its held-out speaker's, less the 2 enrolment clips: 12 of 14.
    splits = read_rows(tmp_path / "tiny" / "splits.csv")
    for fold, speaker in zip(("speaker_03", "speaker_08", "speaker_09"), ("03", "08", "09"), strict=True):
        tested = [row["utterance_id"] for row in splits if row["fold"] == fold and row["split"] == "test"]
        assert len(tested) == 14 and all(uid.startswith(speaker) for uid in tested)
    assert all((tmp_path / "tiny" / "confusion" / f"teacher_{f}_test.png").is_file() for f in ("speaker_03", "speaker_08"))
    for index, fold in enumerate(("speaker_03", "speaker_08", "speaker_09")):
        path = tmp_path / "tiny" / "predictions" / f"teacher_{fold}_test.csv"
        assert len(read_rows(path)) == 12
        assert folds[index]["test"] == {key: abs_approx(value) for key, value in scores_of_predictions(path).items()}
    assert {row["label"] for row in read_rows(tmp_path / "tiny" / "predictions" / "test_clips_speaker_03.csv")} == set(
        EMODB_LABELS)
