"""Benchmark reports: markdown tables, JSON and a PNG of test accuracy against latency.

The report is a JSON-ready dict (see `ser_keras.benchmarks.suite.run_benchmark`):
`metadata` and `models`, each model with its `backends` figures (`latency`,
`ratio_to_teacher`, `throughput`, `gflops_per_s`, `memory`, `size_bytes`),
`flops`, `branches`, `training` and, when a trained run's results are given,
`accuracy`.

Example:

>>> print(benchmark_markdown(report))  # doctest: +SKIP
>>> paths = save_report(report, "saved_models/benchmark")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ser_keras.reporting import TABLE_METRICS

logger = logging.getLogger(__name__)


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _get(mapping: dict, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(row) + " |" for row in rows)]


def _backend_table(report: dict, value: Callable[[dict], float | None], digits: int = 2) -> list[str]:
    backends = report["metadata"]["backends"]
    rows = [
        [model["label"], *(_cell(value(model["backends"].get(backend, {})), digits) for backend in backends)]
        for model in report["models"]
    ]
    return _table(["model", *backends], rows)


def accuracy_from_results(results_path: str | os.PathLike) -> list[dict[str, Any]]:
    """The test scores of a trained run's `results.json` (written by the distillation job).

    Returns:
        One entry per trained model: `name`, `text_layers`, `kind` (`"layers"`, or
        the compact student's name), `role`, `distilled`, `test`.

    Raises:
        ValueError: the file is not a job's results JSON.

    Example:

    >>> accuracy_from_results("saved_models/demo/results.json")[0]["name"]  # doctest: +SKIP
    'BERT_6-VGGish (teacher)'
    """
    try:
        with open(results_path, encoding="utf-8") as handle:
            models = json.load(handle)["models"]
        return [
            {
                "name": model["name"],
                "text_layers": int(model["text_layers"]),
                "kind": model.get("extra", {}).get("student_kind", "layers"),
                "role": model.get("role", "student"),
                "distilled": bool(model.get("distilled", False)),
                "test": {key: float(model["test"][key]) for key in TABLE_METRICS if key in model["test"]},
            }
            for model in models
        ]
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot read test scores from '{results_path}' ({error!r}); pass the results.json that "
            "training_scripts/distill.py wrote into its run folder."
        ) from error


def load_report(path: str | os.PathLike) -> dict:
    """Reads a `benchmark.json` written by `save_report`.

    Raises:
        ValueError: the file cannot be read or is not a benchmark report.

    Example:

    >>> report = load_report("saved_models/benchmark/benchmark.json")  # doctest: +SKIP
    >>> sorted(report)  # doctest: +SKIP
    ['metadata', 'models']
    """
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot read the benchmark report '{path}' ({error!r}).") from error
    if not isinstance(report, dict) or not {"metadata", "models"} <= report.keys():
        raise ValueError(f"'{path}' is not a benchmark report (no 'metadata' and 'models'); pass a benchmark.json.")
    return report


def attach_accuracy(report: dict, accuracy: list[dict[str, Any]], results_path: str | None = None) -> dict:
    """Gives every benchmarked model the test scores of the trained models of its kind and depth.

    Latency does not depend on weights, so a benchmark of random weights and a
    trained run's scores (`accuracy_from_results`) combine into the accuracy
    column and the accuracy-against-latency plot. Logs the scores that match no
    benchmarked model.

    Example:

    >>> report = {"metadata": {}, "models": [{"text_layers": 2}]}
    >>> scores = [{"name": "BERT_2-VGGish + KD", "text_layers": 2, "test": {"acc": 0.5}}]
    >>> attach_accuracy(report, scores)["models"][0]["accuracy"][0]["name"]
    'BERT_2-VGGish + KD'
    """
    for model in report["models"]:
        kind = model.get("kind", "layers")
        model["accuracy"] = [
            entry for entry in accuracy
            if entry["text_layers"] == model["text_layers"] and entry.get("kind", "layers") == kind
        ]
    matched = {entry["name"] for model in report["models"] for entry in model["accuracy"]}
    unmatched = {entry["name"] for entry in accuracy} - matched
    if unmatched:
        logger.warning("Results without a benchmarked model of the same depth (not plotted): %s.", sorted(unmatched))
    report["metadata"]["results"] = results_path
    return report


def benchmark_markdown(report: dict) -> str:
    """Every table of the report as markdown, with what each figure means.

    Example:

    >>> benchmark_markdown(report).startswith("# Benchmark")  # doctest: +SKIP
    True
    """
    meta = report["metadata"]
    lines = [
        f"# Benchmark: {meta['title']}",
        "",
        f"Machine: {meta['machine']['cpu']} ({meta['machine']['cores']} cores{', GPU ' + meta['machine']['gpu'] if meta['machine'].get('gpu') else ''}); "
        f"TensorFlow {meta['versions']['tensorflow']}, Keras {meta['versions']['keras']}. "
        f"Inputs: {meta['latency_clips']} {meta['dataset']} test clips (mean {meta['mean_patches']:.2f} audio patches, "
        f"transcripts padded to {meta['sequence_length']} tokens; tokenization and the log-mel front end "
        f"are outside the timed call). Weights: {meta['weights']}.",
        "",
        f"## Inference time per sample (ms; batch 1, warm, median of {meta['repeats']} runs)",
        "",
        *_backend_table(report, lambda figures: _get(figures, "latency", "median_ms")),
        "",
        "## Student / teacher latency ratio (same run)",
        "",
        *_backend_table(report, lambda figures: figures.get("ratio_to_teacher"), 3),
        "",
        f"## Throughput (samples/s at batch {meta['throughput_batch_size']}, padded batches of test clips)",
        "",
        *_backend_table(report, lambda figures: _get(figures, "throughput", "samples_per_s"), 1),
        "",
        "## Achieved GFLOP/s at batch 1 (analytic FLOPs per sample / median latency)",
        "",
        *_backend_table(report, lambda figures: figures.get("gflops_per_s"), 1),
        "",
    ]
    if any("memory" in figures for model in report["models"] for figures in model["backends"].values()):
        lines += [
            "## Peak memory (MB): model + runs over the runtime's baseline, in a fresh process",
            "",
            *_backend_table(report, lambda figures: _get(figures, "memory", "model_mb"), 0),
            "",
            "Measured as the resident-set high-water mark (`VmHWM`) of a fresh process after loading the "
            "model and running the latency clips, minus its resident set after importing the runtime "
            "(TensorFlow for keras/saved_model, LiteRT alone for tflite). '-': not measured (`--memory-backends`).",
            "",
        ]
    lines += [
        "## Model file size (MB)",
        "",
        *_backend_table(report, lambda figures: None if figures.get("size_bytes") is None else figures["size_bytes"] / 1e6, 1),
        "",
        "## Analytic FLOPs per sample (GFLOP; matmuls and convolutions, 1 MAC = 2 FLOPs)",
        "",
        *_table(
            ["model", "BERT", "audio encoder", "fusion head", "total", "total params (M)"],
            [
                [
                    model["label"],
                    *(_cell(model["flops"][part] / 1e9, 3) for part in ("text", "audio", "head", "total")),
                    _cell(_get(model, "params", "total") and model["params"]["total"] / 1e6),
                ]
                for model in report["models"]
            ],
        ),
        "",
        "## Against the teacher (same run): how many times fewer parameters and FLOPs, latency ratio",
        "",
        *_table(
            ["model", "params: x fewer", "FLOPs: x fewer", "latency ratio (keras)", "latency ratio (tflite_dynamic)"],
            [_against_teacher_row(model, report["models"][0]) for model in report["models"][1:]],
        ),
        "",
        "## Time per branch (ms; Keras tf.function, batch 1, median)",
        "",
        *_table(
            ["model", "log-mel front end", "audio encoder", "audio branch", "tokenizer", "BERT", "text branch",
             "fusion head", "sum", "whole model (keras)"],
            [_branch_row(model) for model in report["models"]],
        ),
        "",
        "Audio branch = front end + audio encoder; text branch = tokenizer + BERT. The whole-model figure "
        "excludes the front end and tokenizer (as every backend above).",
        "",
    ]
    if any(model.get("training") for model in report["models"]):
        lines += [
            "## Training cost (seconds per epoch of the training split)",
            "",
            *_table(
                ["model", "stage 1, cached encoders", "cache build (once)", "stage 1, no cache", "stage 2 (BERT fine-tuned)"],
                [
                    [
                        model["label"],
                        _cell(_get(model, "training", "stage1_cached", "seconds_per_epoch"), 1),
                        _cell(_get(model, "training", "stage1_cached", "cache_build_s"), 1),
                        _cell(_get(model, "training", "stage1_uncached", "seconds_per_epoch"), 1),
                        _cell(_get(model, "training", "stage2", "seconds_per_epoch"), 1),
                    ]
                    for model in report["models"]
                    if model.get("training")
                ],
            ),
            "",
            f"Extrapolated: the median of {meta['training']['steps']} timed steps (batch {meta['training']['batch_size']}, "
            f"after {meta['training']['warmup']} untimed) times {meta['training']['steps_per_epoch']} steps per epoch "
            f"({meta['training']['train_clips']} training clips). The cache build is extrapolated from the clips used.",
            "",
        ]
    accuracy_rows = [
        [entry["name"], _cell(_get(model, "backends", meta["plot_backend"], "latency", "median_ms")),
         *(_cell(100 * entry["test"][key]) if key in entry["test"] else "-" for key in TABLE_METRICS)]
        for model in report["models"]
        for entry in model.get("accuracy", [])
    ]
    if accuracy_rows:
        lines += [
            f"## Test scores (from {meta['results']}) and latency ({meta['plot_backend']})",
            "",
            *_table(["model", "latency (ms)", *(f"test {key.upper()}" for key in TABLE_METRICS)], accuracy_rows),
            "",
        ]
    return "\n".join(lines)


def _against_teacher_row(model: dict, teacher: dict) -> list[str]:
    params, teacher_params = _get(model, "params", "total"), _get(teacher, "params", "total")
    return [
        model["label"],
        _cell(teacher_params / params if params and teacher_params else None, 1),
        _cell(teacher["flops"]["total"] / model["flops"]["total"] if model["flops"]["total"] else None, 1),
        _cell(_get(model, "backends", "keras", "ratio_to_teacher"), 3),
        _cell(_get(model, "backends", "tflite_dynamic", "ratio_to_teacher"), 3),
    ]


def _branch_row(model: dict) -> list[str]:
    branches = model.get("branches", {})
    parts = [branches.get(key) for key in ("front_end_ms", "audio_encoder_ms", "tokenizer_ms", "text_encoder_ms", "head_ms")]
    front_end, audio_encoder, tokenizer, text_encoder, head = parts
    known = None if None in parts else sum(parts)
    return [
        model["label"],
        _cell(front_end),
        _cell(audio_encoder),
        _cell(None if None in (front_end, audio_encoder) else front_end + audio_encoder),
        _cell(tokenizer),
        _cell(text_encoder),
        _cell(None if None in (tokenizer, text_encoder) else tokenizer + text_encoder),
        _cell(head),
        _cell(known),
        _cell(_get(model, "backends", "keras", "latency", "median_ms")),
    ]


def accuracy_latency_png(report: dict, path: str | os.PathLike) -> None:
    """Test accuracy against latency per model (a scatter), or latency alone when there are no scores.

    Example:

    >>> accuracy_latency_png(report, "benchmark.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    meta = report["metadata"]
    figure = Figure(figsize=(9.0, 4.8))
    axes = figure.add_subplot()
    points = [
        (model, entry)
        for model in report["models"]
        for entry in model.get("accuracy", [])
        if _get(model, "backends", meta["plot_backend"], "latency", "median_ms") is not None and "acc" in entry["test"]
    ]
    if points:
        for model, entry in points:
            latency = model["backends"][meta["plot_backend"]]["latency"]["median_ms"]
            marker = "*" if entry["role"] == "teacher" else ("o" if entry["distilled"] else "s")
            axes.scatter(latency, 100 * entry["test"]["acc"], marker=marker, s=80, label=entry["name"])
        # A legend, not labels beside the points: models with close scores and latencies
        # would print their labels on top of each other.
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        axes.set_xlabel(f"latency per sample (ms, {meta['plot_backend']}, batch 1, median)")
        axes.set_ylabel("test accuracy (%)")
        axes.set_title(f"Test accuracy against latency\n{meta['title']}", fontsize=9)
    else:
        backends = meta["backends"]
        positions = np.arange(len(report["models"]))
        width = 0.8 / len(backends)
        for index, backend in enumerate(backends):
            values = [
                _get(model, "backends", backend, "latency", "median_ms") or np.nan for model in report["models"]
            ]
            axes.barh(positions + (index - (len(backends) - 1) / 2) * width, values, width, label=backend)
        axes.set_yticks(positions, labels=[model["label"] for model in report["models"]], fontsize=8)
        axes.invert_yaxis()  # the teacher on top
        axes.set_xlabel("latency per sample (ms, batch 1, median)")
        axes.set_title(f"Latency per sample (pass --results to plot test accuracy)\n{meta['title']}", fontsize=9)
        axes.legend(fontsize=7)
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(os.fspath(path))


def save_report(report: dict, output_dir: str | os.PathLike) -> dict[str, str]:
    """Writes `benchmark.md`, `benchmark.json` and `benchmark.png` to `output_dir`; returns their paths.

    Example:

    >>> sorted(save_report(report, "saved_models/benchmark"))  # doctest: +SKIP
    ['json', 'markdown', 'png']
    """
    from ser_keras.export.atomic import atomic_write

    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "markdown": os.path.join(output_dir, "benchmark.md"),
        "json": os.path.join(output_dir, "benchmark.json"),
        "png": os.path.join(output_dir, "benchmark.png"),
    }
    with atomic_write(paths["markdown"]) as stream:
        stream.write(benchmark_markdown(report))
    with atomic_write(paths["json"]) as stream:
        json.dump(report, stream, indent=2)
    accuracy_latency_png(report, paths["png"])
    return paths
