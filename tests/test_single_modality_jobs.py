"""Text-only, audio-only and partly single-modality corpora through the whole job (`--quick`-sized)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from job_runs import REPO, SCRIPT, job_command, run_job, tiny_preset  # noqa: F401  (a fixture)

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
    assert all(0.0 <= m["test"]["acc"] <= 1.0 for m in models)
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
    with open(output, encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(open(manifest, encoding="utf-8").readlines()) - 1

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
    models = models_of(tmp_path / "tiny")
    assert [m["name"] for m in models] == ["AudioCNN (teacher)", "Linear probe: audio"]
    assert models[0]["latency_ms"] > 0
    export = tmp_path / "tiny" / "export" / "teacher"
    clip = next(DEMO.glob("audio/*.flac"))
    predicted = subprocess.run(
        [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(export), str(clip)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)["label"] in ("angry", "happy", "sad", "neutral")


def test_multimodal_corpus_with_some_rows_missing_one_modality(tiny_preset, tmp_path):  # noqa: F811
    manifest = write_manifest(tmp_path / "mixed.csv", blank="path", blank_every=5)
    run_job(job_command(tiny_preset, tmp_path, 2, "--dataset", "manifest", "--manifest", str(manifest)))
    names = [m["name"] for m in models_of(tmp_path / "tiny")]
    assert names[:3] == ["BERT_3-AudioCNN (teacher)", "BERT_1-AudioCNN", "BERT_1-AudioCNN + KD"]


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
