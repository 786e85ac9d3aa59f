"""Text-only, audio-only and partly single-modality corpora through the whole job (`--quick`-sized)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from job_runs import REPO, SCRIPT, job_command, run_job, scores_of_predictions, tiny_preset  # noqa: F401  (a fixture)

DEMO = REPO / "data" / "demo"


def write_manifest(path: Path, blank: str | None = None, blank_every: int | None = None) -> Path:
    """Every third demo clip; `blank` ("path" or "text") emptied in every row, or in every `blank_every`-th."""
    with open(DEMO / "manifest.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[::3]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for index, row in enumerate(rows):
            row = {**row, "path": str(DEMO / row["path"])}
            if blank and (blank_every is None or index % blank_every == 0):
                row[blank] = ""
            writer.writerow(row)
    return path


def models_of(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "results.json").read_text())["models"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def job_predictions(run_dir: Path, key: str = "teacher") -> dict[str, str]:
    """The job's predicted label of each scored test clip of model `key`."""
    return {row["utterance_id"]: row["predicted_label"] for row in read_rows(run_dir / "predictions" / f"{key}_test.csv")}


def assert_scores_are_those_of_the_predictions(run_dir: Path, models: list[dict]) -> None:
    for model in models:
        if model["role"] != "reference":
            reference = scores_of_predictions(run_dir / "predictions" / f"{model['extra']['model_key']}_test.csv")
            assert model["test"] == pytest.approx(reference, abs=1e-9), model["name"]


def serve_manifest(export: Path, manifest: Path, output: Path) -> list[dict[str, str]]:
    served = subprocess.run(
        [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(export), "--manifest", str(manifest),
         "--output", str(output)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert served.returncode == 0, served.stderr[-2000:]
    return read_rows(output)


def test_text_only_corpus_trains_exports_and_serves_without_any_audio(tiny_preset, tmp_path):  # noqa: F811
    manifest = write_manifest(tmp_path / "text_only.csv", blank="path")
    data = ("--dataset", "manifest", "--manifest", str(manifest))
    command = [arg for arg in job_command(tiny_preset, tmp_path, 2, *data, "--modality", "text")
               if arg != "--no-export"]
    result = run_job(command)
    log = result.stdout + result.stderr
    assert "VGGish" not in log and "Audio encoder" not in log  # no audio encoder built, no warning
    models = models_of(tmp_path / "tiny")
    assert [m["name"] for m in models] == [
        "BERT_3 (teacher)", "BERT_1", "BERT_1 + KD", "Linear probe: text",
    ]
    assert_scores_are_those_of_the_predictions(tmp_path / "tiny", models)
    assert all(m["latency_ms"] > 0 for m in models if m["role"] != "reference")

    export = tmp_path / "tiny" / "export" / "teacher"
    predicted = subprocess.run(  # a transcript alone, no audio file
        [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(export), "--text", "I am so happy today!"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)["audio"] is None
    output = tmp_path / "served.csv"
    listed = subprocess.run(  # the text-only manifest itself: empty paths
        [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(export), "--manifest", str(manifest),
         "--output", str(output)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    served = {row["utterance_id"]: row for row in read_rows(output)}
    assert len(served) == len(read_rows(manifest))
    job = job_predictions(tmp_path / "tiny")
    assert {utterance_id: served[utterance_id]["predicted_label"] for utterance_id in job} == job  # as in the job

    # The exported graph takes a waveform, and the text-only model's scores do not move with it; the text moves them.
    import tensorflow as tf

    serve = tf.saved_model.load(str(next(export.glob("*/saved_model.pb")).parent)).signatures["serving_default"]
    noise = np.random.default_rng(0).normal(0.0, 0.3, (1, 48000)).astype(np.float32)

    def probabilities(text: str, waveform: np.ndarray) -> np.ndarray:
        return serve(text=tf.constant([text]), waveform=tf.constant(waveform),
                     waveform_length=tf.constant([waveform.shape[1]], tf.int32))["probabilities"].numpy()

    texts = [row["text"] for row in read_rows(manifest)[:8]]
    with_noise = np.concatenate([probabilities(text, noise) for text in texts])
    with_silence = np.concatenate([probabilities(text, np.zeros((1, 16000), np.float32)) for text in texts])
    np.testing.assert_array_equal(with_noise, with_silence)
    assert np.abs(with_noise - with_noise[0]).max() > 1e-4  # while other transcripts score otherwise

    run_job([sys.executable, str(REPO / "training_scripts" / "evaluate.py"), "--model", str(export), *data,
             "--limit-per-split", "16", "--latency-runs", "2", "--output-dir", str(tmp_path / "evaluation")])
    served = json.loads((tmp_path / "evaluation" / "results.json").read_text())["models"][0]
    for split in ("validation", "test"):
        for metric, value in models[0][split].items():
            assert abs(served[split][metric] - value) < 1e-6, (split, metric)


def test_audio_only_corpus_trains_without_bert_and_serves_clips_without_text(tiny_preset, tmp_path):  # noqa: F811
    manifest = write_manifest(tmp_path / "audio_only.csv", blank="text")
    command = [arg for arg in job_command(tiny_preset, tmp_path, 2, "--dataset", "manifest", "--manifest",
                                          str(manifest), "--modality", "audio") if arg != "--no-export"]
    result = run_job(command)
    log = result.stdout + result.stderr
    assert "Text encoder from" not in log  # BERT is never loaded
    assert "Audio-only models have no text encoder to shrink" in log
    run_dir = tmp_path / "tiny"
    models = models_of(run_dir)
    assert [m["name"] for m in models] == ["AudioCNN (teacher)", "Linear probe: audio"]
    assert models[0]["latency_ms"] > 0
    assert_scores_are_those_of_the_predictions(run_dir, models)

    # Served on the job's test clips (no transcripts), the export predicts what the job scored, clip by clip;
    # the same clips with a transcript added score the same (the model reads audio alone), and different
    # clips score differently (it reads the audio).
    export = run_dir / "export" / "teacher"
    test_clips = run_dir / "predictions" / "test_clips.csv"
    served = serve_manifest(export, test_clips, tmp_path / "served.csv")
    scored = {row["utterance_id"]: row["predicted_label"] for row in served if row.get("enrolment", "0") == "0"}
    assert scored == job_predictions(run_dir)
    rows = read_rows(test_clips)
    assert not any(row["text"] for row in rows)
    with_text = tmp_path / "with_text.csv"
    with open(with_text, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "text": "I am so happy today!"} for row in rows)
    served_with_text = serve_manifest(export, with_text, tmp_path / "served_with_text.csv")
    columns = [column for column in served[0] if column.startswith("p_")]
    assert len(columns) == 4
    probabilities = np.array([[float(row[column]) for column in columns] for row in served])
    np.testing.assert_array_equal(
        probabilities, np.array([[float(row[column]) for column in columns] for row in served_with_text])
    )
    assert np.abs(probabilities - probabilities[0]).max() > 1e-4


def test_multimodal_corpus_with_some_rows_missing_one_modality(tiny_preset, tmp_path):  # noqa: F811
    manifest = write_manifest(tmp_path / "mixed.csv", blank="path", blank_every=5)
    run_job(job_command(tiny_preset, tmp_path, 2, "--dataset", "manifest", "--manifest", str(manifest)))
    run_dir = tmp_path / "tiny"
    models = models_of(run_dir)
    assert [m["name"] for m in models][:3] == ["BERT_3-AudioCNN (teacher)", "BERT_1-AudioCNN", "BERT_1-AudioCNN + KD"]
    # Every model scores the test clips without audio too (from their transcript), and its scores are those
    # of its predictions.
    rows = {row["utterance_id"]: row for row in read_rows(manifest)}
    test_ids = [row["utterance_id"] for row in read_rows(run_dir / "splits.csv") if row["split"] == "test"]
    without_audio = {utterance_id for utterance_id in test_ids if not rows[utterance_id]["path"]}
    assert without_audio and len(without_audio) < len(test_ids)
    # The ser-predict manifest of the test clips lists those the served models can read: the ones with audio.
    listed = {row["utterance_id"] for row in read_rows(run_dir / "predictions" / "test_clips.csv")}
    assert listed == set(test_ids) - without_audio
    for key in ("teacher", "student_k1", "student_k1_kd"):
        assert without_audio <= set(job_predictions(run_dir, key)), key
    assert_scores_are_those_of_the_predictions(run_dir, models)


@pytest.mark.parametrize(
    ("blank", "flags", "message"),
    [
        ("text", ("--modality", "audio", "--pooling", "cls"), "an audio-only model"),
        ("path", (), "no utterance of the corpus has an audio file: use --modality text"),
        ("text", ("--modality", "text"), "every text of the corpus is empty: use --modality audio"),
    ],
)
def test_invalid_modality_combinations_are_refused_before_any_work(tmp_path, blank, flags, message):
    manifest = write_manifest(tmp_path / "corpus.csv", blank=blank)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", "manifest", "--manifest", str(manifest),
         "--output-dir", str(tmp_path / "out"), *flags],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "out" / "cache").exists()  # refused before any encoder ran
