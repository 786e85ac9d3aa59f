"""Emotion over time in a long recording: sliding windows, optional transcripts, timeline files.

The recording is cut into windows of `window` seconds every `hop` seconds; a
last window, aligned to the end, covers a tail that the hops miss. Each window
is classified on its own, with the transcript segments that overlap it (from a
CSV with `start,end,text` in seconds) as its text.

Example:

>>> from ser_keras.serving import EmotionRecognizer, emotion_timeline
>>> recognizer = EmotionRecognizer.load("export/ser")  # doctest: +SKIP
>>> timeline = emotion_timeline(recognizer, "meeting.wav", window=3.0, hop=1.0)  # doctest: +SKIP
>>> [(entry.start, entry.prediction.label) for entry in timeline][:2]  # doctest: +SKIP
[(0.0, 'neutral'), (1.0, 'angry')]
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ser_keras.audio import params
from ser_keras.data.speaker_norm import BandStatistics
from ser_keras.export.atomic import atomic_write
from ser_keras.serving.outputs import output_format, write_csv, write_json
from ser_keras.serving.recognizer import EmotionRecognizer, Prediction, ServingInputError, to_waveform

logger = logging.getLogger(__name__)

TRANSCRIPT_COLUMNS = ("start", "end", "text")


@dataclasses.dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of speech and what was said, in seconds from the recording's start.

    Example:

    >>> TranscriptSegment(1.0, 2.5, "Hello there.").overlaps(2.0, 5.0)
    True
    """

    start: float
    end: float
    text: str

    def overlaps(self, start: float, end: float) -> bool:
        """Whether the segment shares some time with `[start, end)`."""
        return self.start < end and start < self.end


@dataclasses.dataclass(frozen=True)
class TimelineEntry:
    """The prediction for one window `[start, end)` (seconds) and the text it was given.

    Example:

    >>> entry = TimelineEntry(0.0, 3.0, "", Prediction("sad", 2, {"sad": 1.0}))
    >>> entry.to_row()
    {'start': 0.0, 'end': 3.0, 'label': 'sad', 'p_sad': 1.0, 'text': ''}
    """

    start: float
    end: float
    text: str
    prediction: Prediction

    def to_row(self) -> dict:
        """A flat dict: times, label, one `p_<label>` per class, text."""
        probabilities = {f"p_{name}": p for name, p in self.prediction.probabilities.items()}
        return {
            "start": self.start,
            "end": self.end,
            "label": self.prediction.label,
            **probabilities,
            "text": self.text,
        }


def read_transcript_segments(path: str | os.PathLike) -> list[TranscriptSegment]:
    """Reads timed transcripts from a CSV with columns `start,end,text` (seconds).

    Raises:
        ServingInputError: a missing file or column, or a row whose times are
            not numbers with `0 <= start < end` (the error names the line).

    Example:

    >>> read_transcript_segments("meeting_transcript.csv")[0]  # doctest: +SKIP
    TranscriptSegment(start=0.0, end=2.4, text='Good morning.')
    """
    path = Path(path)
    if not path.is_file():
        raise ServingInputError(f"Transcript file '{path}' does not exist.")
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [column for column in TRANSCRIPT_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ServingInputError(
                f"Transcript file '{path}' lacks the column(s) {missing}; "
                f"its header must name {list(TRANSCRIPT_COLUMNS)}."
            )
        segments = [_segment(row, path, reader.line_num) for row in reader]
    return sorted(segments, key=lambda segment: segment.start)


def _segment(row: dict, path: Path, line: int) -> TranscriptSegment:
    try:
        start, end = float(row["start"]), float(row["end"])
    except (TypeError, ValueError) as error:
        raise ServingInputError(
            f"{path}, line {line}: start and end must be numbers of seconds; "
            f"got {row['start']!r}, {row['end']!r}."
        ) from error
    if not (0 <= start < end) or not np.isfinite(end):
        raise ServingInputError(f"{path}, line {line}: need 0 <= start < end; got {start}, {end}.")
    return TranscriptSegment(start, end, (row["text"] or "").strip())


def window_text(segments: Sequence[TranscriptSegment], start: float, end: float) -> str:
    """The texts of the segments overlapping `[start, end)`, joined by spaces.

    Example:

    >>> window_text([TranscriptSegment(0, 1, "Hi."), TranscriptSegment(1, 2, "Bye.")], 0.5, 1.5)
    'Hi. Bye.'
    """
    return " ".join(segment.text for segment in segments if segment.overlaps(start, end) and segment.text)


def sliding_windows(num_samples: int, sample_rate: int, window: float, hop: float) -> list[tuple[int, int]]:
    """Sample ranges `[begin, end)` of the windows over a recording.

    Windows start every `hop` seconds; when the last one ends before the
    recording does, one more window is aligned to the end. A recording shorter
    than a window is one window.

    Raises:
        ServingInputError: `window` or `hop` not positive, or no samples.

    Example:

    >>> sliding_windows(10, 1, window=4, hop=3)
    [(0, 4), (3, 7), (6, 10)]
    >>> sliding_windows(11, 1, window=4, hop=3)
    [(0, 4), (3, 7), (6, 10), (7, 11)]
    """
    if not window > 0 or not hop > 0:
        raise ServingInputError(f"--window and --hop must be positive seconds; got {window} and {hop}.")
    if num_samples <= 0:
        raise ServingInputError("The recording is empty: there are no samples to classify.")
    window_samples = max(1, round(window * sample_rate))
    hop_samples = max(1, round(hop * sample_rate))
    if num_samples <= window_samples:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window_samples + 1, hop_samples))
    if starts[-1] + window_samples < num_samples:
        starts.append(num_samples - window_samples)
    return [(start, start + window_samples) for start in starts]


def emotion_timeline(
    recognizer: EmotionRecognizer,
    audio: str | os.PathLike | np.ndarray,
    window: float = 3.0,
    hop: float = 1.0,
    sample_rate: int | None = None,
    segments: Sequence[TranscriptSegment] = (),
    speaker_statistics: BandStatistics | None = None,
) -> list[TimelineEntry]:
    """Classifies sliding windows of a recording.

    Args:
        recognizer: a loaded `EmotionRecognizer`.
        audio: an audio file, or samples with `sample_rate`.
        window: window length in seconds.
        hop: seconds between window starts.
        sample_rate: the rate of array audio.
        segments: timed transcripts; each window gets the overlapping ones'
            text ("" when there are none).
        speaker_statistics: the speaker's statistics, for a speaker-normalised
            model (`EmotionRecognizer.speaker_statistics` of enrolment clips).

    Returns:
        One entry per window, in time order.

    Example:

    >>> timeline = emotion_timeline(recognizer, samples, 2.0, 0.5, sample_rate=16000)  # doctest: +SKIP
    """
    waveform = to_waveform(audio, sample_rate)
    rate = params.SAMPLE_RATE
    entries = []
    for begin, end in sliding_windows(len(waveform), rate, window, hop):
        start_s, end_s = begin / rate, end / rate
        text = window_text(segments, start_s, end_s)
        prediction = recognizer.predict(waveform[begin:end], text, sample_rate=rate, speaker_statistics=speaker_statistics)
        entries.append(TimelineEntry(round(start_s, 3), round(end_s, 3), text, prediction))
    logger.info("Classified %d windows of %.1f s.", len(entries), window)
    return entries


def write_timeline(
    entries: Sequence[TimelineEntry],
    label_names: Sequence[str],
    destination: str | os.PathLike | None,
) -> None:
    """Writes a timeline as CSV or JSON (by the file's extension; CSV to standard output).

    Example:

    >>> write_timeline(timeline, recognizer.label_names, "timeline.json")  # doctest: +SKIP
    """
    if output_format(destination, default="csv") == "csv":
        fieldnames = ["start", "end", "label", *(f"p_{name}" for name in label_names), "text"]
        write_csv([entry.to_row() for entry in entries], fieldnames, destination)
    else:
        write_json(
            {
                "label_names": list(label_names),
                "timeline": [
                    {"start": e.start, "end": e.end, "text": e.text, **e.prediction.to_dict()}
                    for e in entries
                ],
            },
            destination,
        )


def plot_timeline(
    entries: Sequence[TimelineEntry],
    label_names: Sequence[str],
    path: str | os.PathLike,
) -> None:
    """Draws each class's probability over time (window centres) into a PNG file.

    Example:

    >>> plot_timeline(timeline, recognizer.label_names, "timeline.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    if not entries:
        raise ServingInputError("The timeline is empty: nothing to plot.")
    centres = [(entry.start + entry.end) / 2 for entry in entries]
    figure, axes = pyplot.subplots(figsize=(10, 3.5))
    for name in label_names:
        axes.plot(centres, [e.prediction.probabilities[name] for e in entries], marker=".", label=name)
    axes.set_xlabel("time (s, window centre)")
    axes.set_ylabel("probability")
    axes.set_ylim(0, 1)
    axes.set_title(f"Emotion timeline ({entries[0].end - entries[0].start:.1f} s windows)")
    axes.legend(loc="upper right", ncol=len(label_names))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    with atomic_write(path, "wb") as stream:
        stream.write(buffer.getvalue())
