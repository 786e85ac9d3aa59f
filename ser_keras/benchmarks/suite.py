"""The whole benchmark: every model through every backend, FLOPs, branch split, training cost, report.

`run_benchmark(BenchmarkConfig())` measures the teacher and the students of
the main job (MiniLM preset; teacher 6 layers, students 4, 2, 1) on the demo
corpus's test clips and writes `benchmark.md`, `benchmark.json` and
`benchmark.png`. Exports and TFLite files go to a temporary folder, removed at
the end unless `keep_exports`.

Example:

>>> outputs = run_benchmark(BenchmarkConfig(student_layers=(2,), repeats=10))  # doctest: +SKIP
>>> outputs.paths["markdown"]  # doctest: +SKIP
'saved_models/benchmark/benchmark.md'
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio.params import DEFAULT_MAX_PATCHES
from ser_keras.benchmarks.backends import BACKENDS, TFLITE_BACKENDS, ModelArtifacts, check_backends, make_predictor
from ser_keras.benchmarks.clips import batch_of, load_clips
from ser_keras.benchmarks.flops import dense_and_conv_flops, model_flops
from ser_keras.benchmarks.inference import audio_branch_latency, text_branch_latency, throughput
from ser_keras.benchmarks.memory import peak_memory
from ser_keras.benchmarks.models import BenchmarkModel, benchmark_preprocessor, build_benchmark_models
from ser_keras.benchmarks.report import accuracy_from_results, attach_accuracy, save_report
from ser_keras.benchmarks.training_cost import measure_training_cost, prepare_training_clips
from ser_keras.config import get_recipe
from ser_keras.export import representative_inputs
from ser_keras.latency import measure_latency
from ser_keras.models import component_parameters, parameter_table

logger = logging.getLogger(__name__)

#: Backends whose peak memory is measured by default (the cheap workers, and Keras as the reference).
DEFAULT_MEMORY_BACKENDS: tuple[str, ...] = ("keras", *TFLITE_BACKENDS)


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to benchmark, on which clips, and how long to measure.

    Args:
        text_preset: the teacher's BERT (`None`: offline MiniLM;
            `"bert_base_en_uncased"`: the paper's, random weights).
        teacher_layers: the teacher's layers (`None`: all).
        student_layers: each student's layers.
        compact_students: named compact students (`compact`, `audio-compact`),
            measured with the compact audio CNN instead of VGGish.
        vggish_weights: VGGish weights (`None`: random; latency does not depend on them).
        dataset, data_dir, manifest: the corpus, as for the distillation job.
        sequence_length: tokens per transcript (padded).
        max_patches: cap on audio patches per clip.
        backends: the runtimes to measure (`BACKENDS`).
        repeats: timed batch-1 runs per model and backend (the paper: >= 50).
        warmup: untimed batch-1 runs after every input shape was seen once.
        latency_clips: distinct test clips that the timed runs cycle through.
        throughput_batch_size: clips per batch for the throughput figure (0: skip).
        throughput_repeats: timed batches (after one untimed).
        memory_backends: backends whose peak memory is measured in a subprocess.
        calibration_clips: training clips that calibrate `tflite_int8`.
        tflite_threads: LiteRT interpreter threads (`None`: LiteRT's own default).
        training_steps: timed steps per training stage (0: skip the training cost).
        training_warmup: untimed first steps per stage.
        recipe: the recipe whose batch size and optimisers are timed.
        training_batch_size: overrides the recipe's batch size.
        training_models: keys of the models whose training cost is measured
            (`"teacher"`, `"student_k2"`, ...; `None`: every model).
        results: a trained run's `results.json`, for the accuracy column and plot.
        plot_backend: the backend whose latency the accuracy plot uses.
        output_dir: where the report goes.
        keep_exports: keep the SavedModels and TFLite files under `output_dir/exports`.
        note: free text shown in the report (e.g. "the machine was shared").

    Example:

    >>> BenchmarkConfig().student_layers
    (4, 2, 1)
    """

    text_preset: str | None = None
    teacher_layers: int | None = None
    student_layers: tuple[int, ...] = (4, 2, 1)
    compact_students: tuple[str, ...] = ()
    vggish_weights: str | None = None
    dataset: str = "demo"
    data_dir: str | None = None
    manifest: str | None = None
    sequence_length: int = 48
    max_patches: int = DEFAULT_MAX_PATCHES
    backends: tuple[str, ...] = BACKENDS
    repeats: int = 50
    warmup: int = 3
    latency_clips: int = 50
    throughput_batch_size: int = 32
    throughput_repeats: int = 1
    memory_backends: tuple[str, ...] = DEFAULT_MEMORY_BACKENDS
    calibration_clips: int = 8
    tflite_threads: int | None = None
    training_steps: int = 3
    training_warmup: int = 1
    recipe: str = "demo"
    training_batch_size: int | None = None
    training_models: tuple[str, ...] | None = None
    results: str | None = None
    plot_backend: str = "keras"
    output_dir: str = os.path.join("saved_models", "benchmark")
    keep_exports: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        check_backends(self.backends)
        check_backends(self.memory_backends)
        if self.repeats < 1 or self.latency_clips < 1:
            raise ValueError(f"repeats and latency_clips must be >= 1; got {self.repeats}, {self.latency_clips}.")
        if self.plot_backend not in self.backends:
            raise ValueError(f"plot_backend {self.plot_backend!r} is not among the measured backends {self.backends}.")
        if "tflite_int8" in self.backends and self.calibration_clips < 1:
            raise ValueError("tflite_int8 needs calibration_clips >= 1.")
        self.data_config()  # checks the dataset flags

    def data_config(self):
        """The corpus and split settings, as the distillation job takes them.

        Example:

        >>> BenchmarkConfig(dataset="iemocap", data_dir="/data/IEMOCAP_full_release").data_config().dataset
        'iemocap'
        """
        from ser_keras.config import DataConfig

        return DataConfig(
            dataset=self.dataset, data_dir=self.data_dir, manifest=self.manifest,
            sequence_length=self.sequence_length, max_patches=self.max_patches,
        )


@dataclass
class BenchmarkOutputs:
    """The report (a JSON-ready dict) and the paths of the files written.

    Example:

    >>> outputs.paths["png"]  # doctest: +SKIP
    'saved_models/benchmark/benchmark.png'
    """

    report: dict
    paths: dict[str, str] = field(default_factory=dict)


def machine_description() -> dict[str, str | int | None]:
    """The CPU model, the cores this process may use, and the GPU if TensorFlow sees one.

    Example:

    >>> machine_description()["cores"] >= 1
    True
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = tf.config.list_physical_devices("GPU")
    gpu = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name) if gpus else None
    return {"cpu": cpu, "cores": cores, "gpu": gpu}


def _load_data(config: BenchmarkConfig):
    from ser_keras.experiment.data import job_folds, load_corpus

    data = config.data_config()
    corpus = load_corpus(data)
    (_, splits), = job_folds(corpus, data)
    return corpus, splits


class _Progress:
    def __init__(self):
        self.start = time.perf_counter()

    def log(self, message: str, *args) -> None:
        logger.info("[%6.1f s] " + message, time.perf_counter() - self.start, *args)


def _memory_path(backend: str, artifacts: ModelArtifacts) -> str:
    return str(artifacts.tflite_path(backend) if backend in TFLITE_BACKENDS else artifacts.saved_model_dir)


def _measure_backend(config, backend, model, artifacts, samples, batch, flops_total, progress) -> dict:
    predict = make_predictor(backend, model.raw_model, artifacts, config.tflite_threads)
    figures = {"latency": measure_latency(predict, samples, warmup=config.warmup, repeats=config.repeats)}
    figures["gflops_per_s"] = flops_total / (figures["latency"]["median_ms"] / 1000.0) / 1e9
    if batch is not None:
        figures["throughput"] = throughput(predict, batch, repeats=config.throughput_repeats)
    figures["size_bytes"] = artifacts.size_bytes(backend)
    del predict
    if backend in config.memory_backends:
        figures["memory"] = peak_memory(backend, _memory_path(backend, artifacts), samples[: min(len(samples), 10)])
    progress.log(
        "%s / %s: %.2f ms per sample%s%s.", model.label, backend, figures["latency"]["median_ms"],
        f", {figures['throughput']['samples_per_s']:.1f} samples/s" if "throughput" in figures else "",
        f", {figures['memory']['model_mb']:.0f} MB" if "memory" in figures else "",
    )
    return figures


def run_benchmark(config: BenchmarkConfig, audio_encoder: keras.Model | None = None) -> BenchmarkOutputs:
    """Runs the benchmark described by `config`; writes and returns the report.

    Args:
        config: what to measure.
        audio_encoder: the per-patch audio encoder (default: VGGish with
            `config.vggish_weights`); tests pass a small stand-in.

    Example:

    >>> print(run_benchmark(BenchmarkConfig(backends=("keras",))).paths)  # doctest: +SKIP
    """
    progress = _Progress()
    keras.utils.set_random_seed(0)
    corpus, splits = _load_data(config)
    label_names = list(corpus.label_names)
    preprocessor = benchmark_preprocessor(config.text_preset, config.sequence_length)
    if audio_encoder is None:
        from ser_keras.vggish import build_vggish

        audio_encoder = build_vggish(weights=config.vggish_weights)
    models = build_benchmark_models(
        config.text_preset, config.teacher_layers, config.student_layers, audio_encoder, len(label_names),
        compact_students=config.compact_students,
    )
    progress.log("Built %s.", ", ".join(model.label for model in models))

    clips = load_clips(splits.test, preprocessor, limit=config.latency_clips, max_patches=config.max_patches)
    mean_patches = float(np.mean([clip.num_patches for clip in clips]))
    batch = batch_of(clips, config.throughput_batch_size) if config.throughput_batch_size > 0 else None
    calibration = None
    if "tflite_int8" in config.backends:
        calibration = representative_inputs(
            splits.train, preprocessor, limit=config.calibration_clips, max_patches=config.max_patches
        )
    progress.log("Inputs: %d test clips (mean %.2f patches); %d calibration clips.", len(clips), mean_patches,
                 len(calibration or []))

    audio_figures = {}  # per audio encoder: FLOPs per patch and branch latency
    for model in models:
        encoder = model.audio_encoder
        if id(encoder) not in audio_figures:
            branch = audio_branch_latency(encoder, [clip.waveform for clip in clips], repeats=config.repeats)
            audio_figures[id(encoder)] = (dense_and_conv_flops(encoder), branch)
            progress.log("Audio branch (%s): %s.", encoder.name, branch)
    parameters = {
        row.num_text_layers: row.to_dict()
        for row in parameter_table(
            models[0].models.text_encoder,
            layer_counts=sorted({model.text_layers for model in models if model.kind == "layers"}, reverse=True),
            vggish_parameters=audio_encoder.count_params(),
            num_classes=len(label_names),
        )
    }
    accuracy = accuracy_from_results(config.results) if config.results else []
    recipe = get_recipe(config.recipe)
    if config.training_batch_size:
        recipe = dataclasses.replace(recipe, batch_size=config.training_batch_size)

    work_dir = (
        os.path.join(config.output_dir, "exports") if config.keep_exports
        else tempfile.mkdtemp(prefix="ser_benchmark_")
    )
    entries = []
    try:
        training_clips = None
        if config.training_steps > 0:
            training_clips = prepare_training_clips(
                splits.train, audio_encoder, recipe.batch_size, config.training_steps, config.training_warmup,
                cache_dir=os.path.join(work_dir, "cache"),
            )
        for model in models:
            audio_per_patch, audio_branch = audio_figures[id(model.audio_encoder)]
            entries.append(
                _benchmark_model(config, model, preprocessor, label_names, clips, batch, calibration,
                                 audio_per_patch, audio_branch, training_clips, recipe, work_dir, progress)
            )
            entries[-1]["params"] = (
                parameters.get(model.text_layers, {}) if model.kind == "layers"
                else component_parameters(model.models.head, model.models.text_encoder, model.audio_encoder)
            )
    finally:
        if not config.keep_exports:
            shutil.rmtree(work_dir, ignore_errors=True)
    _add_ratios(entries)

    report = {
        "metadata": {
            "title": _title(config, models),
            "machine": machine_description(),
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
            "config": asdict(config),
            "backends": list(check_backends(config.backends)),
            "dataset": config.dataset,
            "latency_clips": len(clips),
            "mean_patches": mean_patches,
            "mean_tokens": float(np.mean([clip.num_tokens for clip in clips])),
            "sequence_length": config.sequence_length,
            "repeats": config.repeats,
            "throughput_batch_size": config.throughput_batch_size,
            "weights": "random fusion heads; text encoders from the preset "
            + ("(random: its architecture only)" if config.text_preset == "bert_base_en_uncased" else "(pretrained)")
            + "; VGGish " + ("random" if config.vggish_weights is None else f"from {config.vggish_weights}"),
            "training": {
                "steps": config.training_steps, "warmup": config.training_warmup, "batch_size": recipe.batch_size,
                "train_clips": len(splits.train), "steps_per_epoch": math.ceil(len(splits.train) / recipe.batch_size),
            },
            "plot_backend": config.plot_backend,
            "note": config.note,
            "elapsed_s": time.perf_counter() - progress.start,
        },
        "models": entries,
    }
    attach_accuracy(report, accuracy, config.results)
    paths = save_report(report, config.output_dir)
    progress.log("Report written to %s.", config.output_dir)
    return BenchmarkOutputs(report, paths)


def _title(config: BenchmarkConfig, models: list[BenchmarkModel]) -> str:
    preset = config.text_preset or "MiniLM (offline default)"
    students = [*config.student_layers, *config.compact_students]
    return f"{preset}, teacher {models[0].text_layers} layers, students {students}, {config.dataset} corpus"


def _benchmark_model(config, model, preprocessor, label_names, clips, batch, calibration,
                     audio_per_patch, audio_branch, training_clips, recipe, work_dir, progress) -> dict:
    samples = [clip.inputs for clip in clips]
    if model.models.text_encoder is None:  # audio only: its raw model takes no tokens
        samples = [{key: sample[key] for key in model.raw_model.input} for sample in samples]
        batch = {key: batch[key] for key in model.raw_model.input} if batch is not None else None
        if calibration is not None:
            calibration = [{key: inputs[key] for key in model.raw_model.input} for inputs in calibration]
    flops = model_flops(
        model.models.text_encoder, audio_per_patch, config.sequence_length,
        float(np.mean([clip.num_patches for clip in clips])), len(label_names),
    )
    branches = dict(audio_branch)
    if model.models.text_encoder is not None:
        branches.update(
            text_branch_latency(model.models.text_encoder, model.models.head, preprocessor,
                                [clip.text for clip in clips], samples, model.audio_encoder, repeats=config.repeats)
        )
    artifacts = ModelArtifacts(model.raw_model, preprocessor, label_names, os.path.join(work_dir, model.key), calibration)
    backends = {}
    try:
        for backend in check_backends(config.backends):
            backends[backend] = _measure_backend(config, backend, model, artifacts, samples, batch, flops.total, progress)
    finally:
        if not config.keep_exports:
            artifacts.remove()
    training = {}
    measured = config.training_models is None or model.key in config.training_models
    if training_clips is not None and measured and model.kind == "layers":
        training = measure_training_cost(
            model, training_clips, preprocessor, model.audio_encoder, label_names, recipe,
            steps=config.training_steps, warmup=config.training_warmup,
        )
        progress.log("%s training: %s s per epoch.", model.label,
                     {stage: round(cost["seconds_per_epoch"], 1) for stage, cost in training.items()})
    return {
        "key": model.key,
        "label": model.label,
        "role": model.role,
        "text_layers": model.text_layers,
        "kind": model.kind,
        "flops": flops.to_dict(),
        "branches": branches,
        "backends": backends,
        "training": training,
    }


def _add_ratios(entries: list[dict]) -> None:
    teacher = entries[0]["backends"]
    for entry in entries:
        for backend, figures in entry["backends"].items():
            figures["ratio_to_teacher"] = figures["latency"]["median_ms"] / teacher[backend]["latency"]["median_ms"]
