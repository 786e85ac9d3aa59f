"""The distillation job: teacher, students with and without KD, evaluation, reports, exports.

`run_distill_job` does what `training_scripts/distill.py` promises; `_run_job`
is its list of steps:

1. `_start_run`: the seed, `<run>/config.json` and the recipe in the log;
2. `job_inputs.read_job_inputs`: the corpus and its split (or the LOSO
   folds), the tokenizer, every clip's log-mel patches (`EncoderCache`, shared
   by runs), the data digests naming the saved models' folders;
3. `fold_run.run_fold` per fold: the speaker normalisation and the audio
   stage, the teacher through both stages (or a saved teacher trained with the
   same data, encoders and recipe, `<output_dir>/teachers/<hash>`), each
   student without and with distillation, every model scored on validation and
   test (ACC, BACC, MF1, WF1, confusion matrices) with its parameters and
   batch-1 latency (`model_rows`), and the linear probes;
4. `aggregate_folds`: the folds' rows averaged by model (LOSO); `_write_results`: the
   Table II results (`results.md`, `results.json`, `results.png`) and TensorBoard's summary;
5. `_export_models`: the teacher and the best student as SavedModels.

Example:

>>> outputs = run_distill_job(DistillJobConfig())  # the demo corpus  # doctest: +SKIP
>>> outputs.results_paths["markdown"]  # doctest: +SKIP
'saved_models/demo/results.md'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field

from ser_keras.config import DistillJobConfig
from ser_keras.experiment.context import JobContext, student_root, teacher_root
from ser_keras.experiment.fold_run import FoldRun, run_fold
from ser_keras.experiment.folds import aggregate_folds
from ser_keras.experiment.job_inputs import read_job_inputs
from ser_keras.models import build_raw_model
from ser_keras.reporting import ModelResult, results_markdown, save_results
from ser_keras.training.seeds import seed_process
from ser_keras.training.tensorboard import log_text
from ser_keras.training.workers import WorkerRole, worker_output_dir

logger = logging.getLogger(__name__)


@dataclass
class JobOutputs:
    """Where a finished job put its outputs, and its results.

    Example:

    >>> print(outputs.describe())  # doctest: +SKIP
    """

    run_dir: str
    log_dir: str
    results: list[ModelResult]
    results_paths: dict[str, str]
    confusion_matrices: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    skipped_summary: str = ""

    def relocated(self, old_root: str, new_root: str) -> JobOutputs:
        """The same outputs with every path under `old_root` moved under `new_root`.

        Example:

        >>> JobOutputs("tmp/run", "tmp/run/tb", [], {}).relocated("tmp", "out").log_dir
        'out/run/tb'
        """

        def move(path: str) -> str:
            return os.path.join(new_root, os.path.relpath(path, old_root))

        return dataclasses.replace(
            self,
            run_dir=move(self.run_dir),
            log_dir=move(self.log_dir),
            results_paths={key: move(path) for key, path in self.results_paths.items()},
            confusion_matrices=[move(path) for path in self.confusion_matrices],
            exports={key: move(path) for key, path in self.exports.items()},
        )

    def describe(self) -> str:
        """A human-readable list of the outputs.

        Example:

        >>> JobOutputs("r", "r/tb", [], {"markdown": "r/results.md"}).describe().splitlines()[0]
        'Run directory: r'
        """
        lines = [
            f"Run directory: {self.run_dir}",
            f"Results table: {self.results_paths.get('markdown', '-')}",
            f"Results JSON:  {self.results_paths.get('json', '-')}",
            f"Results chart: {self.results_paths.get('png', '-')}",
            f"Confusion matrices: {len(self.confusion_matrices)} PNGs in "
            f"{os.path.dirname(self.confusion_matrices[0]) if self.confusion_matrices else '-'}",
            f"TensorBoard: tensorboard --logdir {self.log_dir}",
        ]
        lines += [f"Exported {name}: {path}" for name, path in self.exports.items()]
        if self.skipped_summary:
            lines.append(self.skipped_summary)
        return "\n".join(lines)


def run_distill_job(config: DistillJobConfig) -> JobOutputs:
    """Runs the whole job described by `config` and returns where its outputs are.

    Example:

    >>> print(run_distill_job(DistillJobConfig()).describe())  # doctest: +SKIP

    Under several workers (`TF_CONFIG`) only the chief writes to
    `config.output_dir`; the others write to a directory of their own
    (`ser_keras.training.workers`), and return where the chief's outputs are.
    """
    role = WorkerRole.from_environment()
    shared_dir = config.output_dir
    resume_state = (
        os.path.relpath(os.path.join(teacher_root(config), config.teacher_fingerprint()), shared_dir),
        os.path.relpath(os.path.join(student_root(config), config.training_fingerprint()), shared_dir),
    )
    with worker_output_dir(shared_dir, role, copied=resume_state, linked=("cache",)) as output_dir:
        if role.is_chief:
            return _run_job(config)
        outputs = _run_job(dataclasses.replace(config, output_dir=output_dir, export=False))
        return outputs.relocated(output_dir, shared_dir)


def _run_job(config: DistillJobConfig) -> JobOutputs:
    """The job's steps, in order (the module's docstring lists them)."""
    log_dir = _start_run(config)
    job = read_job_inputs(config, log_dir)
    fold_runs = [run_fold(job, fold_name, splits) for fold_name, splits in job.folds]
    results = aggregate_folds([fold.results for fold in fold_runs], [name for name, _ in job.folds])
    outputs = _write_results(job, results)
    if config.export:
        outputs.exports = _export_models(job, results, fold_runs[0])
    logger.info("Results:\n%s", results_markdown(results))
    return outputs


def _start_run(config: DistillJobConfig) -> str:
    """Seeds the run, writes `<run>/config.json` and logs the recipe; returns the TensorBoard directory."""
    seed_process(config.recipe.seed)
    run_dir = config.run_dir
    log_dir = os.path.join(run_dir, "tensorboard")
    os.makedirs(run_dir, exist_ok=True)
    logger.info("Run directory %s. Monitor with: tensorboard --logdir %s", run_dir, log_dir)
    with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(config.to_dict(), handle, indent=2)
    logger.info("Recipe '%s':\n%s", config.recipe.name, config.recipe.to_json())
    return log_dir


def _write_results(job: JobContext, results: list[ModelResult]) -> JobOutputs:
    """`results.md`, `results.json`, `results.png`, TensorBoard's summary and `skipped.csv`; where they all are."""
    config, corpus, run_dir = job.config, job.corpus, job.config.run_dir
    title = f"{config.data.dataset} ({config.data.protocol}), recipe {config.recipe.name}"
    paths = save_results(
        results, run_dir, title=title,
        metadata={"config": config.to_dict(), "skipped": len(corpus.skip_report)},
        class_names=corpus.label_names,
    )
    log_text(os.path.join(job.log_dir, "summary"), "results", results_markdown(results))
    corpus.skip_report.write_csv(os.path.join(run_dir, "skipped.csv"))
    return JobOutputs(
        run_dir=run_dir,
        log_dir=job.log_dir,
        results=results,
        results_paths=paths,
        confusion_matrices=sorted(
            os.path.join(run_dir, "confusion", name) for name in os.listdir(os.path.join(run_dir, "confusion"))
        ),
        skipped_summary=corpus.skip_report.summary(len(corpus) + len(corpus.skip_report)),
    )


def _export_models(job: JobContext, results: list[ModelResult], fold: FoldRun) -> dict[str, str]:
    """The teacher and the best student (every student with `--export-all`) of `fold` as SavedModels."""
    from ser_keras.export import export_model

    config = job.config
    if len(job.folds) > 1:
        logger.info(
            "Exporting the models trained on fold %s (of %d); the best student is the one with the "
            "best mean validation accuracy over the folds.", job.folds[0][0], len(job.folds),
        )
    students = [r for r in results if r.role == "student"]
    chosen = {"teacher": "teacher"}
    if students:
        best = max(students, key=lambda r: (r.validation.get("acc", 0.0), -r.text_layers))
        chosen["best_student"] = best.extra["model_key"]
    if config.export_all:
        chosen.update({r.extra["model_key"]: r.extra["model_key"] for r in students})
    exports = {}
    for role, key in chosen.items():
        model = fold.trained[key]
        own_audio = model.audio if model.audio is not None else fold.audio
        full = build_raw_model(
            model.models.head, model.models.text_encoder, own_audio.encoder if own_audio else None, name=key
        )
        export_dir = os.path.join(config.run_dir, "export", role)
        exports[f"{role} ({key})"] = export_model(
            full, job.preprocessor, job.corpus.label_names, export_dir, version=_next_version(export_dir),
            max_patches=config.data.max_patches,
            speaker_reference=fold.speaker_reference if "audio_patches" in full.input else None,
            speaker_statistics=config.recipe.speaker_statistics,
            enrolment_clips=config.recipe.enrolment_clips,
        )
    return exports


def _next_version(export_dir: str) -> int:
    """The next TF Serving version number in `export_dir` (1 when empty): re-runs add versions."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
    return max(versions, default=0) + 1
