"""Speaker statistics a deployment can reproduce (enrolment), and reuse of saved models keyed on the data."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ser_keras.config import DistillJobConfig, get_recipe
from ser_keras.data import Splits, Utterance
from ser_keras.data.enrolment import enrolment_ids, statistics_clips
from ser_keras.data.speaker_norm import BandStatistics, normalize_by_speaker, normalize_fold, normalize_patches
from ser_keras.data.unlabelled import without_corpus_clips
from ser_keras.experiment.cli import add_job_arguments, job_config_from_args
from ser_keras.experiment.reuse import data_digest, explain_reuse, record_settings
from job_runs import tiny_preset  # noqa: F401  (a fixture)


def _clip(utterance_id: str, speaker: str, rng: np.random.Generator, level: float) -> tuple[Utterance, np.ndarray]:
    return Utterance(utterance_id, "", "sad", f"{utterance_id}.wav", speaker=speaker), level + rng.normal(size=[2, 96, 64])


@pytest.fixture
def fold():
    """Two training speakers, one validation and one test speaker, clips listed out of id order."""
    rng = np.random.default_rng(0)
    layout = {"train": [("t1", "a", 1.0), ("t0", "a", 2.0), ("t2", "b", 5.0), ("t3", "b", 6.0)],
              "validation": [("v2", "c", -3.0), ("v0", "c", -2.0), ("v1", "c", -1.0)],
              "test": [("x3", "d", 9.0), ("x1", "d", 8.0), ("x0", "d", 7.0), ("x2", "d", 10.0)]}
    clips = {split: [_clip(i, s, rng, level) for i, s, level in rows] for split, rows in layout.items()}
    splits = Splits(*([item for item, _ in clips[name]] for name in ("train", "validation", "test")))
    patches = {item.utterance_id: value for rows in clips.values() for item, value in rows}
    return splits, patches


def test_enrolment_is_each_speakers_first_clips_in_utterance_id_order():
    clips = [("s1_c", "s1"), ("s2_a", "s2"), ("s1_a", "s1"), ("s1_b", "s1"), ("none", None)]
    assert enrolment_ids(clips, 2) == {"s1": ["s1_a", "s1_b"], "s2": ["s2_a"]}
    assert enrolment_ids(clips, 0) == {}
    assert statistics_clips(clips, "all-clips", 1) == {"s1": ["s1_a", "s1_b", "s1_c"], "s2": ["s2_a"]}
    with pytest.raises(ValueError, match="0 or more"):
        enrolment_ids(clips, -1)


def test_fold_normalisation_draws_every_speakers_statistics_from_its_first_clips_only(fold):
    splits, patches = fold
    result = normalize_fold(patches, splits, "enrolment", 2)
    reference = BandStatistics.of([patches[i] for i in ("t1", "t0", "t2", "t3")])
    np.testing.assert_allclose(result.reference.mean, reference.mean)
    assert result.enrolment == {"v0", "v1", "x0", "x1"}
    # A test clip: normalised with the statistics of x0 and x1 (the first two ids), not of x2 or x3.
    enrolment = BandStatistics.of([patches["x0"], patches["x1"]])
    np.testing.assert_allclose(result.patches["x3"], normalize_patches(patches["x3"], enrolment, reference), atol=1e-6)
    # Changing a scored test clip changes nothing else: no statistics come from it.
    changed = dict(patches, x3=patches["x3"] + 100.0)
    again = normalize_fold(changed, splits, "enrolment", 2)
    for utterance_id in patches:
        if utterance_id != "x3":
            np.testing.assert_array_equal(again.patches[utterance_id], result.patches[utterance_id])
    # A training clip: by its speaker's first k training clips, as a deployed speaker is (trained on, not held out).
    own = BandStatistics.of([patches["t1"], patches["t0"]])
    np.testing.assert_allclose(result.patches["t0"], normalize_patches(patches["t0"], own, reference), atol=1e-6)
    first_only = normalize_fold(patches, splits, "enrolment", 1)
    assert first_only.enrolment == {"v0", "x0"}
    np.testing.assert_allclose(
        first_only.patches["t1"], normalize_patches(patches["t1"], BandStatistics.of([patches["t0"]]), reference), atol=1e-6
    )


def test_no_enrolment_leaves_unseen_speakers_as_they_are_and_all_clips_is_the_transductive_rule(fold):
    splits, patches = fold
    none = normalize_fold(patches, splits, "enrolment", 0)
    assert not none.enrolment
    for utterance_id in ("x3", "t0", "v1"):  # k = 0: no speaker has statistics, training speakers neither
        np.testing.assert_array_equal(none.patches[utterance_id], patches[utterance_id])
    transductive = normalize_fold(patches, splits, "all-clips", 2)
    assert not transductive.enrolment
    speakers = {item.utterance_id: item.speaker for split in splits for item in split}
    expected = normalize_by_speaker(patches, speakers, transductive.reference)
    for utterance_id in patches:
        np.testing.assert_allclose(transductive.patches[utterance_id], expected[utterance_id], atol=1e-6)


def test_a_single_speaker_fold_is_not_normalised_and_exports_no_reference(fold):
    """Before, a one-speaker corpus was left as it was but its export still took a speaker reference."""
    splits, patches = fold
    one = Splits(*([Utterance(i.utterance_id, "", "sad", "x.wav", speaker="only") for i in split] for split in splits))
    result = normalize_fold(patches, one, "enrolment", 2)
    assert result.reference is None and not result.normalized and not result.enrolment
    assert all(result.patches[key] is patches[key] for key in patches)


def test_the_data_digest_changes_with_labels_splits_speakers_and_audio(fold):
    splits, patches = fold
    digest = data_digest([("main", splits)], patches)
    assert data_digest([("main", splits)], dict(patches)) == digest
    relabelled = Splits([Utterance("t1", "", "happy", "t1.wav", speaker="a"), *splits.train[1:]], *splits[1:])
    moved = Splits(splits.train[:-1], [*splits.validation, splits.train[-1]], splits.test)
    other_audio = dict(patches, x0=patches["x0"] * 1.001)
    for changed in (data_digest([("main", relabelled)], patches), data_digest([("main", moved)], patches),
                    data_digest([("main", splits)], other_audio), data_digest([("fold2", splits)], patches)):
        assert changed != digest


def test_the_log_says_why_a_saved_model_is_or_is_not_reused(tmp_path):
    config = DistillJobConfig()
    fields, fingerprint = config.fingerprint_fields(True), config.teacher_fingerprint()
    root = str(tmp_path / "teachers")
    assert explain_reuse("teacher", root, fingerprint, fields, "d1") == f"No saved teacher in {root}: training from the start."
    record_settings(root, fingerprint, fields)
    (tmp_path / "teachers" / fingerprint / "d1").mkdir()
    assert explain_reuse("teacher", root, fingerprint, fields, "d1").startswith("Reusing (or resuming) the saved teacher")
    other_data = explain_reuse("teacher", root, fingerprint, fields, "d2")
    assert "trained on other data (digest d1; now d2)" in other_data
    reseeded = DistillJobConfig(recipe=get_recipe("demo", seed=3, enrolment_clips=1))
    message = explain_reuse("teacher", root, reseeded.teacher_fingerprint(), reseeded.fingerprint_fields(True), "d1")
    assert "differs in recipe.enrolment_clips, recipe.seed." in message


def test_speaker_statistics_flags_shape_the_recipe_and_the_fingerprint():
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    default = job_config_from_args(parser.parse_args([]))
    assert (default.recipe.speaker_statistics, default.recipe.enrolment_clips) == ("enrolment", 5)
    assert not default.recipe.transductive
    chosen = job_config_from_args(parser.parse_args(["--speaker-statistics", "all-clips", "--enrolment-clips", "3"]))
    assert chosen.recipe.transductive and chosen.recipe.enrolment_clips == 3
    assert chosen.teacher_fingerprint() != default.teacher_fingerprint()
    # Without speaker normalisation the enrolment settings shape nothing.
    off = ["--no-speaker-normalization"]
    assert (job_config_from_args(parser.parse_args([*off, "--enrolment-clips", "3"])).teacher_fingerprint()
            == job_config_from_args(parser.parse_args(off)).teacher_fingerprint())
    with pytest.raises(ValueError, match="--enrolment-clips must be 0 or more"):
        get_recipe("demo", enrolment_clips=-1)


def test_unlabelled_clips_that_are_corpus_clips_are_left_out():
    corpus = {"val_1": np.ones([1, 96, 64]), "train_1": np.zeros([1, 96, 64])}
    unlabelled = {"unlabelled:a": np.ones([1, 96, 64]), "unlabelled:b": np.full([1, 96, 64], 2.0)}
    kept, dropped = without_corpus_clips(unlabelled, corpus)
    assert list(kept) == ["unlabelled:b"] and dropped == ["unlabelled:a"]


def test_enrolment_that_takes_every_validation_clip_is_a_clear_error(fold):
    from ser_keras.data.errors import DatasetError
    from ser_keras.experiment.fold_run import _scored_splits

    splits, patches = fold
    scored = _scored_splits(splits, normalize_fold(patches, splits, "enrolment", 2).enrolment, 2)
    assert [i.utterance_id for i in scored.validation] == ["v2"] and [i.utterance_id for i in scored.test] == ["x3", "x2"]
    with pytest.raises(DatasetError, match="--enrolment-clips 3 leaves no validation clip to score"):
        _scored_splits(splits, normalize_fold(patches, splits, "enrolment", 3).enrolment, 3)


def test_editing_the_corpus_retrains_and_the_log_says_why(tiny_preset, tmp_path):  # noqa: F811
    """Saved models are keyed on the data: a relabelled training clip trains a new teacher (before, the
    fingerprint held the manifest's path, and models trained on the old labels were reused)."""
    import csv
    import json

    from job_runs import REPO, job_command, run_job

    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["path"] = str(REPO / "data" / "demo" / row["path"])
    manifest = tmp_path / "corpus.csv"

    def write(rows):
        with open(manifest, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    write(rows)
    command = [*job_command(tiny_preset, tmp_path), "--dataset", "manifest", "--manifest", str(manifest),
               "--modality", "text", "--no-baselines"]
    run_job(command)
    again = run_job(command)
    assert "Reusing (or resuming) the saved teacher" in again.stderr and "Epoch 1/" not in again.stdout

    first_train = next(row for row in rows if row["split"] == "train")  # in the 16-clip slice
    first_train["label"] = next(label for label in ("angry", "happy") if label != first_train["label"])
    write(rows)
    edited = run_job(command)
    assert "Training a new teacher: saved ones with the same settings" in edited.stderr
    assert "were trained on other data" in edited.stderr and "Epoch 1/" in edited.stdout
    teachers = [path for path in (tmp_path / "teachers").iterdir() if path.is_dir()]
    assert len(teachers) == 1 and len([p for p in teachers[0].iterdir() if p.is_dir()]) == 2
    assert json.loads((tmp_path / "tiny" / "config.json").read_text())["data"]["manifest"] == str(manifest)
