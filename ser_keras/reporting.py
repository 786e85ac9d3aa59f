"""Results tables in the paper's Table II format: markdown, JSON and a PNG chart.

One `ModelResult` per trained model (teacher, students with and without
distillation) holds its parameter counts, inference latency and validation and
test scores (fractions, as `ser_keras.training.metrics.classification_metrics`
returns them; the tables print percentages).

Example:

>>> result = ModelResult(
...     name="BERT_2-VGGish + KD", text_layers=2, distilled=True,
...     params={"total": 87_030_000}, latency_ms=19.6,
...     validation={"bacc": 0.79, "acc": 0.78, "mf1": 0.78, "wf1": 0.77},
...     test={"bacc": 0.79, "acc": 0.78, "mf1": 0.78, "wf1": 0.78})
>>> print(results_markdown([result]).splitlines()[2])
| BERT_2-VGGish + KD | 87.03 | 19.60 | 79.00 | 78.00 | 78.00 | 77.00 | 79.00 | 78.00 | 78.00 | 78.00 |
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Metric keys in the column order of the paper's Table II.
TABLE_METRICS: tuple[str, ...] = ("bacc", "acc", "mf1", "wf1")

#: Appended to the name of a model whose validation predictions are all one class.
COLLAPSED_MARK = "[collapsed: one class]"
#: Appended to the name of a model scored with transductive speaker statistics (`--speaker-statistics all-clips`).
TRANSDUCTIVE_MARK = "[transductive: all-clips speaker statistics]"


@dataclass
class ModelResult:
    """The measured figures of one model.

    Args:
        name: a display name, e.g. `"BERT_4-VGGish + KD"`.
        text_layers: transformer layers kept in the text encoder.
        distilled: whether it was trained with knowledge distillation.
        params: parameter counts by component; `"total"` is the Table II column.
        latency_ms: median inference time per sample (batch 1), in milliseconds.
        validation: validation scores (fractions) keyed by `TABLE_METRICS`.
        test: test scores (fractions) keyed by `TABLE_METRICS`.
        role: `"teacher"`, `"student"` or `"reference"` (a linear probe).
        collapsed: its validation predictions were all one class (marked in
            the tables and the chart).
        transductive: its test speakers were normalised with statistics of
            all their clips, the scored ones included (marked likewise).
        extra: anything else worth keeping (e.g. standard deviations across folds).

    Example:

    >>> ModelResult("BERT_6-VGGish", 6, False).role
    'student'
    """

    name: str
    text_layers: int
    distilled: bool
    params: dict[str, int] = field(default_factory=dict)
    latency_ms: float | None = None
    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    role: str = "student"
    collapsed: bool = False
    transductive: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """`name`, with a mark when the model collapsed to one class or was scored transductively.

        Example:

        >>> ModelResult("BERT_1-AudioCNN", 1, False, collapsed=True).display_name
        'BERT_1-AudioCNN [collapsed: one class]'
        """
        marks = [mark for mark, on in ((COLLAPSED_MARK, self.collapsed), (TRANSDUCTIVE_MARK, self.transductive)) if on]
        return " ".join([self.name, *marks])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict.

        Example:

        >>> ModelResult("m", 2, True).to_dict()["distilled"]
        True
        """
        return dataclasses.asdict(self)


def _percent(scores: dict[str, float], key: str, deviations: dict[str, float] | None = None) -> str:
    value = scores.get(key)
    if value is None:
        return "-"
    if deviations and key in deviations:
        return f"{100.0 * value:.2f} ± {100.0 * deviations[key]:.2f}"
    return f"{100.0 * value:.2f}"


def results_markdown(results: Sequence[ModelResult]) -> str:
    """The results as a markdown table with the columns of the paper's Table II.

    Results aggregated over folds (with `extra["validation_std"]` and
    `extra["test_std"]`) print as `mean ± std`.

    Example:

    >>> results_markdown([]).splitlines()[0].startswith("| Methods | Total Params (M)")
    True
    """
    metric_names = [key.upper() for key in TABLE_METRICS]
    header = (
        ["Methods", "Total Params (M)", "Inference Time (ms)"]
        + [f"Val {name}" for name in metric_names]
        + [f"Test {name}" for name in metric_names]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        total = result.params.get("total")
        cells = [
            result.display_name,
            "-" if total is None else f"{total / 1e6:.2f}",
            "-" if result.latency_ms is None else f"{result.latency_ms:.2f}",
            *[_percent(result.validation, key, result.extra.get("validation_std")) for key in TABLE_METRICS],
            *[_percent(result.test, key, result.extra.get("test_std")) for key in TABLE_METRICS],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_chart_figure(results: Sequence[ModelResult], title: str, num_classes: int | None = None):
    """A grouped bar chart of the test scores per model, latency in the labels, legend outside the bars.

    Rows aggregated over folds or seeds (with `extra["test_std"]`) are drawn
    as their means with error bars of one standard deviation. With
    `num_classes`, a dotted line marks chance balanced accuracy (`100 / K`).

    Example:

    >>> figure = results_chart_figure([], "Demo corpus", num_classes=4)  # doctest: +SKIP
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(7.5, 1.6 * len(results) + 3.5), 4.5))
    axes = figure.add_subplot()
    width = 0.8 / len(TABLE_METRICS)
    positions = np.arange(len(results))
    deviations = [result.extra.get("test_std") or {} for result in results]
    for index, key in enumerate(TABLE_METRICS):
        values = [100.0 * result.test.get(key, np.nan) for result in results]
        errors = [100.0 * spread.get(key, 0.0) for spread in deviations] if any(deviations) else None
        axes.bar(positions + (index - 1.5) * width, values, width, yerr=errors, capsize=2 if errors else 0,
                 error_kw={"linewidth": 0.8}, label=f"test {key.upper()}")
    labels = [  # long names (compact students) wrapped so that neighbours do not overlap
        textwrap.fill(result.display_name, 20) + ("" if result.latency_ms is None else f"\n{result.latency_ms:.1f} ms")
        for result in results
    ]
    axes.set_xticks(positions, labels=labels, fontsize=8)
    axes.set_ylabel("score (%), mean ± std" if any(deviations) else "score (%)")
    axes.set_ylim(0, 100)
    if num_classes:
        axes.axhline(100.0 / num_classes, color="grey", linestyle=":", linewidth=1,
                     label=f"chance ({num_classes} classes)")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # right of the plot area
    figure.tight_layout()
    return figure


def results_chart_png(
    results: Sequence[ModelResult], path: str | os.PathLike, title: str, num_classes: int | None = None
) -> None:
    """Saves `results_chart_figure` as a PNG.

    Example:

    >>> results_chart_png(results, "results.png", "Demo corpus", num_classes=4)  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(results_chart_figure(results, title, num_classes)).print_png(os.fspath(path))


def save_results(
    results: Sequence[ModelResult],
    output_dir: str | os.PathLike,
    title: str = "Results",
    metadata: dict[str, Any] | None = None,
    notes_markdown: str = "",
    sections: dict[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, str]:
    """Writes `results.md`, `results.json` and `results.png` to `output_dir`.

    Args:
        results: the Table II rows.
        output_dir: where the three files go (created if needed).
        title: the table's heading and the chart's title.
        metadata: kept under `"metadata"` in `results.json`.
        notes_markdown: markdown written after the table in `results.md`
            (e.g. the paired KD-minus-no-KD differences over seeds).
        sections: more top-level keys of `results.json`, beside `"models"`.
        class_names: the corpus's classes, in the models' output order: kept
            as `"class_names"` in `results.json`, and the chart's chance line.

    Returns:
        The paths written, keyed by `"markdown"`, `"json"` and `"png"`.

    Example:

    >>> paths = save_results(results, "saved_models/run", class_names=corpus.label_names)  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['json', 'markdown', 'png']
    """
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "markdown": os.path.join(output_dir, "results.md"),
        "json": os.path.join(output_dir, "results.json"),
        "png": os.path.join(output_dir, "results.png"),
    }
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(f"# {title}\n\n" + results_markdown(results) + (f"\n{notes_markdown}" if notes_markdown else ""))
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump(
            {
                "title": title,
                "metadata": metadata or {},
                **({"class_names": list(class_names)} if class_names else {}),
                "models": [r.to_dict() for r in results],
                **(sections or {}),
            },
            handle,
            indent=2,
        )
    results_chart_png(results, paths["png"], title, len(class_names) if class_names else None)
    return paths


def compact_student_label(kind: str, text_layers: int, text_width: int, audio_label: str | None) -> str:
    """The Table II name of a compact student (before any " + KD").

    Example:

    >>> compact_student_label("compact", 2, 128, "AudioCNN"), compact_student_label("audio-compact", 0, 0, "AudioCNN")
    ('BERT_2x128-AudioCNN (compact)', 'AudioCNN (audio only)')
    """
    if kind == "audio-compact":
        return f"{audio_label} (audio only)"
    text = f"BERT_{text_layers}x{text_width}"
    return "-".join(part for part in (text, audio_label) if part) + " (compact)"
