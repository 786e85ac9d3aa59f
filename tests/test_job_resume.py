"""Reproducibility of the main job: another seed moves the weights and not the split, and a job
killed in either stage resumes to the weights of an uninterrupted run."""

from __future__ import annotations

import csv
import json
import subprocess

from job_runs import (
    REPO,
    assert_resumed_as_uninterrupted,
    job_command,
    kill_after_epoch,
    run_job,
    tiny_preset,  # noqa: F401  (a fixture)
)
from seed_offset import shifted


def table_rows(output_dir):
    results = json.loads((output_dir / "tiny" / "results.json").read_text())
    return {model["name"]: model["test"] for model in results["models"]}


def test_another_seed_moves_the_weights_not_the_split(tiny_preset, tmp_path):
    # A manifest without a split column: the job draws the paper split, which --seed must not move.
    # (Same seed, same metrics: the SIGKILL test below compares two runs of one command.)
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
    runs = ("seed0", "seed1")
    for seed, run in enumerate(runs):
        run_job(job_command(tiny_preset, tmp_path / run, 2, *data, "--seed", str(shifted(seed))))
    losses = [json.loads(next((tmp_path / run).glob("teachers/*/*/main/teacher/transfer/done.json")).read_text())
              ["history"]["loss"] for run in runs]
    assert losses[0] != losses[1]  # the seed moved the weights, not the split
    splits = [(tmp_path / run / "tiny" / "splits.csv").read_text() for run in runs]
    assert splits[0] == splits[1] and splits[0].count(",test") == 16


def test_sigkill_in_either_stage_resumes_to_the_same_weights(tiny_preset, tmp_path):
    # Killed once in stage 1 of the teacher and once in stage 2 of a distilled student: stage 2
    # must not depend on random state that only an uninterrupted stage 1 leaves behind.
    transfer_epochs, finetune_epochs = 4, 3
    extra = ("--finetune-epochs", str(finetune_epochs), "--no-baselines")
    uninterrupted = tmp_path / "uninterrupted"
    first = run_job(job_command(tiny_preset, uninterrupted, transfer_epochs, *extra))
    first_rows = table_rows(uninterrupted)
    assert "Recording teacher's logits" in first.stderr
    # Run again, every stage of the distilled student is loaded as it finished: its teacher's logits are not
    # recorded again, and its row is the first run's.
    again = run_job(job_command(tiny_preset, uninterrupted, transfer_epochs, *extra))
    assert "Recording teacher's logits" not in again.stderr
    assert ", stage transfer (" in first.stderr and ", stage " not in again.stderr  # no stage trains again
    assert table_rows(uninterrupted) == first_rows and "BERT_1-AudioCNN + KD" in first_rows
    killed = tmp_path / "killed"
    command = job_command(tiny_preset, killed, transfer_epochs, *extra)
    for stage_dir_glob, epoch in (("teachers/*/*/main/teacher/transfer", 2),
                                  ("tiny/models/*/*/main/student_k1_kd/finetune", 1)):
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_after_epoch(process, stage_dir_glob, killed, epoch)
    run_job(command)  # the same command resumes

    assert_resumed_as_uninterrupted(uninterrupted, killed, (
        "teachers/*/*/main/teacher/transfer", "teachers/*/*/main/teacher/finetune",
        "tiny/models/*/*/main/student_k1_kd/transfer", "tiny/models/*/*/main/student_k1_kd/finetune",
    ))
