"""Averaging the results of several folds (LOSO), or of several seeds, into one Table II row per model.

Rows are matched by model, not by position: a row's key is its
`extra["model_key"]` (`"teacher"`, `"student_k2_kd"`, `"probe_audio"`, ...),
or its name when it has none. A model missing from some folds (a probe left
out for too few training clips, say) is averaged over the folds that have it,
with a warning; `extra["num_folds"]` says over how many. `aggregate_runs`
does the same over any kind of run (`unit="seed"`: `extra["seeds"]`,
`extra["num_seeds"]`; see `ser_keras.experiment.seeds`).

Example:

>>> def row(acc, key="teacher"):
...     scores = {"bacc": acc, "acc": acc, "mf1": acc, "wf1": acc}
...     return ModelResult(key, 6, False, validation=scores, test=scores, extra={"model_key": key})
>>> (teacher,) = aggregate_folds([[row(0.6)], [row(0.8)]])
>>> round(teacher.test["acc"], 4), round(teacher.extra["test_std"]["acc"], 4), teacher.extra["num_folds"]
(0.7, 0.1, 2)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from ser_keras.reporting import TABLE_METRICS, ModelResult

logger = logging.getLogger(__name__)


def result_key(result: ModelResult) -> str:
    """The key that matches a model's rows across folds: `extra["model_key"]`, else the name.

    Example:

    >>> result_key(ModelResult("BERT_2-VGGish + KD", 2, True, extra={"model_key": "student_k2_kd"}))
    'student_k2_kd'
    >>> result_key(ModelResult("teacher", 6, False))
    'teacher'
    """
    return str(result.extra.get("model_key", result.name))


def _merged_order(per_fold: Sequence[Sequence[ModelResult]]) -> list[str]:
    """Every key once, in table order: a key first seen in a later fold goes after its predecessor there."""
    order: list[str] = []
    for fold in per_fold:
        position = -1
        for result in fold:
            key = result_key(result)
            if key in order:
                position = order.index(key)
            else:
                position += 1
                order.insert(position, key)
    return order


def _mean_and_std(rows: Sequence[ModelResult], split: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per metric, the mean and standard deviation over the rows that have a score for it."""
    means, deviations = {}, {}
    for metric in TABLE_METRICS:
        values = [getattr(row, split)[metric] for row in rows if metric in getattr(row, split)]
        if values:
            means[metric], deviations[metric] = float(np.mean(values)), float(np.std(values))
    return means, deviations


def aggregate_folds(
    per_fold: Sequence[Sequence[ModelResult]], fold_names: Sequence[str] | None = None
) -> list[ModelResult]:
    """Means over folds of each model's scores, with standard deviations in `extra`.

    Args:
        per_fold: each fold's rows.
        fold_names: the folds' names (e.g. `"session1"`), kept with each fold's
            row in `extra["folds"]`; by default their 1-based numbers.

    Returns:
        One row per model, in table order: the first fold's row with the mean
        validation and test scores of the folds that have the model, and in
        `extra`: `validation_std`, `test_std`, `folds` (each fold's row) and
        `num_folds`. A single fold's rows come back unchanged.

    Raises:
        ValueError: when a fold has two rows of the same model.

    Example: the audio probe is left out of the second fold.

    >>> def row(key, acc):
    ...     return ModelResult(key, 0, False, test={"acc": acc}, extra={"model_key": key})
    >>> folds = [[row("teacher", 0.6), row("probe_audio", 0.5)], [row("teacher", 0.8)]]
    >>> rows = aggregate_folds(folds, ["session1", "session2"])
    >>> [(result_key(r), r.extra["num_folds"], round(r.test["acc"], 4)) for r in rows]
    [('teacher', 2, 0.7), ('probe_audio', 1, 0.5)]
    >>> [fold["fold"] for fold in rows[1].extra["folds"]]
    ['session1']
    """
    if len(per_fold) == 1:
        return list(per_fold[0])
    return aggregate_runs(per_fold, fold_names, unit="fold")


#: The `extra` keys an aggregate sets itself; a run row's own (a seed's LOSO means) stay in its entry of the runs.
_AGGREGATE_KEYS = ("validation_std", "test_std", "folds", "num_folds", "seeds", "num_seeds")


def aggregate_runs(
    per_run: Sequence[Sequence[ModelResult]], run_names: Sequence[str | int] | None = None, unit: str = "fold"
) -> list[ModelResult]:
    """Means over runs (folds, seeds) of each model's scores, with standard deviations in `extra`.

    Args:
        per_run: each run's rows.
        run_names: the runs' names (fold names, seeds), kept with each run's
            row in `extra["<unit>s"]`; by default their 1-based numbers.
        unit: what a run is (`"fold"`, `"seed"`): names the `extra` keys and the log.

    Returns:
        One row per model, in table order: the first run's row with the mean
        validation and test scores (`numpy.mean`) of the runs that have the
        model, and in `extra`: `validation_std`, `test_std` (`numpy.std`),
        `<unit>s` (each run's row, `{unit: name, **row}`) and `num_<unit>s`.
        Even one run is aggregated (its deviations are 0).

    Raises:
        ValueError: when a run has two rows of the same model.

    Example:

    >>> def row(key, acc):
    ...     return ModelResult(key, 0, False, test={"acc": acc}, extra={"model_key": key})
    >>> (teacher,) = aggregate_runs([[row("teacher", 0.6)], [row("teacher", 0.7)]], [0, 1], unit="seed")
    >>> round(teacher.test["acc"], 4), round(teacher.extra["test_std"]["acc"], 4), teacher.extra["num_seeds"]
    (0.65, 0.05, 2)
    >>> [(run["seed"], run["test"]["acc"]) for run in teacher.extra["seeds"]]
    [(0, 0.6), (1, 0.7)]
    """
    names = list(run_names) if run_names is not None else [str(number) for number in range(1, len(per_run) + 1)]
    if len(names) != len(per_run):
        raise ValueError(f"{len(per_run)} {unit}s but {len(names)} {unit} names.")
    by_key: dict[str, list[tuple[str, ModelResult]]] = {}
    for name, run in zip(names, per_run):
        keys = [result_key(result) for result in run]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"{unit.capitalize()} {name} has several rows of the same model: {repeated}.")
        for key, result in zip(keys, run):
            by_key.setdefault(key, []).append((name, result))
    aggregated = []
    for key in _merged_order(per_run):
        runs = by_key[key]
        rows = [result for _, result in runs]
        if len(rows) < len(per_run):
            logger.warning(
                "%s has results in %d of %d %ss (%s); its means are over those %ss only.",
                rows[0].name, len(rows), len(per_run), unit, ", ".join(str(name) for name, _ in runs), unit,
            )
        result = dataclasses.replace(
            rows[0], collapsed=any(row.collapsed for row in rows), transductive=any(row.transductive for row in rows)
        )
        extra = {
            **{name: value for name, value in rows[0].extra.items() if name not in _AGGREGATE_KEYS},
            f"{unit}s": [{unit: name, **row.to_dict()} for name, row in runs],
            f"num_{unit}s": len(rows),
        }
        for split in ("validation", "test"):
            means, deviations = _mean_and_std(rows, split)
            setattr(result, split, means)
            extra[f"{split}_std"] = deviations
        result.extra = extra
        aggregated.append(result)
    return aggregated
