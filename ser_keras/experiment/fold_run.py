"""One fold of the distillation job, as its list of steps (`run_fold`).

1. `_fold_inputs`: the fold's clips as its models read them: log-mel patches
   normalised by speaker (`normalize_fold`, when on), `<run>/predictions/test_clips.csv`
   for `ser-predict`, and the splits without the enrolment clips (`_scored_splits`);
2. `_train_audio_stage`: the fold's audio encoder (trained from the labels, or
   the frozen VGGish) and its embeddings of every clip;
3. `_train_teacher`, `_train_layer_students`, `_train_compact_students`: the models;
4. `model_rows.score_models`: each model's Table II row; then the linear
   probes' rows, and under `--speaker-statistics all-clips` the rows that read
   audio marked transductive.

Example:

>>> fold = run_fold(job, "main", splits)  # doctest: +SKIP
>>> [row.name for row in fold.results][0]  # doctest: +SKIP
'BERT_6-AudioCNN (teacher)'
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from dataclasses import dataclass

import keras

from ser_keras.config import DistillJobConfig
from ser_keras.data import DatasetError, Splits
from ser_keras.data.speaker_norm import (
    BandStatistics,
    FoldNormalization,
    normalize_by_speaker,
    normalize_fold,
)
from ser_keras.experiment.audio_stage import AudioBranch, prepare_audio_encoder
from ser_keras.experiment.audio_student import audio_student_branch
from ser_keras.experiment.context import FoldContext, FoldInputs, JobContext
from ser_keras.experiment.model_rows import score_models
from ser_keras.experiment.probe_rows import probe_results
from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel
from ser_keras.models import clip_statistics
from ser_keras.models.fusion import uses_text
from ser_keras.reporting import ModelResult
from ser_keras.text import load_text_encoder
from ser_keras.text.narrow import build_narrow_text_encoder, compact_text_spec
from ser_keras.training.seeds import seed_model_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldRun:
    """A fold's rows, and what the exports of its models need.

    Attributes:
        results: the Table II rows of its models and probes.
        trained: model key -> trained model.
        audio: the fold's audio branch (`None` without audio).
        speaker_reference: the band statistics its clips were normalised to (`None`: not normalised).
    """

    results: list[ModelResult]
    trained: dict[str, TrainedModel]
    audio: AudioBranch | None
    speaker_reference: BandStatistics | None


@dataclass(frozen=True)
class _Teacher:
    """The fold's trained teacher, its BERT, and that BERT's cached features before and after fine-tuning."""

    model: TrainedModel
    text_encoder: keras.Model | None = None
    frozen_features: dict | None = None
    tuned_features: dict | None = None


def run_fold(job: JobContext, name: str, splits: Splits) -> FoldRun:
    """Trains and scores one fold's models: its rows, and its trained models for the exports."""
    inputs = _fold_inputs(job, name, splits)
    audio = _train_audio_stage(job, inputs)
    fold = FoldContext(job, inputs, audio, _fold_trainer(job, inputs, audio))
    teacher = _train_teacher(fold)
    trained = {"teacher": teacher.model}
    trained.update(_train_layer_students(fold, teacher))
    trained.update(_train_compact_students(fold, teacher))
    results = score_models(fold, trained, teacher.text_encoder)
    text_features = teacher.frozen_features if job.config.model.modality != "audio" else None
    results += probe_results(fold.splits, text_features, inputs.patches, job.corpus.label_names)
    if job.with_audio and job.config.recipe.transductive and inputs.speaker_reference is not None:
        results = [_marked_transductive(result) for result in results]
    return FoldRun(results, trained, audio, inputs.speaker_reference)


def _fold_inputs(job: JobContext, name: str, splits: Splits) -> FoldInputs:
    """The fold's clips as its models read them; on the way, its test clips listed for `ser-predict`.

    With audio and speaker normalisation the corpus's patches are normalised
    (`normalize_fold`), and the unlabelled clips alike (each by its speaker, or
    alone); the validation and test speakers' enrolment clips then leave the
    splits (`_scored_splits`).
    """
    config = job.config
    patches, unlabelled, reference, enrolment = job.patches, job.unlabelled_patches, None, frozenset()
    if job.with_audio and config.recipe.speaker_normalization:
        normalization = _speaker_normalization(config, name, splits, job.patches)
        patches, reference, enrolment = normalization.patches, normalization.reference, normalization.enrolment
        if normalization.normalized:  # the extra clips as the corpus's: each by its speaker (or alone)
            unlabelled = normalize_by_speaker(
                job.unlabelled_patches, job.unlabelled_speakers, reference, min_speakers=1
            )
    _write_test_clips(config, name, splits, job.patches)
    scored = _scored_splits(splits, enrolment, config.recipe.enrolment_clips)
    return FoldInputs(name, scored, patches, unlabelled, reference)


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


def _marked_transductive(result: ModelResult) -> ModelResult:
    """`result` marked transductive when its model or probe reads the (all-clips normalised) audio."""
    reads_audio = result.extra.get("audio_encoder") is not None if result.role != "reference" else "audio" in result.name
    return dataclasses.replace(result, transductive=reads_audio)


def _train_audio_stage(job: JobContext, inputs: FoldInputs) -> AudioBranch | None:
    """The fold's audio encoder (`prepare_audio_encoder`: trained from the labels, or VGGish frozen); `None` without audio."""
    if not job.with_audio:
        return None
    config = job.config
    seed_model_weights(config.recipe.seed, inputs.name, "audio_encoder")
    return prepare_audio_encoder(
        config.model, config.recipe, inputs.splits, job.corpus.label_names, inputs.patches, job.cache, job.strategy,
        stage_dir=os.path.join(job.teacher_dir(inputs.name), "audio_encoder"),
        log_dir=os.path.join(job.fold_log_dir(inputs.name), "audio_encoder"),
        encoder=job.frozen_vggish,
    )


def _fold_trainer(job: JobContext, inputs: FoldInputs, audio: AudioBranch | None) -> FoldTrainer:
    """The fold's two-stage trainer, on the audio branch's embeddings and the clips' utterance statistics."""
    config = job.config
    return FoldTrainer(
        FoldData(inputs.name, inputs.splits, job.fold_log_dir(inputs.name), tuple(job.corpus.label_names)),
        config.recipe, job.preprocessor, audio.embeddings if audio else None, job.strategy,
        pooling=config.model.pooling_kind, modality=config.model.modality,
        audio_statistics=(
            clip_statistics(inputs.patches) if inputs.patches and config.model.audio_statistics else None
        ),
        sentence_logits=config.model.sentence_logits,
        head_dropout=config.model.head_dropout,
    )


def _train_teacher(fold: FoldContext) -> _Teacher:
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


def _train_layer_students(fold: FoldContext, teacher: _Teacher) -> dict[str, TrainedModel]:
    """The paper's students: the teacher's first k BERT layers, without and with distillation."""
    model = fold.config.model
    if model.modality == "audio" and model.student_layers:
        logger.warning("Audio-only models have no text encoder to shrink: no layer students.")
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


def _train_compact_students(fold: FoldContext, teacher: _Teacher) -> dict[str, TrainedModel]:
    """The named compact students, after their audio encoder (distilled from the teacher's, or shared).

    `--unlabelled-audio` clips go to that audio encoder alone.
    """
    if not fold.config.model.compact_students:
        return {}
    student_audio = None
    if fold.audio is not None:
        seed_model_weights(fold.config.recipe.seed, fold.name, "audio_student")
        student_audio = audio_student_branch(
            fold.audio, fold.config.recipe, fold.splits, fold.inputs.patches, fold.job.cache, fold.strategy,
            stage_dir=os.path.join(fold.student_dir, "audio_student"),
            log_dir=os.path.join(fold.log_dir, "audio_student"),
            unlabelled_patches=fold.inputs.unlabelled_patches,
        )
        if student_audio is not fold.audio:
            logger.info(
                "The compact students' audio feature term is the audio student's own stage; in the fusion "
                "stages their audio encoder is frozen (cached embeddings), so the term is left out there."
            )
    trained = {}
    for spec in fold.config.model.compact_students:
        trained.update(_train_compact_student(spec, fold, teacher, student_audio))
    return trained


def _train_compact_student(
    spec: str, fold: FoldContext, teacher: _Teacher, audio: AudioBranch | None
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
