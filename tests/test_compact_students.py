"""Compact students: narrow text encoders, `--students` names, the job's compact rows."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from text_model_stand_ins import build_tiny_bert, save_tiny_preset_with_tokenizer

from ser_keras.experiment.job import add_job_arguments, job_config_from_args, parse_students
from ser_keras.text.narrow import NarrowTextSpec, build_narrow_text_encoder, principal_basis

REPO = Path(__file__).resolve().parents[1]


def test_students_flag_takes_layer_counts_and_compact_names():
    assert parse_students("4,2,compact,audio-compact") == ((4, 2), ("compact", "audio-compact"))
    assert parse_students("audio-compact") == ((), ("audio-compact",))
    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    config = job_config_from_args(parser.parse_args(["--students", "2,compact"]))
    assert config.model.student_layers == (2,) and config.model.compact_students == ("compact",)
    assert job_config_from_args(parser.parse_args([])).model.compact_students == ()
    for bad in ("tiny", "0", "2,2"):
        with pytest.raises(argparse.ArgumentTypeError) as error:
            parse_students(bad)
        assert ("compact, audio-compact" in str(error.value)) or "twice" in str(error.value)


def test_a_bad_student_name_stops_the_command_with_the_valid_names():
    result = subprocess.run(
        [sys.executable, str(REPO / "training_scripts" / "distill.py"), "--students", "2,smallest"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 2
    assert "unknown student 'smallest'" in result.stderr and "compact, audio-compact" in result.stderr


def test_a_narrow_student_keeps_the_vocabulary_and_projects_the_teachers_embeddings():
    teacher = build_tiny_bert(seed=3, num_layers=3, vocabulary_size=40)
    student = build_narrow_text_encoder(teacher, NarrowTextSpec(num_layers=2, hidden_dim=8, num_heads=2))
    assert (student.num_layers, student.hidden_dim, student.vocabulary_size) == (2, 8, 40)
    assert student.count_params() < teacher.count_params() / 2

    table = teacher.get_layer("token_embedding").get_weights()[0]
    basis, kept = principal_basis(table, 8)
    assert basis.shape == (32, 8) and 0.25 < kept < 1.0
    np.testing.assert_allclose(basis.T @ basis, np.eye(8), atol=1e-5)  # orthonormal directions
    expected = (table - table.mean(axis=0)) @ basis
    np.testing.assert_allclose(student.get_layer("token_embedding").get_weights()[0], expected, atol=1e-5)
    positions = teacher.get_layer("position_embedding").get_weights()[0] @ basis
    np.testing.assert_allclose(student.get_layer("position_embedding").get_weights()[0], positions, atol=1e-5)
    # The kept variance is that of the top principal directions: no other 8 directions keep more.
    random_basis = np.linalg.qr(np.random.default_rng(0).normal(size=(32, 8)))[0]
    centred = table - table.mean(axis=0)
    assert (centred @ basis).var(axis=0).sum() > (centred @ random_basis).var(axis=0).sum()

    tokens = {"token_ids": np.array([[2, 7, 9, 3, 0]]), "segment_ids": np.zeros((1, 5), "int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0]], bool)}
    assert tuple(student(tokens)["sequence_output"].shape) == (1, 5, 8)


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    with open(REPO / "data" / "demo" / "manifest.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return save_tiny_preset_with_tokenizer(tmp_path_factory.mktemp("preset"), texts)


def test_compact_and_audio_only_students_train_in_the_job_and_get_their_rows(tiny_preset, tmp_path):
    command = [
        sys.executable, str(REPO / "training_scripts" / "distill.py"),
        "--text-preset", tiny_preset, "--limit-per-split", "16", "--students", "compact,audio-compact",
        "--transfer-epochs", "2", "--finetune-epochs", "1", "--audio-epochs", "2", "--batch-size", "8",
        "--sequence-length", "16", "--latency-runs", "2", "--output-dir", str(tmp_path), "--run-name", "tiny",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Feature loss through a learned projection 16 -> 32 (not exported)" in result.stderr

    run_dir = tmp_path / "tiny"
    models = {m["extra"]["model_key"]: m for m in json.loads((run_dir / "results.json").read_text())["models"]
              if m["role"] != "reference"}
    assert list(models) == ["teacher", "compact", "compact_kd", "audio_compact", "audio_compact_kd"]
    assert models["compact_kd"]["name"] == "BERT_2x16-AudioCNN (compact) + KD"
    assert models["audio_compact"]["name"] == "AudioCNN (audio only)"
    assert models["audio_compact_kd"]["distilled"] and models["audio_compact_kd"]["extra"]["student_kind"] == "audio-compact"
    teacher = models["teacher"]["params"]
    teacher_text = teacher["bert_embeddings"] + teacher["transformer_layers"] + teacher["pooler"]
    assert models["compact"]["params"]["text_encoder"] < teacher_text / 2
    assert models["compact"]["params"]["total"] < teacher["total"]
    assert models["audio_compact"]["params"]["text_encoder"] == 0
    assert models["audio_compact"]["params"]["total"] < models["compact"]["params"]["total"]
    for model in models.values():
        assert model["latency_ms"] > 0 and set(model["test"]) == {"bacc", "acc", "mf1", "wf1"}
    table = (run_dir / "results.md").read_text()
    assert "| BERT_2x16-AudioCNN (compact) + KD |" in table and "| AudioCNN (audio only) + KD |" in table

    # The projection trained with the student but is not in its checkpoint.
    checkpoint = next(run_dir.glob("models/*/main/compact_kd/finetune/best.weights.h5"))
    with h5py.File(checkpoint, "r") as handle:
        names = []
        handle.visit(names.append)
    assert names and not any("feature_projection" in name for name in names)
    # The best student was exported whatever its kind, and it serves.
    assert (run_dir / "export" / "best_student" / "1" / "saved_model.pb").is_file()
