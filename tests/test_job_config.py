"""Job flags that real data needs: split files, split seed, Corpus as a sequence, the results chart."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import pytest

from ser_keras.config import DataConfig, DistillJobConfig, Recipe, get_recipe
from ser_keras.data import Corpus
from ser_keras.data.records import Utterance
from ser_keras.data.splits import paper_split
from ser_keras.experiment.cli import add_job_arguments, job_config_from_args
from ser_keras.experiment import job_inputs
from ser_keras.experiment.data import job_folds
from ser_keras.reporting import ModelResult, results_chart_figure, save_results

LABELS = ("angry", "happy", "sad", "neutral")


def parse(*flags: str):
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    return job_config_from_args(parser.parse_args(list(flags)))


def corpus_without_split_column(size: int = 200) -> Corpus:
    return Corpus([Utterance(f"u{index:03d}", "text", LABELS[index % 4], speaker=f"s{index % 5}") for index in range(size)])


def split_ids(folds):
    (_, splits), = folds
    return [[item.utterance_id for item in items] for items in splits]


def test_a_split_file_selects_the_split_file_split(tmp_path):
    corpus = corpus_without_split_column(40)
    split_file = tmp_path / "split.csv"
    names = ["train"] * 30 + ["validation"] * 5 + ["test"] * 5
    split_file.write_text("utterance_id,split\n" + "".join(f"u{i:03d},{name}\n" for i, name in enumerate(names)))
    config = parse("--split-file", str(split_file))
    ids = split_ids(job_folds(corpus, config.data))
    assert ids[2] == [f"u{i:03d}" for i in range(35, 40)]  # the file's test split, not a paper draw
    with pytest.raises(ValueError, match="--split-file .* --split paper"):
        parse("--split-file", str(split_file), "--split", "paper")


def test_seeds_share_the_split_and_the_split_seed_changes_it():
    corpus = corpus_without_split_column()
    seed_1 = parse("--seed", "1")
    seed_2 = parse("--seed", "2")
    assert seed_1.recipe.seed != seed_2.recipe.seed
    assert split_ids(job_folds(corpus, seed_1.data)) == split_ids(job_folds(corpus, seed_2.data))
    other = parse("--split-seed", "3")
    assert other.to_dict()["data"]["split_seed"] == 3  # recorded in config.json
    assert split_ids(job_folds(corpus, other.data))[2] != split_ids(job_folds(corpus, seed_1.data))[2]


def test_a_corpus_is_taken_wherever_a_sequence_of_utterances_is():
    corpus = corpus_without_split_column(80)
    assert list(corpus)[:2] == corpus.utterances[:2] and corpus[3] is corpus.utterances[3]
    assert paper_split(corpus) == paper_split(corpus.utterances)
    assert DataConfig().split_seed == 0


def test_the_results_chart_legend_is_outside_the_bars():
    results = [
        ModelResult(f"model {index}", 1, False, latency_ms=1.0,
                    test={"bacc": 0.99, "acc": 0.99, "mf1": 0.99, "wf1": 0.99})
        for index in range(3)
    ]
    figure = results_chart_figure(results, "title", num_classes=7)  # the chance line has a legend entry too
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    axes = figure.axes[0]
    legend_box = axes.get_legend().get_window_extent(renderer)
    axes_box = axes.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # entirely to the right of the plot area


def test_the_results_chart_labels_of_long_model_names_do_not_overlap():
    names = ["BERT_6-AudioCNN (teacher)", "BERT_2x128-AudioCNN (compact)", "BERT_2x128-AudioCNN (compact) + KD",
             "AudioCNN (audio only) + KD", "Linear probe: text+audio"]
    scores = {"bacc": 0.7, "acc": 0.7, "mf1": 0.7, "wf1": 0.7}
    figure = results_chart_figure([ModelResult(name, 1, False, latency_ms=4.8, test=scores) for name in names], "t")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    labels = figure.axes[0].get_xticklabels()
    boxes = [label.get_window_extent(renderer) for label in labels]
    assert [label.get_text().replace("\n", " ").rsplit(" 4.8 ms", 1)[0] for label in labels] == names
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))


def test_selection_flag_sets_the_recipes_selection_and_changes_the_teachers_fingerprint():
    default, last = parse(), parse("--selection", "last")
    assert default.recipe.selection_metric == "val_acc" and last.recipe.selection_metric == "last"
    assert default.teacher_fingerprint() != last.teacher_fingerprint()


def test_stage_two_schedule_flags_set_the_teachers_optimizer_and_leave_the_compact_students():
    default = parse()
    tuned = parse("--finetune-lr", "1e-5", "--warmup-steps", "10", "--layer-decay", "0.8")
    optimizer = tuned.recipe.finetune.optimizer
    assert (optimizer.learning_rate, optimizer.warmup_steps, optimizer.layer_decay) == (1e-5, 10, 0.8)
    assert default.recipe.finetune.optimizer.learning_rate == 3e-5
    assert tuned.recipe.compact_finetune_stage == default.recipe.compact_finetune_stage
    assert tuned.recipe.finetune.epochs == default.recipe.finetune.epochs
    assert parse("--finetune-lr", "1e-5").teacher_fingerprint() != default.teacher_fingerprint()
    with pytest.raises(ValueError, match="--finetune-lr: learning_rate must be positive"):
        parse("--finetune-lr", "0")


def test_label_smoothing_flag_sets_the_recipe_and_enters_the_fingerprints_only_when_set():
    default, smoothed = parse(), parse("--label-smoothing", "0.1")
    assert (default.recipe.label_smoothing, smoothed.recipe.label_smoothing) == (0.0, 0.1)
    assert smoothed.teacher_fingerprint() != default.teacher_fingerprint()
    assert "label_smoothing" not in default.fingerprint_fields()["recipe"]
    assert smoothed.fingerprint_fields(teacher_only=True)["recipe"]["label_smoothing"] == 0.1
    assert smoothed.training_fingerprint() != default.training_fingerprint()
    saved = smoothed.recipe.to_dict()
    assert Recipe.from_dict(saved) == smoothed.recipe
    del saved["label_smoothing"]  # a recipe saved before the field existed
    assert Recipe.from_dict(saved).label_smoothing == 0.0
    with pytest.raises(ValueError, match="--label-smoothing must be in"):
        parse("--label-smoothing", "1")


def test_head_dropout_flag_sets_the_model_and_enters_the_fingerprints_only_when_not_3m_sers():
    default, lighter = parse(), parse("--head-dropout", "0.1")
    assert (default.model.head_dropout, lighter.model.head_dropout) == (0.5, 0.1)
    assert "head_dropout" not in default.fingerprint_fields()["model"]
    assert lighter.fingerprint_fields(teacher_only=True)["model"]["head_dropout"] == 0.1
    assert lighter.teacher_fingerprint() != default.teacher_fingerprint()
    assert parse("--head-dropout", "0.5").teacher_fingerprint() == default.teacher_fingerprint()
    from ser_keras.models.fusion import DROPOUT_RATE

    assert default.model.head_dropout == DROPOUT_RATE  # the job's default is the head's own (3M-SER's)
    with pytest.raises(ValueError, match="--head-dropout must be in"):
        parse("--head-dropout", "1")


def test_class_weighting_flag_sets_the_recipe_and_enters_the_fingerprints_only_when_set():
    default, balanced = parse(), parse("--class-weighting", "balanced")
    assert (default.recipe.class_weighting, balanced.recipe.class_weighting) == ("none", "balanced")
    assert "class_weighting" not in default.fingerprint_fields()["recipe"]
    assert balanced.fingerprint_fields(teacher_only=True)["recipe"]["class_weighting"] == "balanced"
    assert balanced.teacher_fingerprint() != default.teacher_fingerprint()
    saved = balanced.recipe.to_dict()
    del saved["class_weighting"]  # a recipe saved before the field existed
    assert Recipe.from_dict(saved).class_weighting == "none"
    with pytest.raises(ValueError, match="class_weighting must be one of none, balanced"):
        Recipe(class_weighting="inverse")


def test_audio_augmentation_shapes_the_fingerprints_only_where_an_audio_encoder_trains():
    def fingerprints(*flags: str) -> tuple[str, str]:
        config = parse(*flags)
        return config.teacher_fingerprint(), config.training_fingerprint()

    assert parse().recipe.audio_augmentation and not parse("--no-audio-augmentation").recipe.audio_augmentation
    assert fingerprints() != fingerprints("--no-audio-augmentation")  # the compact CNN trains with masks
    for flags in (("--modality", "text"), ("--vggish-weights", "vggish_model.ckpt")):  # no audio stage
        assert fingerprints(*flags) == fingerprints(*flags, "--no-audio-augmentation")


def test_a_recipe_saved_before_audio_augmentation_existed_reads_back_without_it():
    saved = get_recipe("demo").to_dict()
    del saved["audio_augmentation"]
    assert Recipe.from_dict(saved).audio_augmentation is False
    assert Recipe.from_dict(get_recipe("demo").to_dict()) == get_recipe("demo")


def test_the_chart_marks_chance_for_the_corpus_classes_and_results_json_names_them(tmp_path):
    results = [ModelResult("model", 1, False, test={"bacc": 0.5, "acc": 0.5, "mf1": 0.5, "wf1": 0.5})]

    def chance_lines(figure) -> list[tuple[str, float]]:
        return [(line.get_label(), line.get_ydata()[0]) for line in figure.axes[0].get_lines()
                if line.get_label().startswith("chance")]

    assert chance_lines(results_chart_figure(results, "title", num_classes=7)) == [("chance (7 classes)", 100 / 7)]
    assert chance_lines(results_chart_figure(results, "title")) == []  # unknown: no line rather than a wrong one
    classes = ["angry", "bored", "disgust", "fearful", "happy", "sad", "neutral"]
    paths = save_results(results, tmp_path, title="EmoDB", class_names=classes)
    with open(paths["json"], encoding="utf-8") as handle:
        assert json.load(handle)["class_names"] == classes


def test_a_job_that_would_choose_epochs_on_one_validation_speaker_is_warned(caplog, monkeypatch, tmp_path):
    clips = [Utterance(f"{speaker}_{index}", "", "sad" if index % 2 else "happy", speaker=speaker)
             for speaker in ("s1", "s2", "s3", "s4", "s5", "s6") for index in range(6)]
    monkeypatch.setattr(job_inputs, "load_corpus", lambda data: Corpus(clips, label_names=("happy", "sad")))
    monkeypatch.setattr(job_inputs, "check_corpus_modalities", lambda corpus, modality: None)

    def warned(selection: str, speaker_folds: int | None = None) -> bool:
        config = DistillJobConfig(
            data=DataConfig(dataset="manifest", manifest="clips.csv", protocol="loso", speaker_folds=speaker_folds),
            recipe=dataclasses.replace(get_recipe("demo"), selection_metric=selection),
            output_dir=str(tmp_path), run_name="run",
        )
        os.makedirs(config.run_dir, exist_ok=True)
        caplog.clear()
        with caplog.at_level("WARNING", logger="ser_keras.experiment.job_inputs"):
            job_inputs._read_corpus(config)
        return any("validates on one speaker" in record.message for record in caplog.records)

    assert warned("val_acc") and warned("val_wf1")  # leave-one-speaker-out: one validation speaker per fold
    assert "(6 to 6 clips)" in caplog.records[-1].message
    assert not warned("last")
    assert not warned("val_acc", speaker_folds=3)  # groups of two speakers
