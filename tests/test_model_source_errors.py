"""A `--vggish-weights` or `--text-preset` the job cannot use stops it before any work: one message, exit status 2.

Each bad source goes through the job command in this process with the job itself replaced by a stand-in that
records whether it started (the check comes first, in the command's start-up); the network is cut, as on an
offline machine. Two runs of `distill.py` and `train_teacher.py` as a user runs them check that nothing is
written, let alone trained.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from job_runs import REPO
from text_model_stand_ins import save_tiny_preset

from ser_keras.experiment.cli import run_job_command
from ser_keras.experiment.model_sources import ModelSourceError, check_model_sources

HUB_HANDLE = "https://tfhub.dev/google/vggish/1"


@pytest.fixture
def job_started(monkeypatch):
    """The configs the job was started with (it is replaced: a started job fails the test)."""
    from ser_keras.experiment import runner

    started = []

    def job(config):
        started.append(config)
        raise AssertionError("the job started")

    monkeypatch.setattr(runner, "run_distill_job", job)
    return started


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No name resolves (as without network), and the hub caches are empty."""

    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (the test is offline)")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub_cache"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub_cache"))


def save_checkpoint(prefix: Path, arrays: dict[str, np.ndarray]) -> str:
    import tensorflow as tf

    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=list(arrays), shape_and_slices=[""] * len(arrays),
                      tensors=list(arrays.values()))
    return str(prefix)


def bad_sources(tmp_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Each case: the flags, and what the one-line message says (every part)."""
    missing_weights = tmp_path / "absent" / "vggish_model.ckpt"
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    other_model = save_checkpoint(tmp_path / "other_model.ckpt", {"dense/kernel": np.zeros((2, 3), np.float32)})
    no_saved_model = tmp_path / "empty_folder"
    no_saved_model.mkdir()
    missing_preset = tmp_path / "absent_preset"
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "vocab.txt").write_text("[PAD]\n")
    unknown_config = tmp_path / "unknown_config"
    unknown_config.mkdir()
    (unknown_config / "config.json").write_text(json.dumps({"hidden_size": 32}))
    other_backbone = tmp_path / "gpt2_preset"
    other_backbone.mkdir()
    (other_backbone / "config.json").write_text(json.dumps({"registered_name": "keras_hub>GPT2Backbone", "config": {}}))
    no_tokenizer = save_tiny_preset(tmp_path / "backbone_only")
    help_ = "pass a TF-Hub handle ('https://tfhub.dev/google/vggish/1'), a local copy of that SavedModel directory"
    return {
        "missing VGGish checkpoint": (
            ["--vggish-weights", str(missing_weights)],
            [f"--vggish-weights {missing_weights}: no such file or directory; {help_}"],
        ),
        "file that is not a checkpoint": (
            ["--vggish-weights", str(text_file)],
            [f"--vggish-weights {text_file}: not a readable TensorFlow checkpoint (", help_],
        ),
        "checkpoint of another model": (
            ["--vggish-weights", other_model],
            [f"--vggish-weights {other_model}: variable 'vggish/conv1/weights' is missing (found: dense/kernel): "
             "it does not hold VGGish's weights", help_],
        ),
        "folder without a SavedModel": (
            ["--vggish-weights", str(no_saved_model)],
            [f"--vggish-weights {no_saved_model}: the directory holds no saved_model.pb, so it is not a copy of "
             f"google/vggish/1; {help_}"],
        ),
        "unreachable TF-Hub handle": (
            ["--vggish-weights", HUB_HANDLE],
            [f"--vggish-weights {HUB_HANDLE}: tensorflow_hub.load failed (",
             "Without network access, download the model elsewhere and pass its local directory or the original "
             "checkpoint."],
        ),
        "missing preset directory": (
            ["--text-preset", str(missing_preset)],
            [f"--text-preset {missing_preset}: Text-encoder preset directory '{missing_preset}' does not exist. "
             "Pass a keras-hub preset directory"],
        ),
        "directory without config.json": (
            ["--text-preset", str(no_config)],
            [f"--text-preset {no_config}: Text-encoder preset directory '{no_config}' has no config.json: it is "
             "neither a keras-hub preset"],
        ),
        "directory that is not a preset": (
            ["--text-preset", str(unknown_config)],
            [f"--text-preset {unknown_config}: Text-encoder preset directory '{unknown_config}' is neither a "
             "keras-hub preset (written by `save_to_preset`) nor a Hugging Face BERT model directory",
             "keras-hub cannot read it (ValueError: Unrecognized format for config.json"],
        ),
        "preset of another model": (
            ["--text-preset", str(other_backbone)],
            [f"--text-preset {other_backbone}: Text-encoder preset '{other_backbone}' holds a GPT2Backbone, not a "
             "BERT model", "Pass a BERT preset"],
        ),
        "preset without a tokenizer": (
            ["--text-preset", no_tokenizer],
            [f"--text-preset {no_tokenizer}: The tokenizer of text-encoder preset '{no_tokenizer}' cannot be loaded",
             "A keras-hub preset keeps it under assets/tokenizer/"],
        ),
        "unknown preset name": (
            ["--text-preset", "bert_huge_en"],
            ["--text-preset bert_huge_en: Unknown text-encoder preset 'bert_huge_en'. Use a keras-hub BERT preset (",
             "bert_base_en_uncased", "a kaggle:// or hf:// handle, or a local directory."],
        ),
        "hub preset offline": (
            ["--text-preset", "bert_base_en_uncased"],
            ["--text-preset bert_base_en_uncased: Text-encoder preset 'bert_base_en_uncased' cannot be fetched (",
             "without network access, download the preset elsewhere", "and pass its local directory."],
        ),
        "more teacher layers than the preset has": (
            ["--teacher-layers", "7"],
            ["--teacher-layers 7: the offline MiniLM has 6 transformer layers; pass at most 6"],
        ),
        "a student deeper than the preset": (
            ["--students", "2,8"],
            ["--students 8: a student keeps the first k transformer layers of the teacher's BERT, and the offline "
             "MiniLM has 6; pass layer counts from 1 to 6."],
        ),
    }


CASES = [
    "missing VGGish checkpoint", "file that is not a checkpoint", "checkpoint of another model",
    "folder without a SavedModel", "unreachable TF-Hub handle", "missing preset directory",
    "directory without config.json", "directory that is not a preset", "preset of another model",
    "preset without a tokenizer", "unknown preset name", "hub preset offline",
    "more teacher layers than the preset has", "a student deeper than the preset",
]


def assert_one_message(capsys, status: int, parts: list[str]) -> None:
    """Exit status 2 and one line on stderr, `<program>: error: <every part>`, no traceback."""
    stderr = capsys.readouterr().err
    assert status == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "error: " in stderr and "Traceback" not in stderr, stderr
    for part in parts:
        assert part in stderr, (part, stderr)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_model_source_stops_the_job_before_it_starts(tmp_path, capsys, job_started, offline, case):
    flags, parts = bad_sources(tmp_path)[case]
    output_dir = tmp_path / "out"
    status = run_job_command([*flags, "--output-dir", str(output_dir)], "The job.")
    assert_one_message(capsys, status, parts)
    assert job_started == []  # nothing read, split or trained
    assert not output_dir.exists()  # so no teacher checkpoint either


def test_train_teacher_checks_the_sources_too(tmp_path, capsys, job_started, offline):
    flags, parts = bad_sources(tmp_path)["checkpoint of another model"]
    status = run_job_command([*flags, "--output-dir", str(tmp_path / "out")], "The teacher.", teacher_only=True)
    assert_one_message(capsys, status, parts)
    assert job_started == []


def test_sources_that_the_models_do_not_read_are_not_checked(tmp_path, capsys, job_started, offline):
    """VGGish weights with text-only models or the compact audio encoder, layer counts of audio-only models."""
    absent = str(tmp_path / "absent.ckpt")
    for flags in (["--vggish-weights", absent, "--modality", "text"],
                  ["--vggish-weights", absent, "--audio-encoder", "compact"],
                  ["--modality", "audio", "--teacher-layers", "9"]):
        with pytest.raises(AssertionError, match="the job started"):
            run_job_command([*flags, "--output-dir", str(tmp_path / "out")], "The job.")
    assert len(job_started) == 3


def test_a_good_preset_passes_the_check(tmp_path, offline):
    """A keras-hub preset with its tokenizer, within its layer count (good VGGish sources: test_vggish.py)."""
    from text_model_stand_ins import save_tiny_preset_with_tokenizer

    from ser_keras.config import DistillJobConfig, ModelConfig

    preset = save_tiny_preset_with_tokenizer(tmp_path / "preset", ["a small test sentence"])
    check_model_sources(DistillJobConfig(model=ModelConfig(text_preset=preset, teacher_layers=3, student_layers=(3, 1))))
    with pytest.raises(ModelSourceError, match=r"^--students 4: .* and text-encoder preset '.*preset' has 3;"):
        check_model_sources(DistillJobConfig(model=ModelConfig(text_preset=preset, student_layers=(4, 1))))


@pytest.mark.parametrize(
    ("script", "case"),
    [("distill.py", "missing VGGish checkpoint"), ("train_teacher.py", "directory that is not a preset")],
)
def test_the_commands_stop_before_writing_anything(tmp_path, script, case):
    """The commands as a user runs them, the real job behind them: one message, nothing written or trained."""
    flags, parts = bad_sources(tmp_path)[case]
    output_dir = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(REPO / "training_scripts" / script), *flags, "--output-dir", str(output_dir),
         "--limit-per-split", "16", "--latency-runs", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"{script}: error: {parts[0]}" in result.stderr
    assert all(part in result.stderr for part in parts[1:])
    assert "Traceback" not in result.stderr
    assert "Epoch 1/" not in result.stdout
    assert not output_dir.exists()  # no run directory, no teacher checkpoint
