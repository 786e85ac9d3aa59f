"""The reuse fingerprints, computed from what each configuration field declares it shapes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from ser_keras.config import (
    NO_MODEL,
    STUDENTS,
    TEACHER,
    DataConfig,
    DistillJobConfig,
    ModelConfig,
    field_scopes,
    get_recipe,
    shapes,
    unmarked_message,
)

#: (teacher fingerprint, training fingerprint) of a few configs without the audio stage's masks, as
#: computed before the fingerprints were derived from the field markers. Saved teachers and students
#: are filed under these hashes. The training fingerprints are those of DISTILLATION_FORMAT 1 (the
#: teacher replayed from its recorded logits): the students' hashes changed then, the teachers' did not.
PINNED = {
    "default": (DistillJobConfig(), "7a125b44af85", "5dcf16d836fe"),
    "paper": (DistillJobConfig(recipe=get_recipe("paper")), "9e367389f988", "3d8f0a1bcc5a"),
    "audio only": (DistillJobConfig(model=ModelConfig(modality="audio")), "9e8243b00c3f", "801dfbcfa940"),
    "no speaker normalisation": (
        DistillJobConfig(recipe=get_recipe("demo", speaker_normalization=False)), "01dc3f8628f9", "c71d4d84d423"
    ),
    "unlabelled audio": (
        DistillJobConfig(data=DataConfig(unlabelled_audio="/data/extra"), model=ModelConfig(vggish_weights="v.ckpt")),
        "6d18a6f4e9f8",
        "296161b27d85",
    ),
    "loso": (DistillJobConfig(data=DataConfig(protocol="loso")), "37029f3e7e2c", "1acfb81d1864"),
}


def test_every_config_field_says_what_it_shapes():
    unmarked = [name for name, scope in field_scopes().items() if scope is None]
    assert not unmarked, unmarked_message(unmarked)


@dataclass(frozen=True)
class _Inner:
    marked: int = shapes(STUDENTS, 0)
    forgotten: int = 0


@dataclass(frozen=True)
class _Outer:
    inner: _Inner | None = shapes(TEACHER, None)
    output: str = shapes(NO_MODEL, "")


def test_an_unmarked_field_at_any_depth_is_found():
    scopes = field_scopes(_Outer)
    assert scopes == {"inner": TEACHER, "inner.marked": STUDENTS, "inner.forgotten": None, "output": NO_MODEL}
    assert "inner.forgotten. " in unmarked_message(["inner.forgotten"])
    with pytest.raises(ValueError, match="TEACHER, STUDENTS or NO_MODEL"):
        shapes("everything", 0)


#: The same configs with the audio stage's SpecAugment masks, the default since 05f2b9b (a setting that
#: shapes the models: the configs whose audio encoder trains from the labels get new hashes; the
#: unlabelled-audio config has a frozen VGGish teacher and keeps its own).
PINNED_WITH_MASKS = {
    "default": ("cbf9c641824c", "ca5df73cdb1d"),
    "paper": ("ced3c0a30fdb", "109868f7dbd3"),
    "audio only": ("37ba3ca40c9c", "d9ad0d4a30c8"),
    "no speaker normalisation": ("83703c792ecb", "9fa7154fcb25"),
    "unlabelled audio": ("6d18a6f4e9f8", "296161b27d85"),
    "loso": ("504d33011c11", "996ade33eac7"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_configs_keep_their_fingerprints(name):
    config, teacher, training = PINNED[name]
    assert config.recipe.audio_augmentation
    assert (config.teacher_fingerprint(), config.training_fingerprint()) == PINNED_WITH_MASKS[name]
    # Without the masks, the models saved before they existed keep their hashes.
    config = dataclasses.replace(config, recipe=dataclasses.replace(config.recipe, audio_augmentation=False))
    assert (config.teacher_fingerprint(), config.training_fingerprint()) == (teacher, training), (
        f"The reuse fingerprints of the {name} config changed, so saved teachers and students would be trained "
        "again. If a new config field did it, leave it out of the fingerprints while it holds the value that "
        "earlier code implied (`shapes(..., when=...)` in ser_keras/config.py); if the change is meant "
        "(TRAINING_FORMAT raised, or a setting that now shapes the models), update PINNED."
    )


def test_a_field_enters_the_fingerprints_of_the_models_it_shapes():
    config = DistillJobConfig(data=DataConfig(unlabelled_audio="/data/extra"), model=ModelConfig(vggish_weights="v"))
    teacher, training = config.fingerprint_fields(teacher_only=True), config.fingerprint_fields()
    for outputs in ("output_dir", "run_name", "latency_runs", "export", "export_all"):
        assert outputs not in teacher and outputs not in training
    for students_only in ("student_layers", "compact_students", "baselines"):
        assert students_only not in teacher["model"] and students_only in training["model"]
    for students_only in ("compact_finetune", "distillation"):
        assert students_only not in teacher["recipe"] and students_only in training["recipe"]
    # The unlabelled clips: never the teacher's, and the students' only when given.
    assert "unlabelled_audio" not in teacher["data"] and training["data"]["unlabelled_audio"] == "/data/extra"
    assert "unlabelled_audio" not in DistillJobConfig().fingerprint_fields()["data"]
    # The speaker statistics settings only with speaker normalisation.
    assert {"speaker_statistics", "enrolment_clips"} <= teacher["recipe"].keys()
    off = DistillJobConfig(recipe=get_recipe("demo", speaker_normalization=False)).fingerprint_fields(teacher_only=True)
    assert not {"speaker_statistics", "enrolment_clips"} & off["recipe"].keys()
    assert training["model"]["compact_students"] == ["compact", "audio-compact"]  # JSON values: tuples as lists
    assert teacher["training_format"] == training["training_format"]
