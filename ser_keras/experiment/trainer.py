"""Two-stage training of one teacher or student on one fold.

Every model starts from initial weights, and draws dropout masks (its text
encoder's included), that depend on the seed, the fold and its name alone
(`ser_keras.training.seeds`); a student and its distilled twin start from the
same weights and draw the same masks.

Stage 1 (transfer learning): both encoders frozen; only the fusion head trains,
on encoder outputs computed once (`ser_keras.data.EncoderCache`). Stage 2
(fine-tuning): the text encoder is unfrozen and trains with the head; the audio
encoder stays frozen, so its cached embeddings are still used. Each stage keeps
its best validation epoch, or its last with `Recipe.selection_metric="last"`
(`ser_keras.training.stages.run_stage`), and stage 2
starts from stage 1's best weights.

A student with distillation trains through a `Distiller` whose frozen teacher
is replayed from its recorded outputs (`ser_keras.training.recorded_teacher`):
its logits are computed once per student (its train and validation splits, in
one pass) from the teacher's own cached inputs (its fine-tuned text features and
the shared audio embeddings) and served with the
student's batches, beside its cached text features where the feature loss needs
them, so the teacher costs nothing per step.

Example:

>>> trainer = FoldTrainer(fold, recipe, preprocessor, audio_embeddings, strategy)  # doctest: +SKIP
>>> teacher = trainer.train("teacher", "runs/t", teacher_encoder, teacher_features)  # doctest: +SKIP
>>> student = trainer.train("student_k2_kd", "runs/s", encoder_k2, features_k2, teacher=teacher,
...                         teacher_features=tuned_teacher_features)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio.statistics import UTTERANCE_STATISTICS_SIZE
from ser_keras.config import NO_CLASS_WEIGHTING, Recipe, StageConfig
from ser_keras.data import Splits, make_dataset
from ser_keras.data.pipeline import Preprocessor
from ser_keras.experiment.audio_stage import AudioBranch
from ser_keras.models import (
    AUDIO_STATISTICS,
    SERModels,
    build_ser_models,
    set_statistics_standardization,
)
from ser_keras.models.fusion import DROPOUT_RATE, TEXT_FEATURES, default_pooling
from ser_keras.training import (
    Distiller,
    classification_metrics,
    confusion_matrix,
    predict_classes,
)
from ser_keras.training.class_weights import balanced_class_weights
from ser_keras.training.classifier import build_classifier
from ser_keras.training.recorded_teacher import build_recorded_teacher, record_teacher_logits
from ser_keras.training.seeds import seed_dropout, seed_model_weights
from ser_keras.training.stages import load_done_stage, make_optimizer, run_stage, stage_is_done

logger = logging.getLogger(__name__)


@dataclass
class FoldData:
    """One fold's splits and where its outputs go.

    Example:

    >>> FoldData("main", splits, "saved_models/demo/tensorboard", DEFAULT_LABELS)  # doctest: +SKIP
    """

    name: str
    splits: Splits
    log_dir: str
    label_names: tuple[str, ...]


@dataclass
class TrainedModel:
    """A trained teacher or student and what its training recorded.

    `kind` is `"layers"` for the teacher and the students that keep its first
    k layers, else the name of a compact student (`"compact"`, `"audio-compact"`).
    `audio` is the model's own audio branch when it is not the fold's (a
    compact student's distilled audio encoder), else `None`.

    Example:

    >>> trained.models.raw_model  # token ids + cached audio embeddings in  # doctest: +SKIP
    """

    name: str
    text_layers: int
    distilled: bool
    models: SERModels
    stages: dict[str, dict] = field(default_factory=dict)
    kind: str = "layers"
    audio: AudioBranch | None = None


def set_text_encoder_trainable(text_encoder: keras.Model, trainable: bool) -> None:
    """Freezes or unfreezes a BERT backbone; its pooler stays frozen (the head reads tokens).

    Example:

    >>> set_text_encoder_trainable(encoder, True)  # doctest: +SKIP
    """
    text_encoder.trainable = trainable
    try:
        text_encoder.get_layer("pooled_dense").trainable = False
    except ValueError:
        pass  # a backbone without a pooler


class FoldTrainer:
    """Trains teachers and students on one fold, sharing its data and caches.

    Args:
        fold: the fold's splits and output directories.
        recipe: the training recipe.
        preprocessor: the tokenizer (stage 2 reads token ids).
        audio_embeddings: cached VGGish outputs, utterance id -> `[N, 128]`.
        strategy: the `tf.distribute` strategy to build and train under.
        pooling, modality: passed to `build_ser_models`.
        audio_statistics: each clip's utterance statistics (`clip_statistics`),
            or `None`; when given, the heads of models that read audio read
            them too, standardised with the training clips' values.
        sentence_logits: the heads of models that read text add linear logits
            of the mean-pooled text features (`build_fusion_head`).
        head_dropout: every model's fusion-head dropout rate (`build_fusion_head`).

    Example:

    >>> trainer = FoldTrainer(fold, get_recipe("demo"), preprocessor, audio, get_strategy())  # doctest: +SKIP
    """

    def __init__(
        self,
        fold: FoldData,
        recipe: Recipe,
        preprocessor: Preprocessor,
        audio_embeddings: Mapping[str, np.ndarray],
        strategy: tf.distribute.Strategy,
        pooling: str = "cls",
        modality: str = "multimodal",
        audio_statistics: Mapping[str, np.ndarray] | None = None,
        sentence_logits: bool = False,
        head_dropout: float = DROPOUT_RATE,
    ) -> None:
        self.fold = fold
        self.recipe = recipe
        self.preprocessor = preprocessor
        self.audio_embeddings = audio_embeddings
        self.strategy = strategy
        self.pooling = pooling
        self.modality = modality
        self.audio_statistics = audio_statistics
        self.sentence_logits = sentence_logits
        self.head_dropout = head_dropout

    # Datasets -----------------------------------------------------------------------------

    def dataset(
        self,
        items: Sequence,
        text_features: Mapping[str, np.ndarray] | None = None,
        shuffle: bool = False,
        epoch: tf.Variable | None = None,
        input_names: Sequence[str] | None = None,
        audio_embeddings: Mapping[str, np.ndarray] | None = None,
        in_order: bool = False,
        teacher_logits: Mapping[str, np.ndarray] | None = None,
    ) -> tf.data.Dataset:
        """Batches of one split: cached text features if given, else token ids; cached audio.

        `input_names` keeps only the inputs a model takes (a text-only or
        audio-only model takes some of them); `audio_embeddings` replaces the
        fold's (a student with its own audio encoder); `in_order` batches the
        items in their order (no length buckets); `teacher_logits` adds a
        teacher's recorded logits (`"teacher_logits"`).

        Example:

        >>> trainer.dataset(fold.splits.test)  # token ids + cached audio  # doctest: +SKIP
        """
        dataset = make_dataset(
            items,
            self.fold.label_names,
            batch_size=self.recipe.batch_size,
            preprocessor=None if text_features is not None else self.preprocessor,
            text_features=text_features,
            audio_embeddings=self.audio_embeddings if audio_embeddings is None else audio_embeddings,
            audio_statistics=self.audio_statistics,
            teacher_logits=teacher_logits,
            shuffle=shuffle,
            seed=self.recipe.seed,
            epoch=epoch,
            **({"bucket_boundaries": None} if in_order else {}),
        )
        if input_names is None:
            return dataset
        names = tuple(input_names)
        return dataset.map(lambda inputs, labels: ({name: inputs[name] for name in names}, labels))

    def _paired(
        self,
        items: Sequence,
        student_features: Mapping[str, np.ndarray] | None,
        teacher_logits: Mapping[str, np.ndarray],
        teacher_features: Mapping[str, np.ndarray] | None,
        shuffle: bool,
        epoch: tf.Variable | None,
        student_inputs: Sequence[str],
        student_audio: Mapping[str, np.ndarray] | None = None,
    ) -> tf.data.Dataset:
        """Student batches with the teacher's recorded logits, and its cached text features when given.

        The features come from a second pipeline built as the student's (same utterances, audio,
        seed, epoch and length buckets, hence the same order), zipped with it and checked label by label.
        """
        student = self.dataset(items, student_features, shuffle, epoch, None, student_audio,
                               teacher_logits=teacher_logits)
        names = tuple(student_inputs)

        def split(inputs, labels):
            student_part = {name: inputs[name] for name in names}
            return {"teacher": {"logits": inputs["teacher_logits"]}, "student": student_part}, labels

        if teacher_features is None:
            return student.map(split)
        teacher = self.dataset(items, teacher_features, shuffle, epoch, (TEXT_FEATURES,), student_audio,
                               teacher_logits=teacher_logits)

        def pair(student_batch, teacher_batch):
            (student_inputs, labels), (teacher_inputs, teacher_labels) = student_batch, teacher_batch
            check = tf.debugging.assert_equal(labels, teacher_labels, message="teacher/student batches differ")
            with tf.control_dependencies([check]):
                labels = tf.identity(labels)
            inputs, labels = split(student_inputs, labels)
            inputs["teacher"][TEXT_FEATURES] = teacher_inputs[TEXT_FEATURES]
            return inputs, labels

        return tf.data.Dataset.zip((student, teacher)).map(pair)

    def _teacher_logits(
        self, teacher: TrainedModel, teacher_features: Mapping[str, np.ndarray] | None, items: Sequence
    ) -> dict[str, np.ndarray]:
        """The trained teacher's logits on `items`, once: its cached model on its cached inputs.

        A teacher that reads no audio is recorded without its clips' files (a text-only job on a
        corpus with audio decodes none here, and an unreadable clip is the student pipeline's to skip).
        """
        model = teacher.models.cached_model
        if not any(name.startswith("audio") for name in model.input):
            items = [replace(item, audio_path=None) for item in items]
        if teacher_features is not None:
            items = [item for item in items if item.utterance_id in teacher_features]
        if self.audio_embeddings is not None:
            items = [item for item in items if not item.has_audio or item.utterance_id in self.audio_embeddings]
        dataset = self.dataset(items, teacher_features, input_names=model.input, in_order=True)
        logger.info("Recording %s's logits on %d utterances for distillation.", teacher.name, len(items))
        return record_teacher_logits(model, dataset, [item.utterance_id for item in items])

    # Training -----------------------------------------------------------------------------

    def _feature_weight(self, model: keras.Model, stage_name: str) -> float:
        """The feature loss's weight for `model` in a stage: 0 without text features or in stage 1."""
        if TEXT_FEATURES not in model.output or self.recipe.distillation.feature_weight <= 0:
            return 0.0
        if stage_name == "transfer":
            # The student's text encoder is frozen in stage 1 (its features come from the cache), so
            # the feature MSE has no gradient there and would only shift `loss`; it is logged as 0.
            logger.info("Stage 1 of distillation: the feature loss is left out (the text encoder is frozen).")
            return 0.0
        return self.recipe.distillation.feature_weight

    def _trainee(
        self, model: keras.Model, teacher: TrainedModel | None, optimizer, feature_weight: float
    ) -> keras.Model:
        if teacher is None:
            return build_classifier(model, optimizer, self.recipe.label_smoothing)
        distillation = self.recipe.distillation
        teacher_width = teacher.models.cached_model.output[TEXT_FEATURES].shape[-1] if feature_weight > 0 else None
        recorded = build_recorded_teacher(len(self.fold.label_names), teacher_width, name=f"{teacher.name}_recorded")
        trainee = Distiller(
            recorded,
            model,
            alpha=distillation.alpha,
            temperature=distillation.temperature,
            feature_loss_weight=feature_weight,
            feature_projection=self._feature_projection(model, recorded) if feature_weight > 0 else None,
            label_smoothing=self.recipe.label_smoothing,
        )
        trainee.compile(optimizer=optimizer)
        return trainee

    def _feature_projection(self, student: keras.Model, teacher: keras.Model) -> keras.layers.Layer | None:
        """A linear map from a narrow student's text-feature width to the teacher's (training only)."""
        student_width = student.output[TEXT_FEATURES].shape[-1]
        teacher_width = teacher.output[TEXT_FEATURES].shape[-1]
        if student_width == teacher_width:
            return None
        logger.info("Feature loss through a learned projection %d -> %d (not exported).", student_width, teacher_width)
        projection = keras.layers.Dense(
            teacher_width, kernel_initializer=keras.initializers.GlorotUniform(seed=self.recipe.seed),
            name="feature_projection",
        )
        projection.build((None, None, student_width))
        return projection

    @functools.cached_property
    def class_weight(self) -> dict[int, float] | None:
        """The training examples' class weights (`Recipe.class_weighting`), or `None` for the paper's loss.

        Computed (and logged) once per fold: every model of the fold trains on the same split.

        Example:

        >>> trainer.class_weight  # doctest: +SKIP
        {0: 1.29, 1: 0.82, 2: 2.09, 3: 0.3}
        """
        if self.recipe.class_weighting == NO_CLASS_WEIGHTING:
            return None
        weights = balanced_class_weights([item.label for item in self.fold.splits.train], self.fold.label_names)
        logger.info("Class weights (%s): %s.", self.recipe.class_weighting,
                    ", ".join(f"{name} {weights[index]:.2f}" for index, name in enumerate(self.fold.label_names)))
        return weights

    def build_models(self, text_encoder: keras.Model | None, modality: str, name: str) -> SERModels:
        """One model's head and the models around it, as the fold's settings build them (under the strategy).

        Example:

        >>> models = trainer.build_models(encoder, "text", "BERT_2")  # doctest: +SKIP
        """
        with self.strategy.scope():
            models = build_ser_models(
                text_encoder,
                None,
                num_classes=len(self.fold.label_names),
                pooling=self.pooling if modality == self.modality else default_pooling(modality),
                modality=modality,
                audio_statistics=self._statistics_size(),
                sentence_logits=self.sentence_logits,
                head_dropout=self.head_dropout,
                name=name,
            )
            self._standardize_statistics(models.head)
        return models

    def train(
        self,
        name: str,
        output_dir: str,
        text_encoder: keras.Model | None,
        text_features: Mapping[str, np.ndarray] | None,
        teacher: TrainedModel | None = None,
        teacher_features: Mapping[str, np.ndarray] | None = None,
        modality: str | None = None,
        audio: AudioBranch | None = None,
        finetune: StageConfig | None = None,
    ) -> TrainedModel:
        """Trains one model through both stages (with distillation when `teacher` is given).

        Args:
            name: the model's name (its TensorBoard run and sub-folder).
            output_dir: the parent of the model's folder (checkpoints, backups).
            text_encoder: its BERT backbone (pretrained, first k layers), or
                `None` for audio-only models.
            text_features: the backbone's cached outputs before training.
            teacher: the trained teacher to distil from, or `None`.
            teacher_features: the trained teacher's cached text features.
            modality: the model's modality when it differs from the fold's
                (an audio-only student of a multimodal teacher).
            audio: the model's own frozen audio branch, when not the fold's
                (the teacher still reads the fold's embeddings).
            finetune: its stage 2 when not the recipe's `finetune` (a compact
                student's randomly initialised text encoder).

        Example:

        >>> trained = trainer.train("teacher", "runs/t", encoder, features)  # doctest: +SKIP
        """
        if teacher is not None and teacher_features is None and teacher.text_layers:
            raise ValueError("Distillation needs the trained teacher's cached text features.")
        modality = modality or self.modality
        own_audio = audio.embeddings if audio is not None else None
        # The variants with and without distillation share their initial weights (and dropout seeds).
        seed_model_weights(self.recipe.seed, self.fold.name, name.removesuffix("_kd"))
        models = self.build_models(text_encoder, modality, name)
        text_encoder = models.text_encoder  # None for audio-only models
        if text_encoder is not None:  # its dropout seeds were drawn when it was loaded: make them the model's
            seed_dropout(text_encoder, self.recipe.seed, self.fold.name, name.removesuffix("_kd"), "text_encoder")
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"{name}_epoch")
        model_dir = os.path.join(output_dir, name)
        stages: dict[str, dict] = {}
        splits = self.fold.splits
        teacher_logits = None  # recorded before the first stage that trains
        planned = [
            (seed_stream, stage_name, stage, model, features)
            for seed_stream, (stage_name, stage, model, features) in enumerate((
                ("transfer", self.recipe.transfer, models.cached_model, text_features),
                ("finetune", finetune or self.recipe.finetune, models.raw_model, None),
            ))
            # Stage 2 of an audio-only model has nothing to unfreeze.
            if stage.epochs >= 1 and not (stage_name == "finetune" and text_encoder is None)
        ]
        # A model whose every stage finished in an earlier run is loaded as it is: no teacher logits, no datasets.
        finished = all(stage_is_done(os.path.join(model_dir, stage_name)) for _, stage_name, *_ in planned)
        for seed_stream, stage_name, stage, model, features in planned:
            if finished:
                stages[stage_name] = load_done_stage(os.path.join(model_dir, stage_name), model)
                continue
            feature_weight = self._feature_weight(model, stage_name) if teacher is not None else 0.0
            if teacher is None:
                train_data = self.dataset(splits.train, features, True, epoch, model.input, own_audio)
                validation_data = self.dataset(splits.validation, features, False, None, model.input, own_audio)
            else:
                if teacher_logits is None:
                    teacher_logits = self._teacher_logits(teacher, teacher_features, [*splits.train, *splits.validation])
                paired_features = teacher_features if feature_weight > 0 else None
                train_data = self._paired(splits.train, features, teacher_logits, paired_features, True, epoch,
                                          model.input, own_audio)
                validation_data = self._paired(splits.validation, features, teacher_logits, paired_features, False,
                                               None, model.input, own_audio)
            if text_encoder is not None:
                set_text_encoder_trainable(text_encoder, stage_name == "finetune")
            with self.strategy.scope():
                trainee = self._trainee(model, teacher, make_optimizer(stage.optimizer), feature_weight)
            logger.info("Training %s, stage %s (%d epochs).", name, stage_name, stage.epochs)
            stages[stage_name] = run_stage(
                trainee,
                train_data,
                validation_data,
                stage,
                stage_dir=os.path.join(model_dir, stage_name),
                log_dir=os.path.join(self.fold.log_dir, name, stage_name),
                selection_metric=self.recipe.selection_metric,
                epoch_variable=epoch,
                seed_stream=seed_stream,
                class_names=self.fold.label_names,
                kept_model=model,
                class_weight=self.class_weight,
            )
        if text_encoder is not None:
            set_text_encoder_trainable(text_encoder, False)
        num_layers = 0 if text_encoder is None else int(text_encoder.num_layers)
        return TrainedModel(name, num_layers, teacher is not None, models, stages, audio=audio)

    def _statistics_size(self) -> int | None:
        return UTTERANCE_STATISTICS_SIZE if self.audio_statistics is not None else None

    def _standardize_statistics(self, head: keras.Model) -> None:
        """Sets a head's utterance-statistics standardisation from the training clips with audio."""
        if AUDIO_STATISTICS not in head.input:
            return
        train = [self.audio_statistics[item.utterance_id] for item in self.fold.splits.train
                 if item.utterance_id in self.audio_statistics]
        if train:
            set_statistics_standardization(head, np.stack(train))

    # Evaluation ---------------------------------------------------------------------------

    def evaluate(self, trained: TrainedModel, items: Sequence) -> dict:
        """Scores (ACC, BACC, MF1, WF1), the confusion matrix and each clip's prediction on a split.

        `"predictions"` maps each scored utterance id to its predicted label
        (clips without cached audio are left out, as in training).

        Example:

        >>> trainer.evaluate(teacher, fold.splits.test)["scores"]["acc"]  # doctest: +SKIP
        0.83
        """
        model = trained.models.raw_model
        embeddings = trained.audio.embeddings if trained.audio is not None else self.audio_embeddings
        if embeddings is not None:
            items = [item for item in items if not item.has_audio or item.utterance_id in embeddings]
        dataset = self.dataset(items, input_names=model.input, audio_embeddings=embeddings, in_order=True)
        y_true, y_pred = predict_classes(model, dataset)
        label_names = self.fold.label_names
        return {
            "scores": classification_metrics(y_true, y_pred),
            "confusion_matrix": confusion_matrix(y_true, y_pred, len(label_names)),
            "predictions": {item.utterance_id: label_names[p] for item, p in zip(items, y_pred, strict=True)},
        }
