"""Seeds as a protocol: the whole job once per training seed on one fixed split, then mean ± std.

One seed on a small test set cannot rank models: `run_seeds` runs the job
(`run_distill_job`) once per seed, each a complete normal run in
`<run>/seed_<s>/` (its own `results.*`, predictions, confusion matrices,
TensorBoard logs and exports), and writes the aggregate in `<run>/`:

* `results.md`: Table II with each model's mean ± standard deviation over the
  seeds (`numpy.mean` / `numpy.std`, as over LOSO folds: the rows are averaged
  by `ser_keras.experiment.folds.aggregate_runs`), then the paired
  KD-minus-no-KD differences;
* `results.json`: those rows, each with its per-seed rows in `extra["seeds"]`,
  `kd_differences` (`paired_kd_differences`) and the corpus's `class_names`;
* `results.png`: the chart of the means, with one-standard-deviation error bars.

Only the training seed changes between the runs (`Recipe.seed`: initial
weights, dropout masks, data order). The split is drawn with its own seed
(`DataConfig.split_seed`, `--split-seed`), so every seed is scored on the same
clips; `run_seeds` checks that the runs' `splits.csv` files are identical. A
saved teacher is reused only by a run with the same seed: the seed is part of
the teacher's settings hash (`DistillJobConfig.teacher_fingerprint`).

**Paired differences.** A student and its distilled twin start from the same
weights and see the same data order within a seed, so their difference is
paired by seed: per seed, KD minus no KD on each metric; over the seeds, the
mean and standard deviation of those differences. An ordering is stated only
where the mean difference exceeds its spread (`|mean| > std`): `"kd"` (KD
ahead), `"no_kd"` (no KD ahead), else `"within_spread"`.

Example:

>>> from ser_keras.config import DistillJobConfig
>>> outputs = run_seeds(DistillJobConfig(), [0, 1, 2])  # doctest: +SKIP
>>> outputs.results_paths["markdown"]  # doctest: +SKIP
'saved_models/demo/results.md'
>>> seed_config(DistillJobConfig(), 2).run_dir
'saved_models/demo/seed_2'

From the command line: `python training_scripts/distill.py --seeds 0,1,2`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser_keras.config import DistillJobConfig
from ser_keras.experiment.folds import aggregate_runs, result_key
from ser_keras.reporting import TABLE_METRICS, ModelResult, results_markdown, save_results

logger = logging.getLogger(__name__)

#: The suffix of a distilled student's model key (`student_k2_kd`, `compact_kd`).
KD_SUFFIX = "_kd"

#: What `ordering` says of a paired difference: KD ahead, no KD ahead, or neither beyond the spread.
ORDERINGS = ("kd", "no_kd", "within_spread")


def parse_seeds(text: str) -> tuple[int, ...]:
    """`--seeds`: two or more distinct non-negative integers, comma-separated.

    Example:

    >>> parse_seeds("0,1, 2")
    (0, 1, 2)
    >>> parse_seeds("3")
    Traceback (most recent call last):
    ...
    ValueError: --seeds needs two or more seeds (one seed is --seed); got '3'
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        raise ValueError(f"--seeds takes non-negative integers, comma-separated; got {text!r}")
    seeds = tuple(int(part) for part in parts)
    if len(seeds) < 2:
        raise ValueError(f"--seeds needs two or more seeds (one seed is --seed); got {text!r}")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"a seed is listed twice in --seeds {text!r}")
    return seeds


def seed_run_name(run_name: str, seed: int) -> str:
    """The run name of one seed's run: `<run_name>/seed_<seed>`.

    Example:

    >>> seed_run_name("demo", 1)
    'demo/seed_1'
    """
    return os.path.join(run_name, f"seed_{seed}")


def seed_config(config: DistillJobConfig, seed: int) -> DistillJobConfig:
    """`config` with training seed `seed`, its run in `<run_dir>/seed_<seed>` (the data and split unchanged).

    Example:

    >>> seed_config(DistillJobConfig(), 4).recipe.seed
    4
    """
    return dataclasses.replace(
        config,
        recipe=dataclasses.replace(config.recipe, seed=seed),
        run_name=seed_run_name(config.run_name, seed),
    )


def ordering(mean: float, std: float) -> str:
    """Which side a paired difference (KD minus no KD) is on: only where `|mean|` exceeds `std`.

    Example:

    >>> ordering(0.02, 0.01), ordering(-0.02, 0.01), ordering(0.01, 0.02)
    ('kd', 'no_kd', 'within_spread')
    """
    if abs(mean) <= std:
        return "within_spread"
    return "kd" if mean > 0 else "no_kd"


def kd_pairs(keys: Sequence[str]) -> list[tuple[str, str]]:
    """`(no-KD key, KD key)` of every student present both ways, in the order of `keys`.

    Example:

    >>> kd_pairs(["teacher", "student_k2", "student_k2_kd", "compact_kd", "probe_text"])
    [('student_k2', 'student_k2_kd')]
    """
    present = set(keys)
    return [(key, key + KD_SUFFIX) for key in keys if not key.endswith(KD_SUFFIX) and key + KD_SUFFIX in present]


def paired_kd_differences(per_seed: Sequence[Sequence[ModelResult]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Per student, KD minus no KD on each metric, paired by seed, with the mean and std over the seeds.

    Args:
        per_seed: each seed's Table II rows (model keys in `extra["model_key"]`).
        seeds: the seeds, in the order of `per_seed`.

    Returns:
        One dict per student with both variants (in table order): `student`
        (the no-KD key), `kd` (the KD key), `name` (the no-KD row's name),
        `seeds` (each seed's `{"seed", "validation", "test"}` differences, over
        the seeds that have both rows), and per split (`validation`, `test`):
        `mean`, `std` (`numpy.mean` / `numpy.std` of the differences) and
        `ordering` (`ordering(mean, std)`) by metric. Differences are
        fractions, like the scores.

    Example:

    >>> def rows(no_kd, kd):
    ...     return [ModelResult(k, 2, k.endswith("_kd"), test={"acc": a}, extra={"model_key": k})
    ...             for k, a in (("student_k2", no_kd), ("student_k2_kd", kd))]
    >>> (pair,) = paired_kd_differences([rows(0.70, 0.75), rows(0.72, 0.73)], [0, 1])
    >>> [round(seed["test"]["acc"], 4) for seed in pair["seeds"]]
    [0.05, 0.01]
    >>> round(pair["test"]["mean"]["acc"], 4), round(pair["test"]["std"]["acc"], 4), pair["test"]["ordering"]["acc"]
    (0.03, 0.02, 'kd')
    """
    if len(per_seed) != len(seeds):
        raise ValueError(f"{len(per_seed)} seeds' rows but {len(seeds)} seeds.")
    by_seed = [{result_key(row): row for row in rows} for rows in per_seed]
    keys: list[str] = []
    for rows in per_seed:
        keys += [result_key(row) for row in rows if result_key(row) not in keys]
    differences = []
    for student, distilled in kd_pairs(keys):
        runs = []
        for seed, rows in zip(seeds, by_seed):
            if student in rows and distilled in rows:
                runs.append({
                    "seed": seed,
                    **{split: _difference(getattr(rows[distilled], split), getattr(rows[student], split))
                       for split in ("validation", "test")},
                })
        if not runs:
            continue
        name = next(rows[student].name for rows in by_seed if student in rows)
        entry: dict[str, Any] = {"student": student, "kd": distilled, "name": name, "seeds": runs}
        for split in ("validation", "test"):
            values = {metric: [run[split][metric] for run in runs if metric in run[split]] for metric in TABLE_METRICS}
            mean = {metric: float(np.mean(v)) for metric, v in values.items() if v}
            std = {metric: float(np.std(v)) for metric, v in values.items() if v}
            entry[split] = {
                "mean": mean, "std": std, "ordering": {metric: ordering(mean[metric], std[metric]) for metric in mean},
            }
        differences.append(entry)
    return differences


def _difference(distilled: dict[str, float], student: dict[str, float]) -> dict[str, float]:
    return {metric: distilled[metric] - student[metric] for metric in TABLE_METRICS if metric in distilled and metric in student}


def _points(mean: dict[str, float], std: dict[str, float], metric: str) -> str:
    if metric not in mean:
        return "-"
    return f"{100.0 * mean[metric]:+.2f} ± {100.0 * std[metric]:.2f}"


def differences_markdown(differences: Sequence[dict[str, Any]], seeds: Sequence[int]) -> str:
    """The paired KD-minus-no-KD differences as a markdown section (points: percentages of the scores).

    Example:

    >>> print(differences_markdown([], [0, 1]).splitlines()[0])
    ## Distillation, paired by seed: KD minus no KD (seeds 0, 1)
    """
    lines = [
        f"## Distillation, paired by seed: KD minus no KD (seeds {', '.join(map(str, seeds))})",
        "",
        "Per student, the distilled model's score minus its twin's without KD (same seed: same initial weights, "
        "dropout masks and data order; same split), in points; mean ± std of those differences over the seeds. An ordering is "
        "stated only where the mean exceeds its spread (|mean| > std).",
        "",
    ]
    if not differences:
        return "\n".join([*lines, "No student was trained both with and without KD.", ""])
    names = [key.upper() for key in TABLE_METRICS]
    header = ["Student", "Seeds", *[f"Val {n}" for n in names], *[f"Test {n}" for n in names], "Test ordering"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    labels = {"kd": "KD ahead", "no_kd": "no KD ahead", "within_spread": "within spread"}
    for entry in differences:
        verdicts: dict[str, list[str]] = {}
        for metric, verdict in entry["test"]["ordering"].items():
            verdicts.setdefault(verdict, []).append(metric.upper())
        summary = "; ".join(f"{labels[v]}: {', '.join(verdicts[v])}" for v in ORDERINGS if v in verdicts)
        cells = [
            entry["name"],
            str(len(entry["seeds"])),
            *[_points(entry["validation"]["mean"], entry["validation"]["std"], key) for key in TABLE_METRICS],
            *[_points(entry["test"]["mean"], entry["test"]["std"], key) for key in TABLE_METRICS],
            summary or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class SeedOutputs:
    """Where a seeds protocol put its aggregate, and each seed's own outputs (`JobOutputs`).

    Example:

    >>> print(SeedOutputs("r", [], {"markdown": "r/results.md"}, [], {}).describe().splitlines()[0])
    Seeds: none
    """

    run_dir: str
    results: list[ModelResult]
    results_paths: dict[str, str]
    differences: list[dict[str, Any]]
    per_seed: dict[int, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The aggregate's files, then each seed's run directory.

        Example:

        >>> SeedOutputs("r", [], {"markdown": "r/results.md"}, [], {}).describe().splitlines()[1]
        'Mean ± std over the seeds: r/results.md'
        """
        lines = [
            f"Seeds: {', '.join(map(str, self.per_seed)) or 'none'}",
            f"Mean ± std over the seeds: {self.results_paths.get('markdown', '-')}",
            f"Results JSON:  {self.results_paths.get('json', '-')}",
            f"Results chart: {self.results_paths.get('png', '-')}",
        ]
        lines += [f"Seed {seed}: {outputs.run_dir}" for seed, outputs in self.per_seed.items()]
        return "\n".join(lines)


def _check_same_split(per_seed: dict[int, Any]) -> None:
    """Every seed's run wrote the same `splits.csv` (the split must not depend on the training seed)."""
    contents = {}
    for seed, outputs in per_seed.items():
        path = os.path.join(outputs.run_dir, "splits.csv")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                contents[seed] = handle.read()
    if len(set(contents.values())) > 1:
        raise RuntimeError(
            f"The seeds' runs used different splits ({', '.join(f'seed {s}' for s in contents)}): the split must "
            "depend on --split-seed only. Compare their splits.csv files."
        )


def run_seeds(
    config: DistillJobConfig, seeds: Sequence[int], run_job: Callable[[DistillJobConfig], Any] | None = None
) -> SeedOutputs:
    """Runs the job once per seed (`seed_config`), then writes the mean ± std over the seeds in `config.run_dir`.

    Args:
        config: the job; its `recipe.seed` is replaced by each seed in turn.
        seeds: the training seeds (two or more, distinct).
        run_job: runs one job and returns its `JobOutputs` (default:
            `ser_keras.experiment.runner.run_distill_job`).

    Returns:
        The aggregate rows, the paired differences and where they were written,
        with each seed's `JobOutputs`. Under several workers only the chief
        writes the aggregate.

    Example:

    >>> outputs = run_seeds(DistillJobConfig(), [0, 1, 2])  # doctest: +SKIP
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) < len(seeds):
        raise ValueError(f"run_seeds needs two or more distinct seeds; got {seeds}.")
    import keras

    from ser_keras.training.workers import WorkerRole

    if run_job is None:
        from ser_keras.experiment.runner import run_distill_job as run_job
    per_seed = {}
    for number, seed in enumerate(seeds, start=1):
        logger.info("Seed %d (%d of %d): run %s.", seed, number, len(seeds), seed_config(config, seed).run_dir)
        keras.backend.clear_session()  # each run starts from Keras's initial global state, as in a new process
        per_seed[seed] = run_job(seed_config(config, seed))

    rows = [per_seed[seed].results for seed in seeds]
    results = aggregate_runs(rows, seeds, unit="seed")
    differences = paired_kd_differences(rows, seeds)
    run_dir = config.run_dir
    paths = {key: os.path.join(run_dir, f"results.{ext}") for key, ext in (("markdown", "md"), ("json", "json"), ("png", "png"))}
    if WorkerRole.from_environment().is_chief:
        _check_same_split(per_seed)
        first_run = _read_results_json(per_seed[seeds[0]].results_paths.get("json"))
        title = _seed_title(first_run, config, seeds)
        configuration = config.to_dict()
        configuration["recipe"]["seed"] = seeds
        notes = differences_markdown(differences, seeds)
        paths = save_results(
            results, run_dir, title=title,
            metadata={"config": configuration, "seeds": seeds,
                      "seed_runs": {str(seed): per_seed[seed].run_dir for seed in seeds}},
            notes_markdown=notes,
            sections={"seeds": seeds, "kd_differences": differences},
            class_names=first_run.get("class_names"),
        )
        logger.info("Mean ± std over seeds %s:\n%s\n%s", ", ".join(map(str, seeds)), results_markdown(results), notes)
    return SeedOutputs(run_dir, results, paths, differences, per_seed)


def _read_results_json(path: str | None) -> dict[str, Any]:
    """A single run's `results.json`, or `{}` when the run reports no such file.

    Example:

    >>> _read_results_json(None)
    {}
    """
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _seed_title(first_run: dict[str, Any], config: DistillJobConfig, seeds: Sequence[int]) -> str:
    """The single runs' title (from the first seed's `results.json`), with the seeds."""
    title = first_run.get("title", f"{config.data.dataset} ({config.data.protocol}), recipe {config.recipe.name}")
    return f"{title}, mean ± std over seeds {', '.join(map(str, seeds))}"
