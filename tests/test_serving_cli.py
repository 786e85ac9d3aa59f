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


def test_a_speaker_normalised_model_enrols_each_speakers_first_clips_as_its_job_did(tiny, tmp_path):
    """With a `speaker` column, each speaker's first k clips by utterance id give its statistics and are marked
    as enrolment; `--speaker-clips` gives a single clip the statistics of the named clips."""
    from pathlib import Path

    from ser_keras.data.speaker_norm import BandStatistics
    from ser_keras.export import export_model
    from ser_keras.serving import EmotionRecognizer

    export_dir = tmp_path / "normalised"
    export_model(tiny.model, tiny.preprocessor, tiny.label_names, export_dir,
                 speaker_reference=BandStatistics(np.full(64, -1.0), np.full(64, 2.0)), enrolment_clips=2)
    recognizer = EmotionRecognizer.load(export_dir)
    clips = {"b": tiny.test_clips[70:73], "a": tiny.test_clips[0:2]}  # manifest order is not the enrolment order
    manifest = tmp_path / "clips.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "text", "speaker"])
        for speaker, chosen in clips.items():
            writer.writerows([clip.path, clip.text, speaker] for clip in reversed(chosen))
    output = tmp_path / "predictions.csv"
    assert main(["--model", str(export_dir), "--manifest", str(manifest), "--output", str(output)]) == 0
    with open(output, newline="") as stream:
        rows = list(csv.DictReader(stream))
    enrolled = {row["path"] for row in rows if row["enrolment"] == "1"}
    expected_enrolment = {speaker: sorted(chosen, key=lambda clip: Path(clip.path).stem)[:2] for speaker, chosen in clips.items()}
    assert enrolled == {clip.path for chosen in expected_enrolment.values() for clip in chosen}
    for row in rows:
        statistics = recognizer.speaker_statistics([clip.path for clip in expected_enrolment[row["speaker"]]])
        expected = recognizer.predict(row["path"], row["text"], speaker_statistics=statistics)
        assert row["predicted_label"] == expected.label
        np.testing.assert_allclose(float(row[f"p_{expected.label}"]), expected.probabilities[expected.label], atol=1e-6)

    clip, speaker_clips = clips["b"][2], [clip.path for clip in clips["b"][:2]]
    single = tmp_path / "single.json"
    assert main(["--model", str(export_dir), clip.path, "--text", clip.text, "--speaker-clips", *speaker_clips,
                 "--output", str(single)]) == 0
    expected = recognizer.predict(clip.path, clip.text, speaker_statistics=recognizer.speaker_statistics(speaker_clips))
    without = recognizer.predict(clip.path, clip.text)
    result = json.loads(single.read_text())["probabilities"]
    np.testing.assert_allclose([result[n] for n in tiny.label_names], list(expected.probabilities.values()), atol=1e-6)
    assert not np.allclose(list(expected.probabilities.values()), list(without.probabilities.values()), atol=1e-3)


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
