"""The distillation job: teacher, students with and without KD, evaluation, reports, exports.

`run_distill_job` does what `training_scripts/distill.py` promises:

1. reads the corpus and its split (or the five LOSO folds);
2. computes the frozen encoders' outputs once (`EncoderCache`, shared by runs);
3. trains the teacher through both stages, or reuses a saved teacher trained
   with the same data, encoders and recipe (`<output_dir>/teachers/<hash>`);
4. trains each student (first k BERT layers) without and with distillation;
5. scores every model on validation and test (ACC, BACC, MF1, WF1, confusion
   matrices), measures parameters and batch-1 latency;
6. writes the Table II results (`results.md`, `results.json`, `results.png`),
   TensorBoard logs, and exports the teacher and the best student.

Example:

>>> outputs = run_distill_job(DistillJobConfig())  # the demo corpus  # doctest: +SKIP
>>> outputs.results_paths["markdown"]  # doctest: +SKIP
'saved_models/demo/results.md'
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import tensorflow as tf

from ser_keras.audio import load_audio, waveform_to_examples
from ser_keras.config import DistillJobConfig
from ser_keras.data import Corpus, DatasetError, EncoderCache, Splits
from ser_keras.data.speaker_norm import FoldNormalization, normalize_by_speaker, normalize_fold
from ser_keras.data.unlabelled import read_unlabelled_audio, without_corpus_clips
from ser_keras.experiment.audio_stage import AudioBranch, build_audio_encoder, prepare_audio_encoder
from ser_keras.experiment.audio_student import audio_student_branch
from ser_keras.experiment.data import check_corpus_modalities, job_folds, load_corpus
from ser_keras.experiment.folds import aggregate_folds
from ser_keras.experiment.probe_rows import probe_results
from ser_keras.experiment.reuse import data_digest, explain_reuse, extended_digest, record_settings
from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel
from ser_keras.latency import measure_latency
from ser_keras.models import build_raw_model, clip_statistics, component_parameters, parameter_table
from ser_keras.models.fusion import AUDIO_EMBEDDINGS, uses_audio, uses_text
from ser_keras.reporting import TABLE_METRICS, ModelResult, compact_student_label, results_markdown, save_results
from ser_keras.text import load_text_encoder, load_text_preprocessor
from ser_keras.text.narrow import build_narrow_text_encoder, compact_text_spec
from ser_keras.text.tokenizer import count_truncated
from ser_keras.training import get_strategy, predicts_one_class, save_confusion_matrix_png
from ser_keras.training.metrics import confusion_matrix_png
from ser_keras.training.seeds import seed_model_weights
from ser_keras.training.tensorboard import log_confusion_matrix, log_hparams, log_scores, log_text
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


def _unlabelled_audio(
    config: DistillJobConfig, cache: EncoderCache, skip_report, corpus_patches: dict
) -> tuple[dict, dict]:
    """`--unlabelled-audio`: its clips' log-mel patches and speakers (`({}, {})` without it).

    Clips whose audio is also a corpus clip's (`corpus_patches`) are left out and counted in the log.
    """
    if not config.data.unlabelled_audio:
        return {}, {}
    clips = read_unlabelled_audio(config.data.unlabelled_audio, skip_report=skip_report)
    patches, overlapping = without_corpus_clips(
        cache.log_mel_patches(clips, skip_report=skip_report, max_patches=config.data.max_patches), corpus_patches
    )
    if overlapping:
        logger.warning(
            "Unlabelled audio %s: %d clips are also clips of the corpus (same audio), left out so that no "
            "validation or test clip is learned from (first: %s).",
            config.data.unlabelled_audio, len(overlapping), ", ".join(overlapping[:5]),
        )
    logger.info(
        "Unlabelled audio %s: %d clips (%d patches) for the compact students' audio encoder.",
        config.data.unlabelled_audio, len(patches), sum(len(value) for value in patches.values()),
    )
    return patches, {clip.utterance_id: clip.speaker for clip in clips}


def _all_items(folds: Sequence[tuple[str, Splits]]) -> list:
    seen, items = set(), []
    for _, splits in folds:
        for item in [*splits.train, *splits.validation, *splits.test]:
            if item.utterance_id not in seen:
                seen.add(item.utterance_id)
                items.append(item)
    return items


class _ModelMeasurer:
    """Parameter counts and batch-1 latency of full models (audio encoder inside), on test clips."""

    def __init__(
        self, audio_encoder: keras.Model | None, preprocessor, test_items: Sequence, runs: int, max_patches: int | None
    ):
        self.audio_encoder = audio_encoder
        self.runs = runs
        self.samples = []
        usable = [item for item in test_items if item.has_audio or audio_encoder is None]
        for item in usable[: max(1, min(runs, 20))]:
            sample = {}
            tokens = preprocessor(tf.constant([item.text or ""]))
            sample.update({key: tokens[key] for key in ("token_ids", "segment_ids", "padding_mask")})
            if audio_encoder is not None:
                patches = waveform_to_examples(load_audio(item.audio_path), max_patches=max_patches)[tf.newaxis]
                sample.update({"audio_patches": patches, "audio_mask": tf.ones(tf.shape(patches)[:2], tf.bool)})
            self.samples.append(sample)

    def full_model(self, trained: TrainedModel) -> keras.Model:
        models = trained.models
        audio_encoder = trained.audio.encoder if trained.audio is not None else self.audio_encoder
        return build_raw_model(models.head, models.text_encoder, audio_encoder, name=f"{trained.name}_full")

    def latency_ms(self, trained: TrainedModel) -> float | None:
        if not self.samples or self.runs < 1:
            return None
        model = self.full_model(trained)
        signature = {
            key: tf.TensorSpec([1, *tensor.shape[1:]], tensor.dtype) for key, tensor in model.input.items()
        }
        predict = tf.function(lambda inputs: model(inputs, training=False)["logits"], input_signature=[signature])
        samples = [{key: sample[key] for key in signature} for sample in self.samples]
        return measure_latency(predict, samples, warmup=3, repeats=self.runs)["median_ms"]


def _display_name(key: str, model: TrainedModel, audio_label: str | None = "VGGish") -> str:
    """The Table II name: `BERT_k-VGGish + KD`, `BERT_2x128-AudioCNN (compact)`, ..."""
    if model.kind != "layers":
        width = model.models.text_encoder.hidden_dim if model.models.text_encoder is not None else 0
        name = compact_student_label(model.kind, model.text_layers, width, audio_label)
    else:
        name = "-".join(([f"BERT_{model.text_layers}"] if model.text_layers else []) + ([audio_label] if audio_label else []))
    if key == "teacher":
        return f"{name} (teacher)"
    return name + (" + KD" if model.distilled else "")


def _train_compact_student(
    spec: str, fold: _Fold, teacher: _Teacher, audio: AudioBranch | None
) -> dict[str, TrainedModel]:
    """Trains one named compact student (`COMPACT_STUDENTS`) with and without distillation.

    `audio` is the students' own audio branch (`audio_student_branch`), `None` without audio.
    """
    if spec == "compact" and teacher.text_encoder is None or spec == "audio-compact" and audio is None:
        logger.warning("The %s student needs the %s branch, which this job does not have: skipped.",
                       spec, "text" if spec == "compact" else "audio")
        return {}
    initial_weights, features, modality = None, None, "audio"
    if spec == "compact":
        text_spec = compact_text_spec(teacher.text_encoder)
        seed_model_weights(fold.config.recipe.seed, fold.name, "compact_text_encoder")
        with fold.strategy.scope():
            encoder = build_narrow_text_encoder(teacher.text_encoder, text_spec)
        initial_weights = encoder.get_weights()
        features = fold.text_features(encoder)
        modality = fold.config.model.modality
    trained = {}
    for distilled in _student_variants(fold.config):
        name = spec.replace("-", "_") + ("_kd" if distilled else "")
        encoder = None
        if initial_weights is not None:  # each variant starts from the same initial encoder
            with fold.strategy.scope():
                encoder = build_narrow_text_encoder(teacher.text_encoder, text_spec, from_teacher=False)
            encoder.set_weights(initial_weights)
        model = fold.trainer.train(
            name, fold.student_dir, encoder, features,
            teacher=teacher.model if distilled else None,
            teacher_features=teacher.tuned_features if distilled else None,
            modality=modality,
            audio=audio,
            finetune=fold.config.recipe.compact_finetune_stage,
        )
        trained[name] = dataclasses.replace(model, kind=spec)
    return trained


def _log_truncation(preprocessor, folds: Sequence[tuple[str, Splits]]) -> None:
    """Logs, per split, how many transcripts are longer than the sequence length (and so cut)."""
    for fold_name, splits in folds:
        counts = {
            name: (count_truncated(preprocessor, [item.text for item in items]), len(items))
            for name, items in splits._asdict().items()
        }
        message = ", ".join(f"{name} {cut} of {total}" for name, (cut, total) in counts.items())
        cut_any = any(cut for cut, _ in counts.values())
        logger.log(
            logging.WARNING if cut_any else logging.INFO,
            "Transcripts longer than %d tokens, cut%s: %s.%s", preprocessor.sequence_length,
            "" if fold_name == "main" else f" ({fold_name})", message,
            " Raise --sequence-length to keep them whole." if cut_any else "",
        )


def _write_splits(folds: Sequence[tuple[str, Splits]], path: str) -> None:
    """`splits.csv`: `utterance_id,fold,split` of every item the job uses (the same for every --seed)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance_id", "fold", "split"])
        for fold_name, splits in folds:
            for split_name, items in splits._asdict().items():
                writer.writerows([item.utterance_id, fold_name, split_name] for item in items)


def _speaker_normalization(
    config: DistillJobConfig, fold_name: str, splits: Splits, patches: dict
) -> FoldNormalization:
    """The fold's speaker-normalised patches (`normalize_fold`), logged: enrolment clips, speakers left unscored."""
    recipe = config.recipe
    normalization = normalize_fold(patches, splits, recipe.speaker_statistics, recipe.enrolment_clips)
    if not normalization.normalized:
        logger.warning(
            "Speaker normalisation is on, but the %s split has fewer than two speakers: its clips are left "
            "as they are, and the exports take no speaker statistics.", fold_name,
        )
        return normalization
    if recipe.transductive:
        logger.warning(
            "Speaker normalisation with all of each speaker's clips (--speaker-statistics all-clips): the test "
            "speakers' statistics include the scored clips, which a deployment cannot reproduce clip by clip; "
            "Table II marks these rows."
        )
    else:
        logger.info(
            "Speaker normalisation: each speaker by its first %d clips of its split (training speakers' are "
            "trained on; the validation and test speakers' %d enrolment clips are not scored).",
            recipe.enrolment_clips, len(normalization.enrolment),
        )
    for name, items in (("validation", splits.validation), ("test", splits.test)):
        speakers = {item.speaker for item in items if item.speaker}
        unscored = [s for s in sorted(speakers) if all(i.utterance_id in normalization.enrolment for i in items if i.speaker == s)]
        if unscored:
            logger.warning(
                "%s speakers %s have no more than %d %s clips: all of them are enrolment, none is scored.",
                len(unscored), ", ".join(unscored[:5]), recipe.enrolment_clips, name,
            )
    return normalization


def _scored_splits(splits: Splits, enrolment: frozenset[str], enrolment_clips: int) -> Splits:
    """The splits without the enrolment clips (training clips are never enrolment).

    Raises:
        DatasetError: when the enrolment clips are all of a validation or test split.
    """
    scored = Splits(
        splits.train,
        [item for item in splits.validation if item.utterance_id not in enrolment],
        [item for item in splits.test if item.utterance_id not in enrolment],
    )
    for name in ("validation", "test"):
        if getattr(splits, name) and not getattr(scored, name):
            raise DatasetError(
                f"--enrolment-clips {enrolment_clips} leaves no {name} clip to score: each {name} speaker has at "
                "most that many clips, all used as its enrolment. Lower --enrolment-clips, or use "
                "--speaker-statistics all-clips or --no-speaker-normalization."
            )
    return scored


def _marked_transductive(result: ModelResult) -> ModelResult:
    """`result` marked transductive when its model or probe reads the (all-clips normalised) audio."""
    reads_audio = result.extra.get("audio_encoder") is not None if result.role != "reference" else "audio" in result.name
    return dataclasses.replace(result, transductive=reads_audio)


def _write_test_clips(config: DistillJobConfig, fold_name: str, splits: Splits, patches: dict | None) -> str:
    """`<run>/predictions/test_clips[_<fold>].csv`: a `ser-predict --manifest` input of the fold's test clips.

    Every test clip the served models can read is listed, enrolment clips
    included, so that `ser-predict` draws the same enrolment sets (it marks
    them in its `enrolment` column; the job does not score them). In a job
    with audio (`patches`), clips without decodable audio are left out.
    """
    items = [item for item in splits.test if patches is None or item.utterance_id in patches]
    if len(items) < len(splits.test):
        logger.info(
            "predictions/test_clips: %d of %d test clips have no decodable audio and are not listed "
            "(a model that reads audio cannot be served them).", len(splits.test) - len(items), len(splits.test),
        )
    directory = os.path.join(config.run_dir, "predictions")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"test_clips{'' if fold_name == 'main' else '_' + fold_name}.csv")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance_id", "path", "text", "label", "speaker"])
        for item in items:
            writer.writerow([
                item.utterance_id, os.path.abspath(item.audio_path) if item.audio_path else "", item.text or "",
                item.label, item.speaker or "",
            ])
    return path


def _teacher_root(config: DistillJobConfig) -> str:
    """The saved teachers (`<settings hash>/<data digest>/<fold>`), shared by the jobs of `output_dir`."""
    return os.path.join(config.output_dir, "teachers")


def _student_root(config: DistillJobConfig) -> str:
    """The run's students (`<settings hash>/<data digest>/<fold>`)."""
    return os.path.join(config.run_dir, "models")


def _teacher_dir(config: DistillJobConfig, digest: str, fold_name: str) -> str:
    """A fold's teacher (and its audio encoder), shared by jobs with the same settings and data."""
    return os.path.join(_teacher_root(config), config.teacher_fingerprint(), digest, fold_name)


def _student_dir(config: DistillJobConfig, digest: str, fold_name: str) -> str:
    """A fold's students, in the run directory."""
    return os.path.join(_student_root(config), config.training_fingerprint(), digest, fold_name)


def _log_reuse(config: DistillJobConfig, digest: str, students_digest: str) -> None:
    """Says whether the saved teacher and students can be reused, and records this job's settings for later jobs."""
    for kind, root, teacher_only, digest in (
        ("teacher", _teacher_root(config), True, digest), ("students", _student_root(config), False, students_digest)
    ):
        fingerprint = config.teacher_fingerprint() if teacher_only else config.training_fingerprint()
        fields = config.fingerprint_fields(teacher_only)
        logger.info(explain_reuse(kind, root, fingerprint, fields, digest))
        record_settings(root, fingerprint, fields)


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
        os.path.relpath(os.path.join(_teacher_root(config), config.teacher_fingerprint()), shared_dir),
        os.path.relpath(os.path.join(_student_root(config), config.training_fingerprint()), shared_dir),
    )
    with worker_output_dir(shared_dir, role, copied=resume_state, linked=("cache",)) as output_dir:
        if role.is_chief:
            return _run_job(config)
        outputs = _run_job(dataclasses.replace(config, output_dir=output_dir, export=False))
        return outputs.relocated(output_dir, shared_dir)


def _run_job(config: DistillJobConfig) -> JobOutputs:
    keras.utils.set_random_seed(config.recipe.seed)
    tf.config.experimental.enable_op_determinism()
    run_dir = config.run_dir
    log_dir = os.path.join(run_dir, "tensorboard")
    os.makedirs(run_dir, exist_ok=True)
    logger.info("Run directory %s. Monitor with: tensorboard --logdir %s", run_dir, log_dir)
    with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(config.to_dict(), handle, indent=2)
    logger.info("Recipe '%s':\n%s", config.recipe.name, config.recipe.to_json())

    strategy = get_strategy()
    corpus = load_corpus(config.data)
    check_corpus_modalities(corpus, config.model.modality)
    folds = job_folds(corpus, config.data)
    _write_splits(folds, os.path.join(run_dir, "splits.csv"))
    cache = EncoderCache(os.path.join(config.output_dir, "cache"))
    preprocessor = load_text_preprocessor(config.model.text_preset, config.data.sequence_length)
    if uses_text(config.model.modality):
        _log_truncation(preprocessor, folds)
    with_audio = uses_audio(config.model.modality)
    patches = None
    if with_audio:
        patches = cache.log_mel_patches(
            _all_items(folds), skip_report=corpus.skip_report, max_patches=config.data.max_patches
        )
        logger.info("Audio encoder: %s.", config.model.audio_encoder_kind)
    unlabelled, unlabelled_speakers = (
        _unlabelled_audio(config, cache, corpus.skip_report, patches) if with_audio else ({}, {})
    )
    digest = data_digest(folds, patches)
    students_digest = extended_digest(digest, unlabelled)  # the students also learn from the unlabelled clips
    _log_reuse(config, digest, students_digest)
    frozen_vggish = None
    if with_audio and config.model.audio_encoder_kind == "vggish":
        with strategy.scope():
            frozen_vggish = build_audio_encoder(config.model)  # frozen: one for every fold

    per_fold, trained_by_fold, audio_by_fold, references = [], [], [], []
    for fold_name, splits in folds:
        fold_patches, fold_unlabelled, reference, audio, enrolment = patches, unlabelled, None, None, frozenset()
        if with_audio and config.recipe.speaker_normalization:
            normalization = _speaker_normalization(config, fold_name, splits, patches)
            fold_patches, reference, enrolment = normalization.patches, normalization.reference, normalization.enrolment
            if normalization.normalized:  # the extra clips as the corpus's: each by its speaker (or alone)
                fold_unlabelled = normalize_by_speaker(unlabelled, unlabelled_speakers, reference, min_speakers=1)
        _write_test_clips(config, fold_name, splits, patches)
        splits = _scored_splits(splits, enrolment, config.recipe.enrolment_clips)
        references.append(reference)
        if with_audio:
            seed_model_weights(config.recipe.seed, fold_name, "audio_encoder")
            audio = prepare_audio_encoder(
                config.model, config.recipe, splits, corpus.label_names, fold_patches, cache, strategy,
                stage_dir=os.path.join(_teacher_dir(config, digest, fold_name), "audio_encoder"),
                log_dir=os.path.join(log_dir if fold_name == "main" else os.path.join(log_dir, fold_name), "audio_encoder"),
                encoder=frozen_vggish,
            )
        results, trained, text_features = _run_fold(
            config, corpus, fold_name, splits, cache, preprocessor, audio, fold_patches, fold_unlabelled,
            strategy, log_dir, (digest, students_digest),
        )
        results += probe_results(splits, text_features, fold_patches, corpus.label_names)
        if with_audio and config.recipe.transductive and reference is not None:
            results = [_marked_transductive(result) for result in results]
        per_fold.append(results)
        trained_by_fold.append(trained)
        audio_by_fold.append(audio)
    results = aggregate_folds(per_fold, [name for name, _ in folds])

    title = f"{config.data.dataset} ({config.data.protocol}), recipe {config.recipe.name}"
    paths = save_results(
        results, run_dir, title=title,
        metadata={"config": config.to_dict(), "skipped": len(corpus.skip_report)},
    )
    markdown = results_markdown(results)
    log_text(os.path.join(log_dir, "summary"), "results", markdown)
    corpus.skip_report.write_csv(os.path.join(run_dir, "skipped.csv"))
    outputs = JobOutputs(
        run_dir=run_dir,
        log_dir=log_dir,
        results=results,
        results_paths=paths,
        confusion_matrices=sorted(
            os.path.join(run_dir, "confusion", name) for name in os.listdir(os.path.join(run_dir, "confusion"))
        ),
        skipped_summary=corpus.skip_report.summary(len(corpus) + len(corpus.skip_report)),
    )
    if config.export:
        if len(folds) > 1:
            logger.info(
                "Exporting the models trained on fold %s (of %d); the best student is the one with the "
                "best mean validation accuracy over the folds.", folds[0][0], len(folds),
            )
        outputs.exports = _export_models(
            config, results, trained_by_fold[0], audio_by_fold[0].encoder if audio_by_fold[0] else None,
            preprocessor, corpus, references[0],
        )
    logger.info("Results:\n%s", markdown)
    return outputs


@dataclass
class _Fold:
    """What every step of one fold's training and scoring shares."""

    config: DistillJobConfig
    name: str
    splits: Splits
    label_names: tuple[str, ...]
    cache: EncoderCache
    preprocessor: object
    strategy: tf.distribute.Strategy
    log_dir: str
    trainer: FoldTrainer
    digest: str
    students_digest: str

    @property
    def items(self) -> list:
        return [*self.splits.train, *self.splits.validation, *self.splits.test]

    @property
    def teacher_dir(self) -> str:
        return _teacher_dir(self.config, self.digest, self.name)

    @property
    def student_dir(self) -> str:
        return _student_dir(self.config, self.students_digest, self.name)

    def text_features(self, encoder: keras.Model) -> dict:
        return self.cache.text_features(self.items, encoder, self.preprocessor)


@dataclass
class _Teacher:
    """The fold's trained teacher, its BERT, and that BERT's cached features before and after fine-tuning."""

    model: TrainedModel
    text_encoder: keras.Model | None = None
    frozen_features: dict | None = None
    tuned_features: dict | None = None


def _run_fold(
    config: DistillJobConfig,
    corpus: Corpus,
    fold_name: str,
    splits: Splits,
    cache: EncoderCache,
    preprocessor,
    audio: AudioBranch | None,
    patches: dict | None,
    unlabelled_patches: dict,
    strategy: tf.distribute.Strategy,
    log_dir: str,
    digests: tuple[str, str],
) -> tuple[list[ModelResult], dict[str, TrainedModel], dict | None]:
    """Trains and scores one fold's models; also returns the frozen text features (for the probes).

    `unlabelled_patches` (`--unlabelled-audio`) go to the compact students' audio encoder alone.

    The outline: the teacher (`_train_teacher`), the layer students
    (`_train_layer_students`), the compact students and their audio encoder
    (`_train_compact_students`), then each model's scores, logs, parameters
    and latency (`_score_model`).
    """
    fold_log_dir = log_dir if fold_name == "main" else os.path.join(log_dir, fold_name)
    label_names = tuple(corpus.label_names)
    trainer = FoldTrainer(
        FoldData(fold_name, splits, fold_log_dir, label_names), config.recipe, preprocessor,
        audio.embeddings if audio else None, strategy,
        pooling=config.model.pooling_kind, modality=config.model.modality,
        audio_statistics=clip_statistics(patches) if patches and config.model.audio_statistics else None,
        sentence_logits=config.model.sentence_logits,
    )
    fold = _Fold(config, fold_name, splits, label_names, cache, preprocessor, strategy, fold_log_dir, trainer, *digests)
    teacher = _train_teacher(fold)
    trained = {"teacher": teacher.model}
    trained.update(_train_layer_students(fold, teacher))
    trained.update(_train_compact_students(fold, teacher, audio, patches, unlabelled_patches))

    parameter_rows = _parameter_rows(fold, teacher, audio)
    measurer = _ModelMeasurer(
        audio.encoder if audio else None, preprocessor, splits.test, config.latency_runs, config.data.max_patches
    )
    results = [_score_model(fold, key, model, audio, parameter_rows, measurer) for key, model in trained.items()]
    return results, trained, teacher.frozen_features if config.model.modality != "audio" else None


def _train_teacher(fold: _Fold) -> _Teacher:
    """The teacher through both stages (or reused from `teachers/<hash>`), and its BERT's cached features."""
    model = fold.config.model
    if not uses_text(model.modality):
        return _Teacher(fold.trainer.train("teacher", fold.teacher_dir, None, None))
    with fold.strategy.scope():
        encoder = load_text_encoder(model.text_preset, model.teacher_layers)
    frozen = fold.text_features(encoder)
    trained = fold.trainer.train("teacher", fold.teacher_dir, encoder, frozen)
    return _Teacher(trained, encoder, frozen, fold.text_features(encoder))


def _student_variants(config: DistillJobConfig) -> tuple[bool, ...]:
    """Whether each variant of a student is distilled: without and with, or with only (`--no-baselines`)."""
    return (False, True) if config.model.baselines else (True,)


def _train_layer_students(fold: _Fold, teacher: _Teacher) -> dict[str, TrainedModel]:
    """The paper's students: the teacher's first k BERT layers, without and with distillation."""
    model = fold.config.model
    if model.modality == "audio" and model.student_layers:
        logger.warning("Audio-only models have no text encoder to shrink: training the teacher only.")
        return {}
    trained = {}
    for layers in model.student_layers:
        for distilled in _student_variants(fold.config):
            with fold.strategy.scope():
                encoder = load_text_encoder(model.text_preset, layers)
            name = f"student_k{layers}" + ("_kd" if distilled else "")
            trained[name] = fold.trainer.train(
                name, fold.student_dir, encoder, fold.text_features(encoder),
                teacher=teacher.model if distilled else None,
                teacher_features=teacher.tuned_features if distilled else None,
            )
    return trained


def _train_compact_students(
    fold: _Fold, teacher: _Teacher, audio: AudioBranch | None, patches: dict | None, unlabelled_patches: dict
) -> dict[str, TrainedModel]:
    """The named compact students, after their audio encoder (distilled from the teacher's, or shared)."""
    if not fold.config.model.compact_students:
        return {}
    student_audio = None
    if audio is not None:
        seed_model_weights(fold.config.recipe.seed, fold.name, "audio_student")
        student_audio = audio_student_branch(
            audio, fold.config.recipe, fold.splits, patches, fold.cache, fold.strategy,
            stage_dir=os.path.join(fold.student_dir, "audio_student"),
            log_dir=os.path.join(fold.log_dir, "audio_student"),
            unlabelled_patches=unlabelled_patches,
        )
        if student_audio is not audio:
            logger.info(
                "The compact students' audio feature term is the audio student's own stage; in the fusion "
                "stages their audio encoder is frozen (cached embeddings), so the term is left out there."
            )
    trained = {}
    for spec in fold.config.model.compact_students:
        trained.update(_train_compact_student(spec, fold, teacher, student_audio))
    return trained


def _parameter_rows(fold: _Fold, teacher: _Teacher, audio: AudioBranch | None) -> dict:
    """Table I rows (parameters by component) of the teacher and the layer students, by layer count."""
    if teacher.text_encoder is None:
        return {}
    layer_counts = {int(teacher.text_encoder.num_layers), *fold.config.model.student_layers}
    rows = parameter_table(
        teacher.text_encoder,
        layer_counts=sorted(layer_counts, reverse=True),
        vggish_parameters=audio.encoder.count_params() if audio else 0,
        num_classes=len(fold.label_names),
    )
    return {row.num_text_layers: row for row in rows}


def _score_model(
    fold: _Fold,
    key: str,
    model: TrainedModel,
    audio: AudioBranch | None,
    parameter_rows: dict,
    measurer: _ModelMeasurer,
) -> ModelResult:
    """One model's Table II row: scores on validation and test, parameters, latency; its plots and logs."""
    scores = {split: fold.trainer.evaluate(model, getattr(fold.splits, split)) for split in ("validation", "test")}
    own_audio = model.audio or audio
    display = _display_name(key, model, own_audio.label if own_audio else None)
    _write_evaluation(fold, key, model, display, scores)
    row = parameter_rows.get(model.text_layers) if model.kind == "layers" else None
    reads_audio = own_audio is not None and AUDIO_EMBEDDINGS in model.models.head.input
    params = row.to_dict() if row else component_parameters(
        model.models.head, model.models.text_encoder, own_audio.encoder if reads_audio else None
    )
    collapsed = predicts_one_class(scores["validation"]["confusion_matrix"])
    if collapsed:
        logger.warning(
            "%s collapsed: every validation prediction is one class. Its scores are chance-level; "
            "see docs/RESULTS.md (collapse guard) for what to change.", display,
        )
    logger.info(
        "%s: validation acc %.4f, test acc %.4f", display, scores["validation"]["scores"]["acc"],
        scores["test"]["scores"]["acc"],
    )
    fidelity = model.audio.record.get("fidelity") if model.audio is not None else None
    return ModelResult(
        name=display,
        text_layers=model.text_layers,
        distilled=model.distilled,
        params=params,
        latency_ms=measurer.latency_ms(model),
        validation=scores["validation"]["scores"],
        test=scores["test"]["scores"],
        role="teacher" if key == "teacher" else "student",
        collapsed=collapsed,
        extra={
            "model_key": key,
            "student_kind": model.kind,
            "audio_encoder": own_audio.kind if own_audio else None,
            "stages": {k: {"best_epoch": v["best_epoch"] + 1} for k, v in model.stages.items()},
            **({"audio_fidelity": fidelity} if fidelity else {}),
        },
    )


def _write_predictions(path: str, items: Sequence, scores: dict) -> None:
    """A model's predicted label of each scored clip: `utterance_id,label,predicted_label`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    predictions = scores["predictions"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance_id", "label", "predicted_label"])
        writer.writerows([item.utterance_id, item.label, predictions[item.utterance_id]]
                         for item in items if item.utterance_id in predictions)


def _write_evaluation(fold: _Fold, key: str, model: TrainedModel, display: str, scores: dict) -> None:
    """A model's test confusion-matrix PNG, and its scores, confusion matrices and hyperparameters in TensorBoard."""
    config, label_names = fold.config, fold.label_names
    confusion_dir = os.path.join(config.run_dir, "confusion")
    os.makedirs(confusion_dir, exist_ok=True)
    suffix = "" if fold.name == "main" else f"_{fold.name}"
    _write_predictions(os.path.join(config.run_dir, "predictions", f"{key}{suffix}_test.csv"), fold.splits.test, scores["test"])
    save_confusion_matrix_png(
        scores["test"]["confusion_matrix"], label_names, os.path.join(confusion_dir, f"{key}{suffix}_test.png"),
        title=f"{display}: test",
    )
    evaluation_dir = os.path.join(fold.log_dir, key, "evaluation")
    for split in ("validation", "test"):
        png = confusion_matrix_png(scores[split]["confusion_matrix"], label_names, title=f"{display}: {split}")
        log_confusion_matrix(evaluation_dir, f"confusion/{split}", png)
    flat_scores = {
        f"{split}/{metric}": scores[split]["scores"][metric] for split in ("validation", "test") for metric in TABLE_METRICS
    }
    log_scores(evaluation_dir, flat_scores)
    distillation = config.recipe.distillation
    log_hparams(
        os.path.join(fold.log_dir, "hparams", key),
        {
            "model": key,
            "text_layers": model.text_layers,
            "distilled": model.distilled,
            "alpha": distillation.alpha if model.distilled else 0.0,
            "temperature": distillation.temperature if model.distilled else 0.0,
            "recipe": config.recipe.name,
            "batch_size": config.recipe.batch_size,
        },
        flat_scores,
    )


def _export_models(config, results, trained, audio_encoder, preprocessor, corpus, speaker_reference) -> dict[str, str]:
    from ser_keras.export import export_model

    students = [r for r in results if r.role == "student"]
    chosen = {"teacher": "teacher"}
    if students:
        best = max(students, key=lambda r: (r.validation.get("acc", 0.0), -r.text_layers))
        chosen["best_student"] = best.extra["model_key"]
    if config.export_all:
        chosen.update({r.extra["model_key"]: r.extra["model_key"] for r in students})
    exports = {}
    for role, key in chosen.items():
        model = trained[key]
        own_audio_encoder = model.audio.encoder if model.audio is not None else audio_encoder
        full = build_raw_model(model.models.head, model.models.text_encoder, own_audio_encoder, name=key)
        export_dir = os.path.join(config.run_dir, "export", role)
        exports[f"{role} ({key})"] = export_model(
            full, preprocessor, corpus.label_names, export_dir, version=_next_version(export_dir),
            max_patches=config.data.max_patches,
            speaker_reference=speaker_reference if "audio_patches" in full.input else None,
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
