"""What the distillation job's steps read: the job's inputs, one fold's, and where saved models go.

* `JobContext`: read once before the first fold (`job_inputs.read_job_inputs`)
  and shared by every fold;
* `FoldInputs`: one fold's clips as its models read them (`fold_run._fold_inputs`);
* `FoldContext`: what every step of one fold's training and scoring reads
  (`fold_run.run_fold` builds it, `model_rows` scores with it);
* `teacher_dir` / `student_dir`: the folders of the saved models,
  `<root>/<settings hash>/<data digest>/<fold>`.

Example:

>>> job.teacher_dir("main")  # doctest: +SKIP
'saved_models/teachers/<settings hash>/<data digest>/main'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf

from ser_keras.config import DistillJobConfig
from ser_keras.data import Corpus, EncoderCache, Splits
from ser_keras.data.speaker_norm import BandStatistics
from ser_keras.experiment.audio_stage import AudioBranch
from ser_keras.experiment.trainer import FoldTrainer
from ser_keras.models.fusion import uses_audio


@dataclass(frozen=True)
class JobContext:
    """What the job reads once and every fold shares.

    Attributes:
        config: the job's configuration.
        corpus: the corpus (its label names and skip report).
        folds: `(fold name, splits)` of every fold (`"main"` alone without LOSO).
        cache: the encoder outputs' cache, `<output_dir>/cache`.
        preprocessor: the text preprocessor (tokenizer) of the teacher's preset.
        strategy: the `tf.distribute` strategy.
        log_dir: the run's TensorBoard directory.
        patches: utterance id -> log-mel patches of every clip; `None` in a job without audio.
        unlabelled_patches: clip id -> patches of `--unlabelled-audio` (empty without it).
        unlabelled_speakers: clip id -> speaker of those clips.
        digest: the data digest naming the saved teachers' folders.
        students_digest: the students' (the data digest and the unlabelled clips).
        frozen_vggish: the frozen VGGish of every fold (`--audio-encoder vggish`), else `None`.
    """

    config: DistillJobConfig
    corpus: Corpus
    folds: Sequence[tuple[str, Splits]]
    cache: EncoderCache
    preprocessor: object
    strategy: tf.distribute.Strategy
    log_dir: str
    patches: dict | None
    unlabelled_patches: dict
    unlabelled_speakers: dict
    digest: str
    students_digest: str
    frozen_vggish: keras.Model | None

    @property
    def with_audio(self) -> bool:
        """Whether the job's models read audio (`--modality multimodal` or `audio`)."""
        return uses_audio(self.config.model.modality)

    def fold_log_dir(self, fold_name: str) -> str:
        """A fold's TensorBoard directory: the run's for `"main"`, a subfolder for a LOSO fold."""
        return self.log_dir if fold_name == "main" else os.path.join(self.log_dir, fold_name)

    def teacher_dir(self, fold_name: str) -> str:
        return teacher_dir(self.config, self.digest, fold_name)

    def student_dir(self, fold_name: str) -> str:
        return student_dir(self.config, self.students_digest, fold_name)


@dataclass(frozen=True)
class FoldInputs:
    """One fold's clips as its models read them.

    Attributes:
        name: the fold's name (`"main"`, or a LOSO fold's).
        splits: its splits without the enrolment clips: the clips it trains on and scores.
        patches: utterance id -> log-mel patches, speaker-normalised when that is on; `None` without audio.
        unlabelled_patches: the `--unlabelled-audio` patches, normalised alike.
        speaker_reference: the training split's band statistics the clips are normalised
            to (exported with the models); `None` when they are not normalised.
    """

    name: str
    splits: Splits
    patches: dict | None
    unlabelled_patches: dict
    speaker_reference: BandStatistics | None


@dataclass(frozen=True)
class FoldContext:
    """What every step of one fold's training and scoring reads.

    Attributes:
        job: what the job read once.
        inputs: the fold's clips.
        audio: the fold's frozen audio encoder and its embeddings; `None` without audio.
        trainer: the fold's two-stage trainer.
    """

    job: JobContext
    inputs: FoldInputs
    audio: AudioBranch | None
    trainer: FoldTrainer

    @property
    def config(self) -> DistillJobConfig:
        return self.job.config

    @property
    def name(self) -> str:
        return self.inputs.name

    @property
    def splits(self) -> Splits:
        return self.inputs.splits

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.job.corpus.label_names)

    @property
    def strategy(self) -> tf.distribute.Strategy:
        return self.job.strategy

    @property
    def log_dir(self) -> str:
        return self.job.fold_log_dir(self.name)

    @property
    def teacher_dir(self) -> str:
        return self.job.teacher_dir(self.name)

    @property
    def student_dir(self) -> str:
        return self.job.student_dir(self.name)

    @property
    def items(self) -> list:
        return [*self.splits.train, *self.splits.validation, *self.splits.test]

    def text_features(self, encoder: keras.Model) -> dict:
        """`encoder`'s outputs on every clip of the fold (cached)."""
        return self.job.cache.text_features(self.items, encoder, self.job.preprocessor)


def teacher_root(config: DistillJobConfig) -> str:
    """The saved teachers (`<settings hash>/<data digest>/<fold>`), shared by the jobs of `output_dir`."""
    return os.path.join(config.output_dir, "teachers")


def student_root(config: DistillJobConfig) -> str:
    """The run's students (`<settings hash>/<data digest>/<fold>`)."""
    return os.path.join(config.run_dir, "models")


def teacher_dir(config: DistillJobConfig, digest: str, fold_name: str) -> str:
    """A fold's teacher (and its audio encoder), shared by jobs with the same settings and data."""
    return os.path.join(teacher_root(config), config.teacher_fingerprint(), digest, fold_name)


def student_dir(config: DistillJobConfig, digest: str, fold_name: str) -> str:
    """A fold's students, in the run directory."""
    return os.path.join(student_root(config), config.training_fingerprint(), digest, fold_name)
