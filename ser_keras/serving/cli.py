"""`ser-predict`: emotions of a clip, of a list of clips, or over time in a long recording.

Usage:

    ser-predict --model export/ser clip.wav --text "I can't believe it!"       # JSON
    ser-predict --model export/ser --manifest clips.csv --output predictions.csv
    ser-predict --model export/ser clip.wav --speaker-clips spk_a.wav spk_b.wav spk_c.wav
    ser-predict --model export/ser --stream meeting.wav --window 3 --hop 1 \\
        --transcripts meeting_transcript.csv --output timeline.csv --plot timeline.png

`--model` takes an export folder, a SavedModel version folder or a `.tflite`
file of a TFLite bundle. A speaker-normalised model takes its speaker's
statistics from `--speaker-clips` (single clips and `--stream`) or from the
manifest's `speaker` column (each speaker's enrolment clips, drawn as the job
drew them; `ser_keras.serving.manifest`). Results go to `--output` (written atomically: a failed
run leaves no file) or to standard output. Bad input (an unreadable or empty
file, NaN samples, an unknown model path, ...) prints one error line and exits
with status 1; usage errors exit with status 2.

Example:

>>> main(["--model", "export/ser", "clip.wav", "--text", "Hello."])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ser_keras.tensorflow_logs import quiet_tensorflow_logs

logger = logging.getLogger(__name__)

PROGRAM = "ser-predict"


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of `ser-predict`.

    Example:

    >>> build_parser().parse_args(["--model", "m", "a.wav"]).audio
    'a.wav'
    """
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Speech emotion recognition with an exported ser-keras model "
        "(SavedModel or TFLite).",
    )
    parser.add_argument("--model", required=True, help="export folder, SavedModel folder or .tflite file")
    parser.add_argument(
        "audio", nargs="?",
        help="an audio file (a long recording with --stream); leave it out for a text-only model",
    )
    parser.add_argument("--text", default="", help="the clip's transcript (single-clip mode)")
    parser.add_argument(
        "--manifest",
        help="CSV of clips: 'path' (relative to the CSV; may be empty for a text-only model), optional 'text'",
    )
    parser.add_argument(
        "--speaker-clips", nargs="+", metavar="FILE",
        help="clips of the speaker (a speaker-normalised model): their statistics normalise AUDIO or --stream",
    )
    parser.add_argument(
        "--enrolment-clips", type=int, metavar="K",
        help="with --manifest: enrolment clips per speaker (default: the model's, from its job)",
    )
    parser.add_argument("--stream", action="store_true", help="classify sliding windows of AUDIO")
    parser.add_argument("--window", type=float, default=3.0, help="window length in seconds (--stream)")
    parser.add_argument("--hop", type=float, default=1.0, help="seconds between windows (--stream)")
    parser.add_argument("--transcripts", help="CSV with start,end,text (seconds) for --stream windows")
    parser.add_argument("--plot", help="PNG file of the --stream timeline")
    parser.add_argument("--output", help="output file (.json or .csv); default: standard output")
    parser.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads")
    parser.add_argument("--verbose", action="store_true",
                        help="log progress, and TensorFlow's own log lines, to standard error")
    return parser


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.manifest and (args.audio or args.stream):
        parser.error("give either --manifest or an audio file, not both.")
    if not args.manifest and not args.audio and not args.text:
        parser.error("give an audio file (optionally with --stream), --text alone (a text-only model) or --manifest.")
    if args.stream and not args.audio:
        parser.error("--stream classifies windows of an audio file: give one.")
    if not args.stream and (args.transcripts or args.plot):
        parser.error("--transcripts and --plot go with --stream.")
    if args.speaker_clips and args.manifest:
        parser.error("--speaker-clips is for one clip or --stream; a manifest takes speakers from its 'speaker' column.")
    if args.enrolment_clips is not None and (not args.manifest or args.enrolment_clips < 0):
        parser.error("--enrolment-clips K (0 or more) goes with --manifest.")
    if args.manifest and args.text:
        parser.error("--text is for one clip; a manifest takes texts from its 'text' column.")
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        parser.error(f"--plot must name a .png file; got '{args.plot}'.")
    if args.output and Path(args.output).suffix.lower() not in (".csv", ".json"):
        parser.error(f"--output must end in .csv or .json; got '{args.output}'.")
    if args.output and not args.manifest and not args.stream and Path(args.output).suffix.lower() != ".json":
        parser.error("a single clip's prediction is JSON: --output must end in .json.")
    if args.stream and not (args.window > 0 and args.hop > 0):
        parser.error(f"--window and --hop must be positive seconds; got {args.window} and {args.hop}.")


def _speaker_statistics(recognizer, args: argparse.Namespace):
    """The statistics of `--speaker-clips` (`None` without them)."""
    if not args.speaker_clips:
        return None
    return recognizer.speaker_statistics(args.speaker_clips, max_patches=recognizer.max_patches)


def _predict_clip(recognizer, args: argparse.Namespace) -> None:
    from ser_keras.serving.outputs import write_json

    prediction = recognizer.predict(args.audio, args.text, speaker_statistics=_speaker_statistics(recognizer, args))
    write_json({"audio": args.audio, "text": args.text, **prediction.to_dict()}, args.output)


def _predict_manifest(recognizer, args: argparse.Namespace) -> None:
    from ser_keras.serving.manifest import ENROLMENT_COLUMN, PREDICTION_COLUMN, predict_clip_list, read_clip_list
    from ser_keras.serving.outputs import output_format, write_csv, write_json

    rows = read_clip_list(args.manifest, require_audio="audio" in recognizer.modalities)
    results = predict_clip_list(recognizer, rows, enrolment_clips=args.enrolment_clips)
    if output_format(args.output, default="csv") == "json":
        write_json(results, args.output)
    else:
        added = [PREDICTION_COLUMN, *(name for name in (ENROLMENT_COLUMN,) if name in results[0])]
        fieldnames = [*(c for c in rows[0] if c not in added), *added, *(f"p_{n}" for n in recognizer.label_names)]
        write_csv(results, fieldnames, args.output)


def _predict_stream(recognizer, args: argparse.Namespace) -> None:
    from ser_keras.serving.streaming import (
        emotion_timeline,
        plot_timeline,
        read_transcript_segments,
        write_timeline,
    )

    segments = read_transcript_segments(args.transcripts) if args.transcripts else ()
    timeline = emotion_timeline(
        recognizer, args.audio, args.window, args.hop, segments=segments,
        speaker_statistics=_speaker_statistics(recognizer, args),
    )
    write_timeline(timeline, recognizer.label_names, args.output)
    if args.plot:
        plot_timeline(timeline, recognizer.label_names, args.plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `ser-predict`; returns the exit status (0 ok, 1 bad input; usage errors exit 2).

    Example:

    >>> main(["--model", "export/ser", "--manifest", "clips.csv", "--output", "out.csv"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(parser, args)
    quiet_tensorflow_logs(["--verbose"] if args.verbose else [])  # before TensorFlow loads
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format=f"{PROGRAM}: %(levelname)s: %(message)s",
    )

    import tensorflow as tf

    from ser_keras.serving.recognizer import EmotionRecognizer

    try:
        recognizer = EmotionRecognizer.load(args.model, num_threads=args.threads)
        if args.manifest:
            _predict_manifest(recognizer, args)
        elif args.stream:
            _predict_stream(recognizer, args)
        else:
            _predict_clip(recognizer, args)
    except (OSError, ValueError, tf.errors.InvalidArgumentError) as error:
        if args.verbose:
            logger.exception("Failed.")
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
