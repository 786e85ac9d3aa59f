"""The whole main job under `--protocol loso` on a small tree in IEMOCAP's release layout.

Five sessions, one dialog each, with a female and a male speaker; every
utterance has a 1 s noise clip and a transcript. The job trains a teacher and a
distilled student on each of the five leave-one-session-out folds and reports
mean and standard deviation across them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from job_runs import job_command, run_job, scores_of_predictions, tiny_preset  # noqa: F401  (fixture)

LABEL_CODES = ("neu", "ang", "hap", "sad", "exc", "neu", "ang", "sad", "hap", "sad", "ang", "neu")
SENTENCES = (
    "The meeting starts after lunch.",
    "I am furious about the train!",
    "I love how the garden turned out.",
    "I miss how the old house used to be.",
)
NUM_FOLDS = 5


def write_session(root: Path, session: int, rng: np.random.Generator) -> None:
    dialog = f"Ses0{session}F_impro01"
    session_dir = root / f"Session{session}"
    evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
    transcript = []
    for index, code in enumerate(LABEL_CODES):
        utterance_id = f"{dialog}_{'FM'[index % 2]}{index // 2:03d}"
        start, end = 2.0 * index, 2.0 * index + 1.0
        evaluation.append(f"[{start:.4f} - {end:.4f}]\t{utterance_id}\t{code}\t[2.5000, 3.0000, 3.5000]\n\n")
        transcript.append(f"{utterance_id} [{start:08.4f}-{end:08.4f}]: {SENTENCES[index % len(SENTENCES)]}\n")
        wav = session_dir / "sentences" / "wav" / dialog / f"{utterance_id}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(wav, rng.normal(0.0, 0.1, 16000).astype(np.float32), 16000)
    for folder, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcript)):
        (session_dir / "dialog" / folder).mkdir(parents=True, exist_ok=True)
        (session_dir / "dialog" / folder / f"{dialog}.txt").write_text("".join(lines))


@pytest.fixture(scope="module")
def iemocap_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    rng = np.random.default_rng(0)
    for session in range(1, NUM_FOLDS + 1):
        write_session(root, session, rng)
    return root


def test_loso_job_trains_five_folds_and_reports_mean_and_std(tiny_preset, iemocap_root, tmp_path):  # noqa: F811
    command = job_command(
        tiny_preset, tmp_path, 1,
        "--dataset", "iemocap", "--data-dir", str(iemocap_root), "--protocol", "loso", "--no-baselines",
    )
    result = run_job(command)
    run_dir = tmp_path / "tiny"

    models = json.loads((run_dir / "results.json").read_text())["models"]
    assert [model["name"] for model in models if model["role"] != "reference"] == [
        "BERT_3-AudioCNN (teacher)", "BERT_1-AudioCNN + KD",
    ]
    for model in models:
        folds = model["extra"]["folds"]
        assert [fold["fold"] for fold in folds] == [f"session{k}" for k in range(1, NUM_FOLDS + 1)]
        if model["role"] != "reference":  # each fold's test scores are those of its predictions file
            for fold in folds:
                predictions = run_dir / "predictions" / f"{model['extra']['model_key']}_{fold['fold']}_test.csv"
                assert fold["test"] == pytest.approx(scores_of_predictions(predictions), abs=1e-9), fold["fold"]
        for split in ("validation", "test"):
            for metric in ("acc", "bacc", "mf1", "wf1"):
                values = [fold[split][metric] for fold in folds]
                assert math.isclose(model[split][metric], float(np.mean(values)), abs_tol=1e-9)
                assert math.isclose(model["extra"][f"{split}_std"][metric], float(np.std(values)), abs_tol=1e-9)

    markdown = (run_dir / "results.md").read_text()
    assert markdown.count("±") >= 2 * 8, markdown
    confusion = sorted(path.name for path in (run_dir / "confusion").glob("*.png"))
    assert len(confusion) == 2 * NUM_FOLDS, confusion
    # Each fold is its own TensorBoard run group, and the teacher of each fold is saved apart.
    fold_logs = [path for path in (run_dir / "tensorboard").iterdir() if path.is_dir() and path.name.startswith("session")]
    assert len(fold_logs) == NUM_FOLDS, sorted(path.name for path in fold_logs)
    assert str(run_dir / "results.md") in result.stdout
