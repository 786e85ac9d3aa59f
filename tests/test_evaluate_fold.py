"""`evaluate.py --fold NAME`: a leave-one-speaker-out job's exported models, scored on their fold's splits.

The job (`--protocol loso`) exports the models of its first fold; `--fold` picks that fold (or any other) from
the folds the data flags give, as the job made them (`job_folds`, the folds of `<run>/splits.csv`).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest
from job_runs import REPO, job_command, run_job, tiny_preset  # noqa: F401  (fixture)

from ser_keras.config import DataConfig
from ser_keras.data.errors import DatasetError
from ser_keras.experiment.data import job_folds, load_corpus, select_fold

SPEAKER_FOLDS = ("--dataset", "demo", "--protocol", "loso", "--speaker-folds", "3")
FOLD_NAMES = ["speakers1", "speakers2", "speakers3"]


def load_evaluate_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", REPO / "training_scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speaker_folds():
    config = DataConfig(protocol="loso", speaker_folds=3)
    return config, job_folds(load_corpus(config), config)


def test_select_fold_picks_the_named_fold_or_lists_the_names(speaker_folds):
    config, folds = speaker_folds
    assert [name for name, _ in folds] == FOLD_NAMES
    assert select_fold(folds, "speakers2", config) is folds[1][1]
    with pytest.raises(DatasetError) as error:
        select_fold(folds, "speakers4", config)
    assert str(error.value).startswith(
        "--fold speakers4: no such fold; with --protocol loso the data has 3 folds: speakers1, speakers2, speakers3."
    )
    single = DataConfig()
    with pytest.raises(DatasetError, match=r"^--fold speakers1: no such fold; with --protocol single the data has "
                                           r"1 fold: main\. A leave-one-speaker-out job's folds come from its data "
                                           r"flags with --protocol loso"):
        select_fold(job_folds(load_corpus(single), single), "speakers1", single)


def test_evaluate_refuses_an_unknown_fold_and_asks_for_one_under_loso(tmp_path, capsys):
    evaluate = load_evaluate_script()
    for flags, message in (
        (["--fold", "speaker_x"], "error: --fold speaker_x: no such fold; with --protocol loso the data "
                                  "has 3 folds: speakers1, speakers2, speakers3."),
        ([], "--protocol loso gives 3 folds (speakers1, speakers2, speakers3), and each fold's models are its own: "
             "pass --fold NAME (a job exports the models of its first fold, --fold speakers1)"),
    ):
        status = evaluate.main(["--model", str(tmp_path / "unused"), *SPEAKER_FOLDS, *flags,
                                "--output-dir", str(tmp_path / "evaluation")])
        stderr = capsys.readouterr().err
        assert status == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "evaluation").exists()


def test_a_loso_jobs_exported_teacher_scores_on_its_fold_as_in_the_job(tiny_preset, tmp_path):  # noqa: F811
    command = [arg for arg in job_command(tiny_preset, tmp_path, 1, *SPEAKER_FOLDS, "--modality", "text")
               if arg != "--no-export"]
    command[1] = str(REPO / "training_scripts" / "train_teacher.py")
    run_job(command)
    run_dir = tmp_path / "tiny"
    with open(run_dir / "splits.csv", encoding="utf-8", newline="") as handle:
        assert list(dict.fromkeys(row["fold"] for row in csv.DictReader(handle))) == FOLD_NAMES
    teacher = next(m for m in json.loads((run_dir / "results.json").read_text())["models"] if m["role"] == "teacher")
    job_fold = teacher["extra"]["folds"][0]
    assert job_fold["fold"] == FOLD_NAMES[0]  # the exported models are the first fold's

    evaluation_dir = tmp_path / "evaluation"
    run_job([sys.executable, str(REPO / "training_scripts" / "evaluate.py"),
             "--model", str(run_dir / "export" / "teacher"), *SPEAKER_FOLDS, "--fold", FOLD_NAMES[0],
             "--limit-per-split", "16", "--latency-runs", "2", "--output-dir", str(evaluation_dir)])
    evaluated = json.loads((evaluation_dir / "results.json").read_text())
    served = evaluated["models"][0]
    for split in ("validation", "test"):
        for metric, value in job_fold[split].items():
            assert abs(served[split][metric] - value) < 1e-6, (split, metric)
    assert "fold speakers1" in (evaluation_dir / "results.md").read_text()
