"""Converts an exported ser-keras model to TFLite (LiteRT) and reports size, latency and parity.

    python tflite_export/convert.py --model saved_models/demo/export/student --quantize int8
    python tflite_export/convert.py --model checkpoints/student.keras \
        --labels angry,happy,sad,neutral --text-preset bert_base_en_uncased --sequence-length 48

`--model` is an export folder (its highest version) or a SavedModel version
folder written by `ser_keras.export.export_model`, or a bare Keras model file
(`.keras`, e.g. an export's `assets.extra/model.keras`). A `.keras` file takes
its label names and text preprocessor from `--labels`, `--text-preset` and
`--sequence-length`, or else from the export side files beside it
(`metadata.json`, `preprocessor/`). The TFLite model takes token ids, masks and
log-mel patches (tokenization runs outside TFLite); it is written with the
metadata and text preprocessor into a bundle folder (default
`<export folder>/tflite/<version>/`, or `<folder of the .keras>/tflite/<stem>/`)
that `ser-predict --model <file>.tflite` and `ser_keras.serving.EmotionRecognizer` load.

`int8` calibrates on clips of the training split of `--manifest` (default: the
demo corpus) and keeps the text encoder in float32 (`--int8-text float`; the
audio branch and fusion head are int8); `--int8-text int8` quantizes it too,
for the smallest file. The bundle's metadata.json records what stayed float32.
Size, batch-1 latency (median of warm runs) and agreement with the SavedModel
are measured on clips of the test split.

Bad input (a missing or unreadable model, a `.keras` file without label names
or text preprocessor) prints an error and exits with status 2, writing nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from ser_keras.tensorflow_logs import add_verbose_flag, quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)

from ser_keras.audio import load_audio  # noqa: E402
from ser_keras.data import read_manifest
from ser_keras.export import (
    INT8_TEXT_MODES,
    QUANTIZATION_MODES,
    ModelPathError,
    TFLiteModel,
    clip_model_inputs,
    compare_predictions,
    convert_to_tflite,
    export_keras_model_file,
    find_saved_model,
    int8_float_part,
    is_keras_model_file,
    keras_bundle_dir,
    load_export_preprocessor,
    load_tokens_signature,
    read_metadata,
    representative_inputs,
    side_files_dir,
    write_tflite_bundle,
)
from ser_keras.latency import measure_latency

DEMO_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "demo" / "manifest.csv"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="export folder, SavedModel version folder or .keras file")
    add_verbose_flag(parser)
    parser.add_argument(
        "--quantize", default="none", choices=[*QUANTIZATION_MODES, "all"], help="variant (all: every one)"
    )
    parser.add_argument(
        "--output", help="bundle folder (default <export folder>/tflite/<version>, <.keras folder>/tflite/<stem>)"
    )
    parser.add_argument("--manifest", default=str(DEMO_MANIFEST), help="clips for calibration and checks")
    parser.add_argument("--calibration-clips", type=int, default=100, help="training clips for int8")
    parser.add_argument(
        "--int8-text", default="float", choices=INT8_TEXT_MODES,
        help="int8: keep the text encoder in float32 (float, closer to the float model) or quantize it (int8, smaller)",
    )
    parser.add_argument("--eval-clips", type=int, default=50, help="test clips for latency and parity (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="which clips are drawn")
    keras_file = parser.add_argument_group(
        "a .keras --model", "(default: from metadata.json and preprocessor/ beside the file)"
    )
    keras_file.add_argument("--labels", type=label_list, help="class names in logit order, comma-separated")
    keras_file.add_argument("--text-preset", help="text-encoder preset the model was trained with")
    keras_file.add_argument("--sequence-length", type=int, help="tokens per transcript (with --text-preset)")
    return parser.parse_args(argv)


def label_list(value: str) -> list[str]:
    """`--labels angry,happy,sad,neutral` as a list; empty names are refused."""
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty label name in {value!r}; use e.g. angry,happy,sad,neutral")
    return names


def split_or_all(utterances, split: str):
    """The utterances of `split`, or all of them when the manifest has no such split."""
    chosen = [item for item in utterances if item.split == split]
    return chosen or list(utterances)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        with tempfile.TemporaryDirectory(prefix="ser_tflite_") as scratch:
            if is_keras_model_file(args.model):
                saved_model_dir = export_keras_model_file(
                    args.model,
                    Path(scratch) / "export",
                    label_names=args.labels,
                    text_preset=args.text_preset,
                    sequence_length=args.sequence_length,
                )
                output = args.output or keras_bundle_dir(args.model)
            else:
                if args.labels or args.text_preset or args.sequence_length:
                    raise ValueError(
                        "--labels, --text-preset and --sequence-length apply to a .keras --model only; "
                        "an export carries its own."
                    )
                saved_model_dir, output = find_saved_model(args.model), args.output
            convert(args, saved_model_dir, output)
    except (ModelPathError, ValueError) as error:
        print(f"convert.py: error: {error}", file=sys.stderr)
        return 2
    return 0


def convert(args: argparse.Namespace, saved_model_dir: Path, output: str | Path | None) -> None:
    """Converts the SavedModel to each variant asked for, printing size, latency and parity."""
    side_files = side_files_dir(saved_model_dir)
    metadata = read_metadata(side_files)
    modes = QUANTIZATION_MODES if args.quantize == "all" else (args.quantize,)
    has_text = "token_ids" in metadata["input_names"]
    preprocessor = load_export_preprocessor(side_files) if has_text else None
    needs_data = "int8" in modes or args.eval_clips > 0
    corpus = read_manifest(args.manifest, label_names=metadata["label_names"]) if needs_data else None
    input_options = {"input_names": metadata["input_names"], "max_patches": metadata["max_patches"]}

    calibration = None
    if "int8" in modes:
        train = split_or_all(corpus.utterances, "train")
        calibration = representative_inputs(
            train, preprocessor, limit=args.calibration_clips, seed=args.seed, **input_options
        )
    evaluation = []
    if args.eval_clips > 0:
        test = split_or_all(corpus.utterances, "test")[: args.eval_clips]
        evaluation = [
            clip_model_inputs(preprocessor, load_audio(item.audio_path), item.text, **input_options)
            for item in test
        ]
    reference = load_tokens_signature(saved_model_dir) if evaluation else None

    for quantize in modes:
        content = convert_to_tflite(saved_model_dir, quantize, calibration, int8_text=args.int8_text)
        conversion = int8_float_part(saved_model_dir, args.int8_text) if quantize == "int8" else None
        path = write_tflite_bundle(content, saved_model_dir, quantize, output, conversion)
        print(f"{path}: {len(content) / 1e6:.2f} MB ({quantize})")
        if conversion:
            print(f"  kept in float32: layers {conversion['float_layers']}, ops {conversion['float_ops']}")
        if evaluation:
            model = TFLiteModel(content)
            latency = measure_latency(model, evaluation, warmup=3, repeats=len(evaluation))
            parity = compare_predictions(model, reference, evaluation)
            print(
                f"  latency (batch 1, median of {len(evaluation)}): {latency['median_ms']:.2f} ms; "
                f"vs SavedModel on {len(evaluation)} test clips: same class "
                f"{100 * parity['agreement']:.1f}%, max |dp| {parity['max_abs_diff']:.2e}"
            )


if __name__ == "__main__":
    sys.exit(main())
