"""Errors in the user's data or flags end the job commands with one message and exit status 2.

The commands run in this process with the job cut after its data steps (the real ones, which come
before any training), except for one run of `training_scripts/distill.py` as a user runs it.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from job_runs import REPO, SCRIPT

from ser_keras.config import DataConfig
from ser_keras.data import read_manifest
from ser_keras.data.errors import DatasetError
from ser_keras.experiment.cli import run_job_command
from ser_keras.experiment.data import check_corpus_modalities, job_folds, load_corpus

LABELS = ("angry", "happy", "sad", "neutral")
SPLIT_CYCLE = ("train", "train", "train", "validation", "test")


def write_manifest(path: Path, rows: list[tuple]) -> Path:
    """A text-only manifest: rows of `(text, label, split, utterance_id[, extra fields])`."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text", "label", "split", "utterance_id"])
        writer.writerows(("", *row) for row in rows)
    return path


def good_rows(count: int = 40, split: bool = True) -> list[tuple]:
    """`count` rows, the labels in turn, train/validation/test in turn (or no split)."""
    return [(f"text {i}", LABELS[i % 4], SPLIT_CYCLE[i % 5] if split else "", f"u{i}") for i in range(count)]


@pytest.fixture
def job_data_steps(monkeypatch):
    """`run_job_command` with the job cut after reading and splitting the data."""
    import ser_keras.experiment.runner as runner

    def data_steps(config):
        corpus = load_corpus(config.data)
        check_corpus_modalities(corpus, config.model.modality)
        job_folds(corpus, config.data)
        raise AssertionError("the data were accepted")

    monkeypatch.setattr(runner, "run_distill_job", data_steps)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each case: the flags, and what the one-line message says."""
    bad_row = write_manifest(tmp_path / "bad_row.csv", [*good_rows(2), ("text", "sad", "train", "u9", "extra")])
    bad_label = write_manifest(tmp_path / "bad_label.csv", [*good_rows(3), ("text", "bored", "train", "u9")])
    partial = write_manifest(tmp_path / "partial.csv", [*good_rows(), ("text", "sad", "", "u98"), ("x", "sad", "", "u99")])
    no_validation = write_manifest(tmp_path / "no_validation.csv", [row for row in good_rows() if row[2] != "validation"])
    one_angry = write_manifest(tmp_path / "one_angry.csv", [*[r for r in good_rows(split=False) if r[1] != "angry"],
                                                            ("text", "angry", "", "u99")])
    good = write_manifest(tmp_path / "good.csv", good_rows())
    bad_split_file = tmp_path / "bad_split.csv"
    bad_split_file.write_text("utterance_id,split\nu1,train\nu2,bogus\n")
    other_split_file = tmp_path / "other_split.csv"
    other_split_file.write_text("utterance_id,split\nz1,train\nz2,test\n")
    return {
        "missing manifest": ([str(tmp_path / "absent.csv")], f"--manifest {tmp_path / 'absent.csv'}: no such file"),
        "row with too many fields": ([str(bad_row)], f"{bad_row}, line 4: the row has more fields than the header"),
        "label outside the label set": ([str(bad_label), "--labels", "angry,happy,sad,neutral"], "labels not in the label set ['angry', 'happy', 'sad', "
                                                          "'neutral']: 'bored' (lines 5)"),
        "partly filled split column": ([str(partial)], f"{partial}: 2 utterances have no split value: 'u98', 'u99'"),
        "no validation clip": ([str(no_validation)], f"The validation split is empty (the 'split' column of "
                                                     f"{no_validation})"),
        "a class with one clip": ([str(one_angry)], "every class needs at least 3 utterances; too few: 'angry' (1)"),
        "bad split file": ([str(good), "--split-file", str(bad_split_file)],
                           f"{bad_split_file}, line 3: field 'split': unknown split 'bogus'"),
        "split file of another corpus": ([str(good), "--split-file", str(other_split_file)],
                                         f"None of the 2 ids of split file '{other_split_file}' is in the corpus"),
        "missing split file": ([str(good), "--split-file", str(tmp_path / "absent_split.csv")],
                               f"Split file '{tmp_path / 'absent_split.csv'}' does not exist"),
    }


CASES = ["missing manifest", "row with too many fields", "label outside the label set", "partly filled split column",
         "no validation clip", "a class with one clip", "bad split file", "split file of another corpus",
         "missing split file"]


def assert_one_message(capsys, status: int, message: str) -> None:
    """Exit status 2 and one line on stderr, `<program>: error: ...<message>...`, no traceback."""
    stderr = capsys.readouterr().err
    assert status == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "error: " in stderr and message in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", CASES)
def test_bad_data_is_one_message_and_exit_status_2(tmp_path, capsys, job_data_steps, case):
    manifest_and_flags, message = bad_inputs(tmp_path)[case]
    argv = ["--dataset", "manifest", "--modality", "text", "--output-dir", str(tmp_path / "out"),
            "--manifest", *manifest_and_flags]
    assert_one_message(capsys, run_job_command(argv, "The job."), message)


def test_verbose_keeps_the_traceback(tmp_path, capsys, caplog, job_data_steps):
    manifest_and_flags, message = bad_inputs(tmp_path)["label outside the label set"]
    argv = ["--dataset", "manifest", "--modality", "text", "--manifest", *manifest_and_flags, "--verbose"]
    with caplog.at_level(logging.ERROR):
        assert_one_message(capsys, run_job_command(argv, "The job."), message)
    assert any(record.exc_info and isinstance(record.exc_info[1], DatasetError) for record in caplog.records)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--limit-per-split", "0"], "argument --limit-per-split: must be an integer >= 1; got '0'"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
        (["--seed", "-1"], "argument --seed: must be an integer >= 0"),
        (["--split-seed", "-2"], "argument --split-seed: must be an integer >= 0"),
        (["--sequence-length", "1"], "argument --sequence-length: must be an integer >= 3"),
        (["--max-patches", "0"], "argument --max-patches: must be an integer >= 1"),
        (["--transfer-epochs", "-1"], "argument --transfer-epochs: must be an integer >= 0"),
        (["--latency-runs", "-5"], "argument --latency-runs: must be an integer >= 0"),
    ],
)
def test_nonsensical_numbers_are_refused_naming_the_flag(capsys, job_data_steps, flags, message):
    with pytest.raises(SystemExit) as stopped:
        run_job_command(flags, "The job.")
    assert stopped.value.code == 2
    stderr = capsys.readouterr().err
    assert message in stderr and "Traceback" not in stderr


def test_a_partly_filled_split_column_lists_the_rows_without_a_split(tmp_path):
    rows = [*good_rows(), *[(f"more {i}", "sad", "", f"blank{i}") for i in range(12)]]
    manifest = write_manifest(tmp_path / "partial.csv", rows)
    config = DataConfig(dataset="manifest", manifest=str(manifest))
    with pytest.raises(DatasetError) as error:
        job_folds(read_manifest(manifest), config)
    message = str(error.value)
    assert message.startswith(f"{manifest}: 12 utterances have no split value: 'blank0', 'blank1',")
    assert "'blank9' and 2 more" in message
    # An explicit other split kind still uses every row; an empty column means the paper split.
    assert sum(len(items) for items in job_folds(read_manifest(manifest), DataConfig(
        dataset="manifest", manifest=str(manifest), split="paper"))[0][1]) == len(rows)
    blank = write_manifest(tmp_path / "blank.csv", good_rows(split=False))
    assert sum(len(items) for items in job_folds(read_manifest(blank), DataConfig(
        dataset="manifest", manifest=str(blank)))[0][1]) == 40


def load_evaluate_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", REPO / "training_scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_stops_on_bad_data_or_a_bad_model_path_with_one_message(tmp_path, capsys):
    evaluate = load_evaluate_script()
    manifest_and_flags, message = bad_inputs(tmp_path)["no validation clip"]
    status = evaluate.main(["--model", "unused", "--dataset", "manifest", "--manifest", *manifest_and_flags])
    assert_one_message(capsys, status, message)
    good = str(tmp_path / "good.csv")
    status = evaluate.main(["--model", str(tmp_path / "no_model"), "--dataset", "manifest", "--manifest", good,
                            "--output-dir", str(tmp_path / "evaluation")])
    assert_one_message(capsys, status, f"Cannot use model '{tmp_path / 'no_model'}'")


def test_the_job_command_stops_on_bad_data_without_a_traceback(tmp_path):
    """`distill.py` as a user runs it, the real job: a bad manifest row."""
    manifest_and_flags, message = bad_inputs(tmp_path)["row with too many fields"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", "manifest", "--manifest", *manifest_and_flags,
         "--modality", "text", "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"distill.py: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
