"""Recipe presets and the Table II results writers."""

import doctest
import json

import numpy as np
import pytest

from ser_keras import config, labels, latency, modalities, reporting
from ser_keras.data import enrolment, label_sets, speaker_norm, splits, unlabelled
from ser_keras.experiment import cli, reuse
from ser_keras.config import Recipe, get_recipe
from ser_keras.reporting import ModelResult, results_markdown, save_results
from ser_keras.training import class_weights, embedding_distillation, recorded_teacher, seeds, workers


def test_paper_preset_holds_the_papers_values():
    recipe = get_recipe("paper")
    for stage, epochs in ((recipe.transfer, 50), (recipe.finetune, 100)):
        assert stage.epochs == epochs
        assert stage.optimizer.name == "sgd"
        assert stage.optimizer.learning_rate == 1e-6
        assert stage.optimizer.momentum == 0.99
        assert stage.optimizer.weight_decay == 1e-6
        assert stage.optimizer.decay_every_epochs == 30
    assert recipe.distillation.alpha == 0.5 and recipe.distillation.temperature == 2.0
    assert recipe.selection_metric == "val_acc"
    # Step decay: x0.1 every 30 epochs.
    rates = [recipe.finetune.optimizer.learning_rate_at(e) for e in (0, 29, 30, 59, 60, 99)]
    np.testing.assert_allclose(rates, [1e-6, 1e-6, 1e-7, 1e-7, 1e-8, 1e-9])


def test_recipes_round_trip_and_reject_bad_values():
    for name in config.PRESETS:
        recipe = get_recipe(name)
        assert Recipe.from_dict(json.loads(recipe.to_json())) == recipe
    compact = get_recipe("demo", compact_finetune=config.StageConfig(9, config.OptimizerConfig("adam", 3e-4)))
    assert Recipe.from_dict(json.loads(compact.to_json())) == compact
    with pytest.raises(ValueError, match="Unknown recipe preset"):
        get_recipe("fast")
    with pytest.raises(ValueError, match="Unknown recipe fields"):
        get_recipe("demo", epochs=3)
    with pytest.raises(ValueError, match="alpha"):
        config.DistillationConfig(alpha=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        get_recipe("demo", batch_size=0)


def _result(name, distilled, test_acc):
    scores = {"bacc": test_acc - 0.01, "acc": test_acc, "mf1": test_acc - 0.02, "wf1": test_acc}
    return ModelResult(
        name=name, text_layers=2, distilled=distilled, params={"total": 87_030_000},
        latency_ms=19.6, validation=scores, test=scores,
    )


def test_markdown_table_has_table_ii_columns_in_percent():
    table = results_markdown([_result("BERT_2-VGGish + KD", True, 0.7816)])
    header, rule, row = table.strip().splitlines()
    assert header.split(" | ")[1:3] == ["Total Params (M)", "Inference Time (ms)"]
    assert header.count("Val ") == 4 and header.count("Test ") == 4
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["BERT_2-VGGish + KD", "87.03", "19.60", "77.16"]
    assert cells[7] == "77.16" and cells[8] == "78.16" and len(cells) == 11


def test_save_results_writes_markdown_json_and_png(tmp_path):
    results = [_result("teacher", False, 0.8), _result("student + KD", True, 0.7)]
    paths = save_results(results, tmp_path, title="Demo", metadata={"seed": 0})
    saved = json.loads(open(paths["json"]).read())
    assert [m["name"] for m in saved["models"]] == ["teacher", "student + KD"]
    assert saved["models"][1]["test"]["acc"] == 0.7 and saved["metadata"] == {"seed": 0}
    assert "| teacher |" in open(paths["markdown"]).read()
    assert open(paths["png"], "rb").read(4) == b"\x89PNG"


@pytest.mark.parametrize("module", [
    config, cli, reporting, latency, modalities, seeds, workers, embedding_distillation, recorded_teacher,
    labels, enrolment, label_sets, speaker_norm, splits, unlabelled, reuse, class_weights,
])
def test_docstring_examples_run(module):
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_latency_is_the_median_of_single_sample_calls():
    import time

    from ser_keras.latency import measure_latency

    delays = [0.001, 0.001, 0.02]  # one slow sample in three: the median ignores it
    calls = []

    def predict(delay):
        calls.append(delay)
        time.sleep(delay)
        return np.zeros(1)

    stats = measure_latency(predict, delays, warmup=1, repeats=9)
    assert len(calls) == 1 + 1 + 9 and stats["runs"] == 9  # one call per input shape, warm-up, timed
    shapes = []
    measure_latency(lambda x: shapes.append(np.shape(x)) or x, [np.zeros(2), np.zeros(3), np.ones(2)], warmup=0, repeats=1)
    assert shapes == [(2,), (3,), (2,)]  # each distinct shape warmed once, then the timed call
    assert 1.0 <= stats["median_ms"] < 15.0
    assert stats["mean_ms"] > stats["median_ms"]
    with pytest.raises(ValueError, match="at least one sample"):
        measure_latency(predict, [])
