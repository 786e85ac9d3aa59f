"""Seeds as a protocol (`--seeds`): one run per seed on a fixed split, mean ± std, paired KD differences;
and the weighted F1 of Table II."""

from __future__ import annotations

import argparse
import dataclasses
import doctest
import json
import os
from pathlib import Path

import numpy as np
import pytest
from job_runs import job_command, run_job, tiny_preset  # noqa: F401  (a fixture)
from seed_offset import shifted
from sklearn.metrics import f1_score

from ser_keras.config import DistillJobConfig
from ser_keras.experiment import cli, seeds
from ser_keras.experiment.runner import JobOutputs
from ser_keras.experiment.seeds import paired_kd_differences, parse_seeds, run_seeds, seed_config
from ser_keras.reporting import TABLE_METRICS, ModelResult, results_markdown
from ser_keras.training.metrics import classification_metrics

SPLITS = ("validation", "test")


# --- weighted F1 ---------------------------------------------------------------------------------

def test_weighted_f1_is_sklearns_and_is_a_table_ii_column():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    scores = classification_metrics(y_true, y_pred)
    # Per class F1: 0.8 (3 clips), 0.5 (2 clips), 2/3 (1 clip), weighted by support.
    assert scores["wf1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert scores["wf1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert scores["wf1"] != pytest.approx(scores["mf1"])  # a different figure from macro F1 here
    row = ModelResult("m", 1, False, validation=scores, test=scores)
    header, _, line = results_markdown([row]).splitlines()
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert "Val WF1" in columns and "Test WF1" in columns and "Test ACC" in columns
    assert cells[columns.index("Test WF1")] == f"{100 * scores['wf1']:.2f}"
    assert row.to_dict()["test"]["wf1"] == scores["wf1"]


# --- the aggregate, on rows made here (no training) ----------------------------------------------

def job_rows(seed: int) -> list[ModelResult]:
    """Table II rows of a fake job: a teacher, a student with its KD twin, a probe; scores depend on the seed."""
    rng = np.random.default_rng(seed)

    def row(key: str, distilled: bool = False, role: str = "student") -> ModelResult:
        scores = {split: {m: float(rng.uniform(0.3, 0.9)) for m in TABLE_METRICS} for split in SPLITS}
        return ModelResult(key, 2, distilled, validation=scores["validation"], test=scores["test"], role=role,
                           extra={"model_key": key})

    return [row("teacher", role="teacher"), row("student_k2"), row("student_k2_kd", True),
            row("probe_text", role="reference")]


def fake_job(split_of=lambda seed: "a,main,train\n"):
    def run(config: DistillJobConfig) -> JobOutputs:
        os.makedirs(config.run_dir, exist_ok=True)
        Path(config.run_dir, "splits.csv").write_text("utterance_id,fold,split\n" + split_of(config.recipe.seed))
        return JobOutputs(config.run_dir, os.path.join(config.run_dir, "tensorboard"),
                          job_rows(config.recipe.seed), {})
    return run


def test_aggregate_is_numpys_mean_and_std_of_the_per_seed_rows_and_differences_are_paired_by_seed(tmp_path):
    config = DistillJobConfig(output_dir=str(tmp_path), run_name="run")
    outputs = run_seeds(config, [4, 9, 2], run_job=fake_job())
    per_seed = {seed: job_rows(seed) for seed in (4, 9, 2)}
    assert list(outputs.per_seed) == [4, 9, 2]
    assert [o.run_dir for o in outputs.per_seed.values()] == [str(tmp_path / "run" / f"seed_{s}") for s in (4, 9, 2)]

    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["seeds"] == [4, 9, 2] and saved["metadata"]["config"]["recipe"]["seed"] == [4, 9, 2]
    assert [m["extra"]["model_key"] for m in saved["models"]] == ["teacher", "student_k2", "student_k2_kd", "probe_text"]
    for index, model in enumerate(saved["models"]):
        assert [run["seed"] for run in model["extra"]["seeds"]] == [4, 9, 2]
        assert model["extra"]["num_seeds"] == 3
        for split in SPLITS:
            for metric in TABLE_METRICS:
                values = [getattr(per_seed[s][index], split)[metric] for s in (4, 9, 2)]
                assert [run[split][metric] for run in model["extra"]["seeds"]] == values
                assert model[split][metric] == pytest.approx(np.mean(values), abs=1e-12)
                assert model["extra"][f"{split}_std"][metric] == pytest.approx(np.std(values), abs=1e-12)

    (pair,) = saved["kd_differences"]
    assert (pair["student"], pair["kd"]) == ("student_k2", "student_k2_kd")
    assert [run["seed"] for run in pair["seeds"]] == [4, 9, 2]
    for split in SPLITS:
        for metric in TABLE_METRICS:
            differences = [getattr(per_seed[s][2], split)[metric] - getattr(per_seed[s][1], split)[metric]
                           for s in (4, 9, 2)]
            assert [run[split][metric] for run in pair["seeds"]] == pytest.approx(differences, abs=1e-12)
            mean, std = np.mean(differences), np.std(differences)
            assert pair[split]["mean"][metric] == pytest.approx(mean, abs=1e-12)
            assert pair[split]["std"][metric] == pytest.approx(std, abs=1e-12)
            expected = "within_spread" if abs(mean) <= std else ("kd" if mean > 0 else "no_kd")
            assert pair[split]["ordering"][metric] == expected
    markdown = (tmp_path / "run" / "results.md").read_text()
    assert "±" in markdown and "KD minus no KD (seeds 4, 9, 2)" in markdown
    assert (tmp_path / "run" / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_the_paired_difference_is_taken_within_each_seed_not_between_means():
    # KD ahead by exactly 1 point in every seed, while the scores themselves swing by 20: the difference has
    # no spread, and the ordering is stated; unpaired, the spreads of the two means would hide it.
    def rows(base: float) -> list[ModelResult]:
        return [ModelResult(k, 1, k.endswith("_kd"), test={"acc": base + (0.01 if k.endswith("_kd") else 0.0)},
                            extra={"model_key": k}) for k in ("student_k1", "student_k1_kd")]

    (pair,) = paired_kd_differences([rows(0.5), rows(0.7), rows(0.6)], [0, 1, 2])
    assert [run["test"]["acc"] for run in pair["seeds"]] == pytest.approx([0.01, 0.01, 0.01])
    assert pair["test"]["std"]["acc"] == pytest.approx(0.0, abs=1e-12)
    assert pair["test"]["ordering"]["acc"] == "kd"


def test_seeds_runs_that_split_differently_are_an_error(tmp_path):
    config = DistillJobConfig(output_dir=str(tmp_path), run_name="run")
    with pytest.raises(RuntimeError, match="different splits"):
        run_seeds(config, [0, 1], run_job=fake_job(lambda seed: f"a,main,{'train' if seed else 'test'}\n"))


def test_only_the_training_seed_changes_and_a_new_seed_trains_a_new_teacher():
    config = DistillJobConfig()
    first, second = seed_config(config, 1), seed_config(config, 2)
    assert first.data == second.data == config.data  # the split's settings (split_seed among them)
    assert first.model == config.model
    assert first.recipe == dataclasses.replace(config.recipe, seed=1)
    assert first.teacher_fingerprint() != second.teacher_fingerprint()  # saved teachers are per seed
    assert first.run_dir == os.path.join("saved_models", "demo", "seed_1")


def test_seeds_flag_parsing():
    assert parse_seeds("0,1,2") == (0, 1, 2)
    for text in ("1", "0,0", "0,-1", "a,b"):
        with pytest.raises(ValueError):
            parse_seeds(text)
    parser = argparse.ArgumentParser()
    cli.add_job_arguments(parser)
    assert parser.parse_args(["--seeds", "3,4"]).seeds == (3, 4)
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "1", "--seeds", "3,4"])


def test_the_docstring_examples_run():
    failures, attempted = doctest.testmod(seeds, optionflags=doctest.ELLIPSIS)
    assert failures == 0 and attempted >= 10


# --- the real job ----------------------------------------------------------------------------------

def without_seed(command: list[str]) -> list[str]:
    index = command.index("--seed")
    return command[:index] + command[index + 2:]


def test_seeds_job_gives_per_seed_runs_that_a_single_seed_run_reproduces(tiny_preset, tmp_path):  # noqa: F811
    a, b = shifted(1), shifted(2)
    result = run_job([*without_seed(job_command(tiny_preset, tmp_path / "seeds")), "--seeds", f"{a},{b}"])
    assert f"Seed {b}: " in result.stdout
    run = tmp_path / "seeds" / "tiny"
    aggregate = json.loads((run / "results.json").read_text())
    per_seed = {s: json.loads((run / f"seed_{s}" / "results.json").read_text())["models"] for s in (a, b)}
    for s in (a, b):  # each seed's run is a complete run
        assert json.loads((run / f"seed_{s}" / "config.json").read_text())["recipe"]["seed"] == s
        assert (run / f"seed_{s}" / "predictions" / "teacher_test.csv").is_file()
        assert (run / f"seed_{s}" / "results.png").is_file()
    assert (run / f"seed_{a}" / "splits.csv").read_text() == (run / f"seed_{b}" / "splits.csv").read_text()
    # Two seeds, two teachers: the seed is in the saved teacher's settings hash.
    assert len(list((tmp_path / "seeds" / "teachers").glob("*/settings.json"))) == 2

    assert aggregate["class_names"] == json.loads((run / f"seed_{a}" / "results.json").read_text())["class_names"]
    keys = [m["extra"]["model_key"] for m in aggregate["models"]]
    assert keys[:3] == ["teacher", "student_k1", "student_k1_kd"]
    for model in aggregate["models"]:
        key = model["extra"]["model_key"]
        rows = [next(m for m in per_seed[s] if m["extra"]["model_key"] == key) for s in (a, b)]
        assert [run_row["seed"] for run_row in model["extra"]["seeds"]] == [a, b]
        for split in SPLITS:
            assert [run_row[split] for run_row in model["extra"]["seeds"]] == [row[split] for row in rows]
            for metric in TABLE_METRICS:
                values = [row[split][metric] for row in rows]
                assert model[split][metric] == pytest.approx(np.mean(values), abs=1e-12)
                assert model["extra"][f"{split}_std"][metric] == pytest.approx(np.std(values), abs=1e-12)
    (pair,) = aggregate["kd_differences"]
    for run_row, s in zip(pair["seeds"], (a, b), strict=True):
        rows = {m["extra"]["model_key"]: m for m in per_seed[s]}
        assert run_row["seed"] == s
        assert run_row["test"] == pytest.approx(
            {m: rows["student_k1_kd"]["test"][m] - rows["student_k1"]["test"][m] for m in TABLE_METRICS}, abs=1e-12)
    markdown = (run / "results.md").read_text()
    assert "±" in markdown and "KD minus no KD" in markdown

    # Seed b alone, from the start in another output directory (nothing reused): the same numbers.
    run_job([*without_seed(job_command(tiny_preset, tmp_path / "single")), "--seed", str(b)])
    single = json.loads((tmp_path / "single" / "tiny" / "results.json").read_text())["models"]
    assert [m["extra"]["model_key"] for m in single] == [m["extra"]["model_key"] for m in per_seed[b]]
    for alone, in_seeds in zip(single, per_seed[b], strict=True):
        assert alone["validation"] == in_seeds["validation"], alone["name"]
        assert alone["test"] == in_seeds["test"], alone["name"]
    assert (tmp_path / "single" / "tiny" / "splits.csv").read_text() == (run / f"seed_{b}" / "splits.csv").read_text()
