"""Job configuration, flags, data folds and fold aggregation (no training)."""

import argparse
import dataclasses

import numpy as np
import pytest

from ser_keras.config import DataConfig, DistillJobConfig, ModelConfig, get_recipe
from ser_keras.data import Corpus, Utterance
from ser_keras.experiment.cli import add_job_arguments, job_config_from_args, run_job_command
from ser_keras.experiment.data import job_folds
from ser_keras.experiment.runner import aggregate_folds
from ser_keras.reporting import ModelResult, results_markdown

LABELS = ("angry", "happy", "sad", "neutral")


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    return job_config_from_args(parser.parse_args(list(argv)))


def test_flags_map_onto_the_config_and_presets():
    config = parse()
    assert config == DistillJobConfig()
    paper = parse("--recipe", "paper", "--students", "6,4,2", "--alpha", "0.7", "--batch-size", "8", "--seed", "3")
    assert paper.model.student_layers == (6, 4, 2)
    assert paper.recipe.distillation.alpha == 0.7 and paper.recipe.batch_size == 8 and paper.recipe.seed == 3
    assert paper.recipe.finetune.optimizer.momentum == 0.99
    quick = parse("--quick")
    assert quick.data.limit_per_split == 64 and quick.model.student_layers == (1,)
    assert quick.recipe.transfer.epochs == 2 and quick.run_name == "demo_quick"


def test_the_paper_recipe_trains_the_papers_students_unless_others_are_asked_for():
    students = lambda config: (config.model.student_layers, config.model.compact_students)  # noqa: E731
    assert students(parse("--recipe", "paper")) == ((6, 4, 2), ())
    assert students(parse("--recipe", "paper", "--students", "4,compact")) == ((4,), ("compact",))
    assert students(parse()) == ((4, 2, 1), ("compact", "audio-compact"))
    assert students(parse("--recipe", "paper", "--quick")) == ((2,), ())


def test_train_teacher_runs_the_job_with_the_teacher_alone(monkeypatch):
    """`train_teacher.py`'s command (`run_job_command(..., teacher_only=True)`), the job itself stubbed out."""
    from ser_keras.experiment import cli, runner

    class Outputs:
        def describe(self) -> str:
            return "stub"

    configs = []
    monkeypatch.setattr(runner, "run_distill_job", lambda config: configs.append(config) or Outputs())
    # v.ckpt does not exist: the sources' check before the job is tested in test_model_source_errors.py.
    monkeypatch.setattr(cli, "check_model_sources", lambda config: None)
    for argv in ([], ["--recipe", "paper"], ["--quick"],
                 ["--students", "2,compact", "--vggish-weights", "v.ckpt", "--unlabelled-audio", "more_audio/"]):
        assert run_job_command(argv, "Trains the teacher.", default_run_name="teacher", teacher_only=True) == 0
        config = configs[-1]
        assert (config.model.student_layers, config.model.compact_students, config.data.unlabelled_audio) == (
            (), (), None), argv
        assert config.teacher_fingerprint() == parse(*argv).teacher_fingerprint()  # the teacher distill.py reuses


def test_bad_flag_combinations_are_clear_errors():
    with pytest.raises(ValueError, match="--data-dir"):
        DataConfig(dataset="iemocap")
    with pytest.raises(ValueError, match="--manifest"):
        DataConfig(dataset="manifest")
    with pytest.raises(ValueError, match="--speaker-folds 3 needs --protocol loso"):
        DataConfig(speaker_folds=3)
    with pytest.raises(ValueError, match="--protocol loso makes its own folds"):
        DataConfig(protocol="loso", split_file="splits.csv")
    with pytest.raises(ValueError, match="student layer counts"):
        ModelConfig(student_layers=(0,))


def test_teacher_fingerprint_ignores_students_but_not_the_recipe():
    base = DistillJobConfig()
    other_students = DistillJobConfig(model=ModelConfig(student_layers=(2,)), run_name="x")
    assert base.teacher_fingerprint() == other_students.teacher_fingerprint()
    assert base.teacher_fingerprint() != parse("--finetune-epochs", "9").teacher_fingerprint()


def test_the_compact_students_stage_2_is_their_own_and_leaves_the_teacher_alone():
    plain = DistillJobConfig(recipe=get_recipe("demo", compact_finetune=None))
    assert plain.recipe.compact_finetune_stage == plain.recipe.finetune
    longer = dataclasses.replace(plain.recipe.finetune, epochs=9)
    compact = DistillJobConfig(recipe=get_recipe("demo", compact_finetune=longer))
    assert compact.recipe.compact_finetune_stage.epochs == 9
    assert compact.teacher_fingerprint() == plain.teacher_fingerprint()
    assert compact.training_fingerprint() != plain.training_fingerprint()
    # --finetune-epochs and --quick shorten every stage 2.
    assert parse("--finetune-epochs", "2").recipe.compact_finetune_stage.epochs == 2
    assert parse("--quick").recipe.compact_finetune_stage.epochs == 1


def iemocap_like_corpus():
    items = []
    for session in range(1, 6):
        for gender in ("F", "M"):
            for index in range(8):
                items.append(Utterance(
                    f"Ses0{session}{gender}_{index}", "hello", LABELS[index % 4],
                    speaker=f"Ses0{session}{gender}", session=f"Ses0{session}", gender=gender,
                ))
    return Corpus(items)


def test_loso_protocol_gives_five_disjoint_folds():
    corpus = iemocap_like_corpus()
    folds = job_folds(corpus, DataConfig(dataset="iemocap", data_dir="unused", protocol="loso"))
    assert [name for name, _ in folds] == [f"session{k}" for k in range(1, 6)]
    for k, (_, splits) in enumerate(folds, start=1):
        assert {item.speaker for item in splits.validation} == {f"Ses0{k}F"}
        assert {item.speaker for item in splits.test} == {f"Ses0{k}M"}
        assert all(item.session != f"Ses0{k}" for item in splits.train)
        assert len(splits.train) == 64


def test_fold_results_aggregate_to_mean_and_std():
    def result(acc):
        scores = {"bacc": acc, "acc": acc, "mf1": acc, "wf1": acc}
        return ModelResult("teacher", 6, False, validation=scores, test=scores)

    accuracies = [0.5, 0.6, 0.7, 0.8, 0.9]
    (aggregated,) = aggregate_folds([[result(acc)] for acc in accuracies])
    assert aggregated.test["acc"] == pytest.approx(np.mean(accuracies))
    assert aggregated.extra["test_std"]["acc"] == pytest.approx(np.std(accuracies))
    assert len(aggregated.extra["folds"]) == 5
    assert "70.00 ± 14.14" in results_markdown([aggregated])


def test_a_student_and_its_distilled_twin_start_from_the_same_weights_whatever_was_built_between():
    import keras
    import tensorflow as tf

    from ser_keras.config import StageConfig
    from ser_keras.experiment.trainer import FoldData, FoldTrainer

    no_training = get_recipe("demo", transfer=StageConfig(epochs=0), finetune=StageConfig(epochs=0))
    trainer = FoldTrainer(FoldData("main", None, "unused", LABELS), no_training, None, {},
                          tf.distribute.get_strategy(), pooling="mean", modality="audio")
    plain = trainer.train("student_k1", "unused", None, None)
    keras.layers.Dense(7)(keras.ops.ones((1, 5)))  # draws from the global random state in between
    distilled = trainer.train("student_k1_kd", "unused", None, None, teacher=plain)
    other = trainer.train("student_k2", "unused", None, None)
    initial = [model.models.head.get_weights() for model in (plain, distilled, other)]
    assert len(initial[0]) > 2 and all(np.array_equal(a, b) for a, b in zip(initial[0], initial[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(initial[0], initial[2]))


def test_a_text_encoders_dropout_follows_its_model_not_the_random_state_it_was_loaded_in():
    # A keras-hub BERT draws its dropout seeds when loaded: the twins' encoders below are loaded in
    # two random states, and must still draw the same masks (and another student other ones).
    import tensorflow as tf
    from text_model_stand_ins import build_tiny_bert

    from ser_keras.config import StageConfig
    from ser_keras.experiment.trainer import FoldData, FoldTrainer
    from ser_keras.keras_internals import seed_generator_states

    def dropout_seeds(encoder):
        return [int(state.numpy()[0]) for state in seed_generator_states(encoder)]

    no_training = get_recipe("demo", transfer=StageConfig(epochs=0), finetune=StageConfig(epochs=0))
    trainer = FoldTrainer(FoldData("main", None, "unused", LABELS), no_training, None, None,
                          tf.distribute.get_strategy(), pooling="cls", modality="text")
    encoders = [build_tiny_bert(seed) for seed in (1, 2, 1)]
    loaded = [dropout_seeds(encoder) for encoder in encoders]
    assert len(loaded[0]) == 1 + 3 * 3 and loaded[0] != loaded[1]  # embeddings + 3 per layer; two draws
    plain = trainer.train("student_k1", "unused", encoders[0], None)
    distilled = trainer.train("student_k1_kd", "unused", encoders[1], None, teacher=plain, teacher_features={})
    other = trainer.train("student_k2", "unused", encoders[2], None)
    seeds = [dropout_seeds(model.models.text_encoder) for model in (plain, distilled, other)]
    assert seeds[0] == seeds[1] != loaded[0]
    assert seeds[2] != seeds[0] and len(set(seeds[0])) == len(seeds[0])  # each dropout layer its own masks


def test_the_recipes_label_smoothing_reaches_the_classifiers_loss_and_the_distillers_ce_term():
    import keras
    import tensorflow as tf

    from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel
    from ser_keras.models import SERModels, build_cached_model, build_fusion_head

    cached = build_cached_model(build_fusion_head(text_dim=8, num_classes=4, modality="text"))
    teacher = TrainedModel("teacher", 2, False, SERModels(None, cached, None, None, None))

    def trainees(recipe):
        trainer = FoldTrainer(FoldData("main", None, "unused", LABELS), recipe, None, None,
                              tf.distribute.get_strategy(), pooling="cls", modality="text")
        return trainer._trainee(cached, None, "sgd", 0.0), trainer._trainee(cached, teacher, "sgd", 0.0)

    classifier, distiller = trainees(get_recipe("demo", label_smoothing=0.1))
    assert classifier.loss.label_smoothing == 0.1 and distiller.label_smoothing == 0.1
    classifier, distiller = trainees(get_recipe("demo"))
    assert type(classifier.loss) is keras.losses.SparseCategoricalCrossentropy and distiller.label_smoothing == 0.0


def test_balanced_class_weighting_weighs_the_training_splits_classes():
    import tensorflow as tf

    from ser_keras.data.splits import Splits
    from ser_keras.experiment.trainer import FoldData, FoldTrainer

    train = [Utterance(f"u{index}", "x", label) for index, label in enumerate(["sad"] * 6 + ["angry"] * 2)]
    fold = FoldData("main", Splits(train, [], []), "unused", LABELS)

    def weights(recipe):
        return FoldTrainer(fold, recipe, None, None, tf.distribute.get_strategy(), modality="text").class_weight

    assert weights(get_recipe("demo")) is None
    balanced = weights(get_recipe("demo", class_weighting="balanced"))
    assert balanced == {0: 2.0, 1: 1.0, 2: pytest.approx(8 / 12), 3: 1.0}  # angry, happy (absent), sad, neutral


@pytest.mark.parametrize("weighting", ["none", "balanced"])
def test_the_recipes_class_weights_reach_the_stage_the_trainer_runs(monkeypatch, tmp_path, caplog, weighting):
    import logging

    import tensorflow as tf

    from ser_keras.config import StageConfig
    from ser_keras.data.splits import Splits
    from ser_keras.experiment import trainer as trainer_module

    train = [Utterance(f"u{index}", "", label, audio_path=str(tmp_path / "unused.wav"))
             for index, label in enumerate(["sad"] * 3 + ["angry"])]
    embeddings = {item.utterance_id: np.ones((2, 128), "float32") for item in train}
    recipe = get_recipe("demo", class_weighting=weighting, transfer=StageConfig(epochs=1))
    trainer = trainer_module.FoldTrainer(
        trainer_module.FoldData("main", Splits(train, train, []), str(tmp_path), LABELS), recipe, None, embeddings,
        tf.distribute.get_strategy(), pooling="mean", modality="audio",
    )
    seen = []
    monkeypatch.setattr(trainer_module, "run_stage",
                        lambda *args, **kwargs: seen.append(kwargs["class_weight"]) or {"best_epoch": 0})
    features = {item.utterance_id: np.ones((1, 8), "float32") for item in train}
    with caplog.at_level(logging.INFO, logger="ser_keras.experiment.trainer"):
        for name in ("student", "other_student"):
            trainer.train(name, str(tmp_path), None, features)
    expected = {0: 2.0, 1: 1.0, 2: pytest.approx(2 / 3), 3: 1.0} if weighting == "balanced" else None
    assert seen == [expected, expected]  # audio-only models: stage 1 alone
    logged = [record for record in caplog.records if record.getMessage().startswith("Class weights")]
    assert len(logged) == (1 if weighting == "balanced" else 0)  # once per fold, not per model


def test_the_jobs_head_dropout_reaches_every_model_the_fold_trainer_builds():
    import types

    import tensorflow as tf

    from text_model_stand_ins import build_tiny_bert

    from ser_keras.experiment.fold_run import _fold_trainer

    config = parse("--head-dropout", "0.2", "--modality", "text")
    job = types.SimpleNamespace(config=config, corpus=types.SimpleNamespace(label_names=LABELS), preprocessor=None,
                                strategy=tf.distribute.get_strategy(), fold_log_dir=lambda name: "unused")
    trainer = _fold_trainer(job, types.SimpleNamespace(name="main", splits=None, patches=None), None)
    head = trainer.build_models(build_tiny_bert(), "text", "BERT_1").head
    assert head.get_layer("classifier_dropout").rate == head.get_layer("fusion_attention").attention.dropout == 0.2


def test_a_text_only_teachers_logits_are_recorded_without_reading_audio_files(tmp_path):
    import tensorflow as tf

    from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel
    from ser_keras.models import SERModels, build_cached_model, build_fusion_head

    rng = np.random.default_rng(0)
    items = [Utterance(f"u{index}", "x", LABELS[index % 4], audio_path=str(tmp_path / f"missing{index}.wav"))
             for index in range(5)]  # text-only job on a corpus with audio: no file needs to be read
    features = {item.utterance_id: rng.normal(size=(2 + index, 8)).astype("float32") for index, item in enumerate(items)}
    cached = build_cached_model(build_fusion_head(text_dim=8, num_classes=4, modality="text"))
    teacher = TrainedModel("teacher", 2, False, SERModels(None, cached, None, None, None))
    trainer = FoldTrainer(FoldData("main", None, "unused", LABELS), get_recipe("demo"), None, None,
                          tf.distribute.get_strategy(), pooling="cls", modality="text")

    recorded = trainer._teacher_logits(teacher, features, items)

    assert sorted(recorded) == [item.utterance_id for item in items]
    for item in items:
        alone = features[item.utterance_id][None]
        inputs = {"text_features": alone, "padding_mask": np.ones(alone.shape[:2], bool)}
        np.testing.assert_allclose(recorded[item.utterance_id], cached(inputs, training=False)["logits"][0],
                                   rtol=1e-5, atol=1e-6)
