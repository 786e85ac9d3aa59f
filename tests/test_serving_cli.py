"""`ser-predict` on demo clips: one clip, a manifest, a stream; bad input exits 1 and writes nothing."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile

from export_stand_ins import tiny_export
from ser_keras.serving.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.getbasetemp() / "tiny_export")


def test_one_clip_prints_json_matching_keras(tiny, capsys):
    clip = tiny.test_clips[7]
    assert main(["--model", str(tiny.export_dir), clip.path, "--text", clip.text]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = tiny.keras_test_probabilities[7]
    assert result["audio"] == clip.path and result["text"] == clip.text
    assert result["label"] == tiny.label_names[int(expected.argmax())]
    np.testing.assert_allclose([result["probabilities"][name] for name in tiny.label_names], expected, atol=1e-5)


def test_one_clip_with_a_tflite_model_to_a_file(tiny, tmp_path):
    from ser_keras.export import convert_to_tflite, write_tflite_bundle

    model = write_tflite_bundle(
        convert_to_tflite(tiny.saved_model_dir, "dynamic"), tiny.saved_model_dir, "dynamic", tmp_path / "bundle"
    )
    clip = tiny.test_clips[11]
    output = tmp_path / "prediction.json"
    assert main(["--model", str(model), clip.path, "--text", clip.text, "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["label"] == tiny.label_names[int(tiny.keras_test_probabilities[11].argmax())]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_manifest_gives_a_csv_of_predictions(tiny, tmp_path):
    chosen = [0, 50, 100]
    manifest = tmp_path / "clips.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "text", "label"])
        for index in chosen:
            clip = tiny.test_clips[index]
            writer.writerow([clip.path, clip.text, tiny.label_names[clip.label_id]])
    output = tmp_path / "predictions.csv"
    assert main(["--model", str(tiny.export_dir), "--manifest", str(manifest), "--output", str(output)]) == 0
    with open(output, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["path", "text", "label", "predicted_label", *(f"p_{n}" for n in tiny.label_names)]
    expected = tiny.keras_test_probabilities[chosen]
    assert [row["predicted_label"] for row in rows] == [tiny.label_names[i] for i in expected.argmax(axis=1)]
    probabilities = np.array([[float(row[f"p_{n}"]) for n in tiny.label_names] for row in rows])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_stream_gives_a_timeline_with_transcripts_and_a_plot(tiny, tmp_path):
    from ser_keras.serving import sliding_windows

    clips = tiny.test_clips[:4]
    recording = np.concatenate([clip.waveform for clip in clips])
    soundfile.write(tmp_path / "long.wav", recording, 16000)
    boundaries = np.cumsum([0] + [len(clip.waveform) for clip in clips]) / 16000
    with open(tmp_path / "transcript.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["start", "end", "text"])
        for clip, start, end in zip(clips, boundaries[:-1], boundaries[1:], strict=True):
            writer.writerow([start, end, clip.text])
    output, plot = tmp_path / "timeline.csv", tmp_path / "timeline.png"
    status = main([
        "--model", str(tiny.export_dir), "--stream", str(tmp_path / "long.wav"),
        "--window", "2", "--hop", "1.5", "--transcripts", str(tmp_path / "transcript.csv"),
        "--output", str(output), "--plot", str(plot),
    ])
    assert status == 0
    with open(output, newline="") as stream:
        rows = list(csv.DictReader(stream))
    windows = sliding_windows(len(recording), 16000, 2.0, 1.5)
    assert len(rows) == len(windows) >= 4
    assert [float(row["start"]) for row in rows] == [round(begin / 16000, 3) for begin, _ in windows]
    assert float(rows[-1]["end"]) == pytest.approx(len(recording) / 16000, abs=1e-3)
    assert rows[0]["text"].startswith(clips[0].text)
    assert all(row["label"] in tiny.label_names for row in rows)
    assert plot.read_bytes().startswith(b"\x89PNG")


def _write_bad_inputs(tmp_path):
    (tmp_path / "garbage.wav").write_bytes(b"RIFF but not really a wav file")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    nan_samples = np.zeros(16000, np.float32)
    nan_samples[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan_samples, 16000, subtype="FLOAT")


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ("garbage.wav", "not a decodable audio file"),
        ("empty.wav", "holds no audio samples"),
        ("nan.wav", "NaN"),
        ("missing.wav", "no such file"),
    ],
)
@pytest.mark.parametrize("mode", ["clip", "stream"])
def test_bad_audio_exits_1_and_writes_nothing(tiny, tmp_path, capsys, audio, message, mode):
    _write_bad_inputs(tmp_path)
    out_dir = tmp_path / "out"
    extra = ["--stream", "--plot", str(out_dir / "t.png")] if mode == "stream" else []
    output = out_dir / ("t.csv" if mode == "stream" else "p.json")
    status = main(["--model", str(tiny.export_dir), str(tmp_path / audio), "--output", str(output), *extra])
    assert status == 1
    assert message in capsys.readouterr().err
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_a_bad_manifest_row_exits_1_and_writes_nothing(tiny, tmp_path, capsys):
    _write_bad_inputs(tmp_path)
    manifest = tmp_path / "clips.csv"
    manifest.write_text(f"path,text\n{tiny.test_clips[0].path},fine\nnan.wav,broken\n")
    output = tmp_path / "predictions.csv"
    assert main(["--model", str(tiny.export_dir), "--manifest", str(manifest), "--output", str(output)]) == 1
    assert "nan.wav" in capsys.readouterr().err
    assert not output.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clips.csv", "empty.wav", "garbage.wav", "nan.wav"]


def test_unknown_model_path_exits_1(tiny, tmp_path, capsys):
    status = main(["--model", str(tmp_path / "nowhere"), tiny.test_clips[0].path])
    assert status == 1
    assert "Cannot use model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["a.wav", "--manifest", "m.csv"],
        ["a.wav", "--plot", "p.png"],
        ["a.wav", "--output", "p.csv"],
        ["a.wav", "--stream", "--plot", "p.jpg"],
        ["a.wav", "--stream", "--hop", "0"],
    ],
)
def test_usage_errors_exit_2(arguments, capsys):
    with pytest.raises(SystemExit) as error:
        main(["--model", "m", *arguments])
    assert error.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_tensorflow_log_lines_are_hidden_unless_verbose(tmp_path):
    import os
    import re
    import subprocess
    import sys

    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "ser_keras.serving.cli", "--model", str(tmp_path / "missing"), "a.wav"]
    absl_line = re.compile(r"^[IWE]\d{4} |absl::InitializeLog", re.MULTILINE)
    quiet = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    verbose = subprocess.run([*command, "--verbose"], capture_output=True, text=True, env=environment, timeout=300)
    assert quiet.returncode == verbose.returncode == 1  # the missing model, reported either way
    assert "no such file or folder" in quiet.stderr
    assert not absl_line.search(quiet.stderr), quiet.stderr
    assert absl_line.search(verbose.stderr)  # TensorFlow's start-up lines (no GPU here) come back
