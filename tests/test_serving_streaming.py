"""Sliding windows, timed transcripts and timeline files, with a stand-in backend of known behaviour."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ser_keras.serving import (
    EmotionRecognizer,
    ServingInputError,
    TranscriptSegment,
    emotion_timeline,
    plot_timeline,
    read_transcript_segments,
    sliding_windows,
    write_timeline,
)

LABELS = ["angry", "happy", "sad", "neutral"]


class LoudnessBackend:
    """'angry' when the window is loud, 'sad' when quiet; records the texts it was given."""

    kind = "stand_in"
    label_names = LABELS
    input_names = ["token_ids", "segment_ids", "padding_mask", "audio_patches", "audio_mask"]

    def __init__(self):
        self.calls: list[tuple[int, str]] = []

    def probabilities(self, waveform: np.ndarray, text: str, speaker_statistics=None) -> np.ndarray:
        self.calls.append((len(waveform), text))
        loud = float(np.sqrt(np.mean(waveform**2)) > 0.1)
        return np.array([0.7 * loud + 0.1, 0.1, 0.7 * (1 - loud) + 0.1, 0.1], np.float32)


def quiet_loud_quiet() -> np.ndarray:
    """2 s quiet, 2 s loud, 2 s quiet noise at 16 kHz."""
    rng = np.random.default_rng(0)
    gains = np.repeat([0.01, 0.5, 0.01], 32_000)
    return (gains * rng.standard_normal(gains.size)).astype(np.float32)


@pytest.mark.parametrize(
    ("num_samples", "window", "hop", "expected"),
    [
        (10, 4, 3, [(0, 4), (3, 7), (6, 10)]),
        (11, 4, 3, [(0, 4), (3, 7), (6, 10), (7, 11)]),
        (3, 4, 1, [(0, 3)]),
        (8, 2, 4, [(0, 2), (4, 6), (6, 8)]),
    ],
)
def test_sliding_windows_cover_the_recording(num_samples, window, hop, expected):
    assert sliding_windows(num_samples, 1, window, hop) == expected


def test_sliding_windows_reject_bad_settings():
    with pytest.raises(ServingInputError, match="positive"):
        sliding_windows(100, 16000, 0.0, 1.0)
    with pytest.raises(ServingInputError, match="empty"):
        sliding_windows(0, 16000, 1.0, 1.0)


def test_transcripts_are_read_sorted_and_checked(tmp_path):
    path = tmp_path / "transcript.csv"
    path.write_text("start,end,text\n2.5,4,And then?\n0,2.5,Hello there.\n")
    assert read_transcript_segments(path) == [
        TranscriptSegment(0.0, 2.5, "Hello there."),
        TranscriptSegment(2.5, 4.0, "And then?"),
    ]
    path.write_text("start,end,text\n0,1,ok\n1,x,bad\n")
    with pytest.raises(ServingInputError, match="line 3"):
        read_transcript_segments(path)
    path.write_text("start,end,text\n2,1,backwards\n")
    with pytest.raises(ServingInputError, match="start < end"):
        read_transcript_segments(path)
    path.write_text("begin,text\n0,hi\n")
    with pytest.raises(ServingInputError, match=r"\['end', 'start'\]|\['start', 'end'\]"):
        read_transcript_segments(path)
    with pytest.raises(ServingInputError, match="does not exist"):
        read_transcript_segments(tmp_path / "none.csv")


def test_timeline_follows_the_signal_and_gets_window_texts():
    backend = LoudnessBackend()
    segments = [TranscriptSegment(0.0, 1.5, "first"), TranscriptSegment(3.0, 6.0, "second")]
    timeline = emotion_timeline(
        EmotionRecognizer(backend), quiet_loud_quiet(), window=1.0, hop=1.0,
        sample_rate=16000, segments=segments,
    )
    assert [(entry.start, entry.end) for entry in timeline] == [(float(t), float(t + 1)) for t in range(6)]
    assert [entry.prediction.label for entry in timeline] == ["sad", "sad", "angry", "angry", "sad", "sad"]
    assert [entry.text for entry in timeline] == ["first", "first", "", "second", "second", "second"]
    assert all(length == 16000 for length, _ in backend.calls)


def test_timeline_resamples_array_audio():
    backend = LoudnessBackend()
    waveform_8k = quiet_loud_quiet()[::2]
    timeline = emotion_timeline(EmotionRecognizer(backend), waveform_8k, 2.0, 2.0, sample_rate=8000)
    assert [entry.prediction.label for entry in timeline] == ["sad", "angry", "sad"]
    assert [length for length, _ in backend.calls] == [32000, 32000, 32000]


def test_timeline_files_and_plot(tmp_path):
    from matplotlib import image

    timeline = emotion_timeline(EmotionRecognizer(LoudnessBackend()), quiet_loud_quiet(), 2.0, 1.0, 16000)
    write_timeline(timeline, LABELS, tmp_path / "timeline.csv")
    with open(tmp_path / "timeline.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["start", "end", "label", "p_angry", "p_happy", "p_sad", "p_neutral", "text"]
    assert [row["label"] for row in rows] == [entry.prediction.label for entry in timeline]
    assert float(rows[2]["p_angry"]) == pytest.approx(0.8)

    write_timeline(timeline, LABELS, tmp_path / "timeline.json")
    document = json.loads((tmp_path / "timeline.json").read_text())
    assert document["label_names"] == LABELS
    assert [item["start"] for item in document["timeline"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert document["timeline"][2]["probabilities"]["angry"] == pytest.approx(0.8)

    plot_timeline(timeline, LABELS, tmp_path / "timeline.png")
    pixels = image.imread(tmp_path / "timeline.png")
    assert pixels.shape[:2] == (350, 1000)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["timeline.csv", "timeline.json", "timeline.png"]


def test_a_failed_write_leaves_no_file(tmp_path):
    timeline = emotion_timeline(EmotionRecognizer(LoudnessBackend()), quiet_loud_quiet(), 2.0, 2.0, 16000)
    with pytest.raises(ValueError, match=".csv or .json"):
        write_timeline(timeline, LABELS, tmp_path / "timeline.txt")
    with pytest.raises(ValueError, match="not in fieldnames"):  # fails after the header is written
        write_timeline(timeline, ["angry", "calm"], tmp_path / "timeline.csv")
    assert list(tmp_path.iterdir()) == []
