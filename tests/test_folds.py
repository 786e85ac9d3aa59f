"""Averaging the folds of a multi-fold protocol (LOSO): rows are matched by model, not by position."""

from __future__ import annotations

import doctest
import logging

import pytest

from ser_keras.experiment import folds
from ser_keras.experiment.folds import aggregate_folds, result_key
from ser_keras.reporting import ModelResult


def row(key: str, acc: float, name: str | None = None) -> ModelResult:
    scores = {"bacc": acc, "acc": acc, "mf1": acc, "wf1": acc}
    return ModelResult(name or key, 0, False, validation=scores, test=scores, extra={"model_key": key})


def test_a_row_left_out_of_one_fold_is_averaged_over_the_folds_that_have_it(caplog):
    # The audio probe is skipped in session2: its text+audio probe sits where the audio probe was.
    session1 = [row("teacher", 0.8), row("probe_text", 0.5), row("probe_audio", 0.4, "Linear probe: audio"),
                row("probe_text_audio", 0.6)]
    session2 = [row("teacher", 0.6), row("probe_text", 0.7), row("probe_text_audio", 0.8)]
    session3 = [row("teacher", 0.7), row("probe_text", 0.6), row("probe_audio", 0.2), row("probe_text_audio", 0.7)]
    with caplog.at_level(logging.WARNING):
        rows = aggregate_folds([session1, session2, session3], ["session1", "session2", "session3"])
    assert [result_key(r) for r in rows] == ["teacher", "probe_text", "probe_audio", "probe_text_audio"]
    means = {result_key(r): (round(r.test["acc"], 6), r.extra["num_folds"]) for r in rows}
    assert means == {"teacher": (0.7, 3), "probe_text": (0.6, 3), "probe_audio": (0.3, 2), "probe_text_audio": (0.7, 3)}
    audio = rows[2]
    assert [fold["fold"] for fold in audio.extra["folds"]] == ["session1", "session3"]
    assert audio.extra["test_std"]["acc"] == pytest.approx(0.1)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == ["Linear probe: audio has results in 2 of 3 folds (session1, session3); "
                        "its means are over those folds only."]


def test_a_model_first_met_in_a_later_fold_keeps_its_place_and_one_fold_is_unchanged():
    rows = aggregate_folds([[row("teacher", 0.5), row("probe_text", 0.5)],
                            [row("teacher", 0.5), row("probe_audio", 0.5), row("probe_text", 0.5)]])
    assert [result_key(r) for r in rows] == ["teacher", "probe_audio", "probe_text"]
    single = [row("teacher", 0.5)]
    assert aggregate_folds([single]) == single
    with pytest.raises(ValueError, match="several rows of the same model: \\['teacher'\\]"):
        aggregate_folds([[row("teacher", 0.5), row("teacher", 0.6)], single])


def test_the_docstring_examples_run():
    failures, attempted = doctest.testmod(folds, optionflags=doctest.ELLIPSIS)
    assert failures == 0 and attempted >= 6
