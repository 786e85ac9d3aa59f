"""Benchmarks of the 3M-SER teacher and students.

    python training_scripts/benchmark.py                    # everything, demo corpus, MiniLM (~15 min on 2 cores)
    python training_scripts/benchmark.py --quick            # a smoke run in a few minutes
    python training_scripts/benchmark.py --results saved_models/demo/results.json   # + accuracy vs latency
    python training_scripts/benchmark.py --report saved_models/benchmark/benchmark.json \
        --results saved_models/demo/results.json   # add accuracy to a saved benchmark, no measuring
    python training_scripts/benchmark.py --text-preset bert_base_en_uncased --layers 12 6 4 2   # the paper's models
    python training_scripts/benchmark.py --params           # Table I, markdown
    python training_scripts/benchmark.py --params --json    # exact counts, JSON
    python training_scripts/benchmark.py --corpus-scale     # stage-1/2 throughput, IEMOCAP-sized synthetic corpus

The benchmark measures the teacher and every student (default: the main job's,
MiniLM with 6 layers and students of 4, 2 and 1) on real clips of the test
split: inference time per sample (batch 1, warm, median of --repeats runs)
through Keras (tf.function), Keras with XLA, the exported SavedModel and TFLite
fp32/fp16/dynamic/int8, the student/teacher ratio, throughput at batch 32, peak
memory, analytic FLOPs and achieved GFLOP/s, the time of the audio and text
branches, and the seconds per training epoch of stage 1 (with and without the
encoder-output cache) and stage 2. Models have random weights unless the
preset has pretrained ones (latency does not depend on them); --results adds
a trained run's test accuracy to the report and the plot. Writes benchmark.md,
benchmark.json and benchmark.png to --output-dir.

`--params` counts parameters per component (BERT embeddings, transformer layers,
pooler, VGGish, fusion head) for the teacher and each student. By default it
uses the `bert_base_en_uncased` architecture with random weights (nothing is
downloaded) and prints the paper's "Total Params" beside the reproduced figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ser_keras.tensorflow_logs import add_verbose_flag, quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)

ALL_BACKENDS = ("keras", "keras_xla", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8")
DEFAULTS = dict(
    repeats=50, latency_clips=50, throughput_repeats=1, calibration_clips=8, training_steps=3,
    memory_backends=["keras", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8"],
)
QUICK = dict(
    repeats=10, latency_clips=10, throughput_repeats=1, calibration_clips=2, training_steps=1,
    memory_backends=["tflite_dynamic"],
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", action="store_true", help="print the parameter table (Table I) and exit")
    parser.add_argument("--json", action="store_true", help="with --params: print JSON instead of markdown")
    parser.add_argument(
        "--corpus-scale", action="store_true",
        help="time stage 1 (the job's cached pipeline vs in-memory arrays) and stage 2 on a synthetic "
        "IEMOCAP-sized corpus (4,479 training utterances), print the table and exit",
    )

    models = parser.add_argument_group("models")
    models.add_argument(
        "--text-preset",
        default=None,
        help="teacher BERT: default the offline MiniLM (--params: bert_base_en_uncased); bert_base_en_uncased "
        "builds the paper's architecture with random weights, no download",
    )
    models.add_argument(
        "--layers", type=int, nargs="+", default=None,
        help="text layers of the teacher then each student (default: all of the preset's then 4 2 1; "
        "--params: 12 6 4 2)",
    )
    models.add_argument(
        "--compact", nargs="*", choices=("compact", "audio-compact"), default=None,
        help="also measure the compact students (narrow BERT + compact audio CNN; the audio CNN alone) "
        "beside the teacher, with the compact audio CNN instead of VGGish (default: both; none: skip)",
    )
    models.add_argument("--vggish-weights", default=None, help="VGGish weights (default: random)")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=("demo", "iemocap", "manifest"), default="demo", help="(default: %(default)s)")
    data.add_argument("--data-dir", help="the unpacked IEMOCAP_full_release directory")
    data.add_argument("--manifest", help="a manifest CSV")
    data.add_argument("--sequence-length", type=int, default=48, help="tokens per transcript (default: %(default)s)")

    measure = parser.add_argument_group("measurements")
    measure.add_argument("--backends", nargs="+", choices=ALL_BACKENDS, default=list(ALL_BACKENDS),
                         help="runtimes to measure (default: all)")
    measure.add_argument("--repeats", type=int, help="timed batch-1 runs per model and backend (default: 50)")
    measure.add_argument("--latency-clips", type=int, help="distinct test clips the runs cycle through (default: 50)")
    measure.add_argument("--throughput-batch-size", type=int, default=32, help="(default: %(default)s; 0: skip)")
    measure.add_argument("--throughput-repeats", type=int, help="timed batches per backend, after one untimed (default: 1)")
    measure.add_argument("--memory-backends", nargs="*", choices=ALL_BACKENDS,
                         help="backends whose peak memory is measured in a fresh process "
                         "(default: keras and the tflite ones; none: skip)")
    measure.add_argument("--calibration-clips", type=int, help="training clips calibrating tflite_int8 (default: 8)")
    measure.add_argument("--tflite-threads", type=int, help="LiteRT interpreter threads (default: LiteRT's own choice)")
    measure.add_argument("--training-steps", type=int, help="timed steps per training stage (default: 3; 0: skip)")
    measure.add_argument("--recipe", choices=("demo", "paper"), default="demo",
                         help="recipe whose batch size and optimisers are timed (default: %(default)s)")
    measure.add_argument("--training-models", nargs="+",
                         help="models whose training cost is measured: teacher, student_k<layers>, or all "
                         "(default: the teacher and the smallest student)")
    measure.add_argument("--training-batch-size", type=int, help="override the recipe's batch size (demo: 32)")
    measure.add_argument("--quick", action="store_true",
                         help="smoke run: teacher and the smallest student, 10 runs, fewer extras")

    output = parser.add_argument_group("output")
    output.add_argument("--results", help="a trained run's results.json: test accuracy for the table and plot")
    output.add_argument("--report", help="re-render this saved benchmark.json (with --results: add accuracy) "
                        "into --output-dir instead of measuring")
    output.add_argument("--plot-backend", default="keras", choices=ALL_BACKENDS,
                        help="latency used in the accuracy plot (default: %(default)s)")
    output.add_argument("--output-dir", default=os.path.join("saved_models", "benchmark"), help="(default: %(default)s)")
    output.add_argument("--keep-exports", action="store_true", help="keep SavedModels and TFLite files in --output-dir/exports")
    output.add_argument("--note", default="", help="free text shown in the report (e.g. the machine was shared)")
    add_verbose_flag(output)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def training_models(names: list[str] | None, student_layers: tuple[int, ...]) -> tuple[str, ...] | None:
    """The models whose training cost is timed (`None`: all of them).

    By default the teacher and the smallest student: the students in between cost in
    between (the cost grows with the BERT layers), and timing every model would take the
    default run past 15 minutes on 2 CPU cores. `--training-models all` times every model.

    Example:

    >>> training_models(None, (4, 2, 1))
    ('teacher', 'student_k1')
    >>> training_models(["all"], (4, 2, 1)) is None
    True
    """
    if names == ["all"]:
        return None
    if names:
        return tuple(names)
    return ("teacher", *([f"student_k{min(student_layers)}"] if student_layers else []))


def benchmark_config(args: argparse.Namespace):
    """The library's BenchmarkConfig for parsed flags."""
    from ser_keras.benchmarks.suite import BenchmarkConfig

    teacher_layers, student_layers = None, (4, 2, 1)
    if args.layers:
        teacher_layers, student_layers = args.layers[0], tuple(args.layers[1:])
    if args.quick:
        student_layers = student_layers[-1:]
    return BenchmarkConfig(
        text_preset=args.text_preset,
        teacher_layers=teacher_layers,
        student_layers=student_layers,
        compact_students=tuple(("compact", "audio-compact") if args.compact is None else args.compact),
        vggish_weights=args.vggish_weights,
        dataset=args.dataset,
        data_dir=args.data_dir,
        manifest=args.manifest,
        sequence_length=args.sequence_length,
        backends=tuple(args.backends),
        repeats=args.repeats,
        latency_clips=args.latency_clips,
        throughput_batch_size=args.throughput_batch_size,
        throughput_repeats=args.throughput_repeats,
        memory_backends=tuple(name for name in args.memory_backends if name in args.backends),
        calibration_clips=args.calibration_clips,
        tflite_threads=args.tflite_threads,
        training_steps=args.training_steps,
        recipe=args.recipe,
        training_batch_size=args.training_batch_size,
        training_models=training_models(args.training_models, student_layers),
        results=args.results,
        plot_backend=args.plot_backend,
        output_dir=args.output_dir,
        keep_exports=args.keep_exports,
        note=args.note,
    )


def print_parameter_table(args: argparse.Namespace) -> None:
    from ser_keras.models.params import parameter_table, parameter_table_json, parameter_table_markdown

    text_encoder = None
    if args.text_preset is not None:
        from ser_keras.text import load_text_encoder

        text_encoder = load_text_encoder(args.text_preset, load_weights=False)
    rows = parameter_table(text_encoder, layer_counts=args.layers)
    print(parameter_table_json(rows) if args.json else parameter_table_markdown(rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.params:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        print_parameter_table(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.corpus_scale:
        from ser_keras.benchmarks.corpus_scale import corpus_scale_markdown, run_corpus_scale_benchmark
        from ser_keras.config import get_recipe

        overrides = {"batch_size": args.training_batch_size} if args.training_batch_size else {}
        figures = run_corpus_scale_benchmark(get_recipe(args.recipe, **overrides), text_preset=args.text_preset,
                                             stage2_steps=args.training_steps * 5)
        print(corpus_scale_markdown(figures))
        return 0
    if args.plot_backend not in args.backends:
        args.plot_backend = args.backends[0]
    try:
        config = benchmark_config(args)
    except ValueError as error:
        logging.error("%s", error)
        return 2

    from ser_keras.benchmarks.report import benchmark_markdown

    if args.report:
        try:
            report, paths = rerender_report(args.report, args.results, args.output_dir)
        except ValueError as error:
            logging.error("%s", error)
            return 2
    else:
        from ser_keras.benchmarks.suite import run_benchmark

        outputs = run_benchmark(config)
        report, paths = outputs.report, outputs.paths
    print(benchmark_markdown(report))
    print(f"Written: {paths['markdown']}\n         {paths['json']}\n         {paths['png']}")
    return 0


def rerender_report(report_path: str, results_path: str | None, output_dir: str) -> tuple[dict, dict[str, str]]:
    """Loads a saved benchmark.json, attaches a run's test scores if given, and writes the report again."""
    from ser_keras.benchmarks.report import accuracy_from_results, attach_accuracy, load_report, save_report

    report = load_report(report_path)
    if results_path:
        attach_accuracy(report, accuracy_from_results(results_path), results_path)
    return report, save_report(report, output_dir)


if __name__ == "__main__":
    sys.exit(main())
