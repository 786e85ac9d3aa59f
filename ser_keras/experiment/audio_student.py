"""The compact students' audio encoder: the compact CNN, distilled from the teacher's audio embeddings.

When the teacher's audio encoder is VGGish (pretrained, or fine-tuned from the
labels), the compact and audio-only students get their own audio encoder: the
compact CNN of `ser_keras.models.audio_cnn`, trained in a stage of its own to
reproduce the teacher's 128-d embedding of every real 0.96 s patch of the
training clips (`EmbeddingDistillationLoss`: relative MSE + cosine distance;
the clips' patches are taken as they are, so padding never enters). No label
is used, so the patches of extra clips without labels (`--unlabelled-audio`,
`ser_keras.data.unlabelled`) can join the training clips' ones. The epoch with the best validation cosine similarity is kept, with
the checkpoints, backups, exact resume and TensorBoard logs of every stage;
the fidelity (mean cosine similarity and relative MSE on the validation
patches, before and after) goes to the log, the stage record
(`results.json`) and TensorBoard. The trained encoder is then frozen and its
embeddings cached, keyed by its weights, like the teacher's.

When the teacher's audio encoder already is the compact CNN (no pretrained
VGGish), the students start from it: they share it, and nothing is distilled.

This stage is where the compact students' audio feature term is minimised.
In the fusion stages that follow, the student's audio encoder is frozen and
read from the cache, so a feature term there would have no gradient.

Example:

>>> audio = audio_student_branch(vggish_branch, recipe, splits, patches, cache, strategy,
...                              "runs/s/audio_student", "runs/tb/audio_student")  # doctest: +SKIP
>>> audio.record["fidelity"]["validation"]["cosine"]  # doctest: +SKIP
0.93
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio.params import EMBEDDING_SIZE, NUM_BANDS, NUM_FRAMES
from ser_keras.config import LAST_EPOCH, Recipe
from ser_keras.data import EncoderCache, Splits
from ser_keras.data.records import Utterance
from ser_keras.experiment.audio_stage import AudioBranch, patch_batches
from ser_keras.models.audio_cnn import build_compact_audio_encoder, set_band_statistics
from ser_keras.training.embedding_distillation import (
    EmbeddingDistillationLoss,
    EmbeddingFidelityCallback,
    embedding_fidelity,
    embedding_variance,
    predict_embeddings,
)
from ser_keras.training.stages import make_optimizer, run_stage
from ser_keras.training.strategy import MultiReplicaModel
from ser_keras.training.tensorboard import log_scores

logger = logging.getLogger(__name__)

#: The epoch-log key that picks the audio student's best epoch (unless the recipe keeps the last).
AUDIO_STUDENT_SELECTION = "val_cosine"


def audio_student_branch(
    teacher_audio: AudioBranch,
    recipe: Recipe,
    splits: Splits,
    patches: Mapping[str, np.ndarray],
    cache: EncoderCache,
    strategy: tf.distribute.Strategy,
    stage_dir: str,
    log_dir: str,
    unlabelled_patches: Mapping[str, np.ndarray] | None = None,
) -> AudioBranch:
    """The compact students' frozen audio encoder and its embeddings: the teacher's if compact, else distilled.

    Args:
        teacher_audio: the fold's audio branch (the teacher's encoder and its embeddings).
        recipe: its `audio` stage (epochs, optimiser) and `audio_batch_size` are used.
        splits: the student learns on `train`, is selected on `validation`.
        patches: utterance id -> log-mel patches `[N, 96, 64]` (as the teacher saw them).
        cache: where the student's embeddings are cached.
        strategy: the `tf.distribute` strategy.
        stage_dir: the stage's checkpoints and backups.
        log_dir: its TensorBoard directory.
        unlabelled_patches: clip id -> patches of extra audio without labels
            (`--unlabelled-audio`): the teacher embeds them too, and the student
            learns on them beside the training clips (selection stays on
            `validation`).

    Raises:
        ValueError: when the training or validation split has no audio.

    Example:

    >>> audio = audio_student_branch(teacher_audio, recipe, splits, patches, cache, strategy,
    ...                              "runs/s", "runs/tb")  # doctest: +SKIP
    """
    if teacher_audio.kind == "compact":
        logger.info("The teacher's audio encoder is the compact CNN already: the compact students share it.")
        return teacher_audio
    train = patch_targets(splits.train, patches, teacher_audio.embeddings)
    validation = patch_targets(splits.validation, patches, teacher_audio.embeddings)
    for name, (x, _) in (("training", train), ("validation", validation)):
        if not len(x):
            raise ValueError(f"Distilling the audio student needs {name} clips with audio; this split has none.")
    training_patches = {"labelled": len(train[0]), "unlabelled": 0}
    if unlabelled_patches:
        extra = _paired(
            unlabelled_patches, unlabelled_patches, cache.patch_embeddings(unlabelled_patches, teacher_audio.encoder)
        )
        train = (np.concatenate([train[0], extra[0]]), np.concatenate([train[1], extra[1]]))
        training_patches["unlabelled"] = len(extra[0])
        logger.info(
            "Audio student: %d training patches of labelled clips and %d of unlabelled ones (%d clips).",
            training_patches["labelled"], training_patches["unlabelled"], len(unlabelled_patches),
        )
    variance = embedding_variance(train[1])
    validation_data = patch_batches(validation, recipe.audio_batch_size, recipe.seed, None)
    with strategy.scope():
        encoder = build_compact_audio_encoder(name="audio_student")
    set_band_statistics(encoder, train[0])
    untrained = embedding_fidelity(*predict_embeddings(encoder, validation_data), variance)
    record: dict = {}
    if recipe.audio.epochs > 0:
        with strategy.scope():
            inputs = keras.Input((NUM_FRAMES, NUM_BANDS), name="audio_patches")
            trainee = MultiReplicaModel(inputs, encoder(inputs), name="audio_student_distillation")
            trainee.compile(optimizer=make_optimizer(recipe.audio.optimizer), loss=EmbeddingDistillationLoss(variance))
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="audio_student_epoch")
        record = run_stage(
            trainee,
            patch_batches(train, recipe.audio_batch_size, recipe.seed, epoch),
            validation_data,
            recipe.audio,
            stage_dir=stage_dir,
            log_dir=log_dir,
            selection_metric=LAST_EPOCH if recipe.selection_metric == LAST_EPOCH else AUDIO_STUDENT_SELECTION,
            epoch_variable=epoch,
            metrics_callback=EmbeddingFidelityCallback(validation_data, variance),
            kept_model=encoder,  # the best checkpoint holds the encoder alone, no optimizer state
        )
    encoder.trainable = False
    trained = embedding_fidelity(*predict_embeddings(encoder, validation_data), variance)
    record["fidelity"] = {
        "untrained": untrained, "validation": trained, "teacher": teacher_audio.label,
        "training_patches": training_patches,
    }
    log_scores(os.path.join(log_dir, "evaluation"), {f"validation/{key}": value for key, value in trained.items()})
    logger.info(
        "Audio student distilled from %s: validation cosine %.4f (untrained %.4f), relative MSE %.4f (untrained %.4f); "
        "%d parameters against the teacher's %d.",
        teacher_audio.label, trained["cosine"], untrained["cosine"], trained["relative_mse"], untrained["relative_mse"],
        encoder.count_params(), teacher_audio.encoder.count_params(),
    )
    return AudioBranch("compact", encoder, cache.patch_embeddings(patches, encoder), record)


def patch_targets(
    utterances: Sequence[Utterance], patches: Mapping[str, np.ndarray], embeddings: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every real patch `[P, 96, 64]` of the clips with audio, with the teacher's embedding of it `[P, 128]`.

    Raises:
        ValueError: when a clip's patches and embeddings do not pair up (a stale cache).

    Example:

    >>> x, targets = patch_targets(splits.train, patches, vggish.embeddings)  # doctest: +SKIP
    """
    return _paired([item.utterance_id for item in utterances], patches, embeddings)


def _paired(
    utterance_ids: Iterable[str], patches: Mapping[str, np.ndarray], embeddings: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    pairs = []
    for utterance_id in utterance_ids:
        if utterance_id not in patches:
            continue
        clip, target = patches[utterance_id], embeddings[utterance_id]
        if len(clip) != len(target):
            raise ValueError(
                f"Utterance {utterance_id}: {len(clip)} patches but {len(target)} teacher embeddings; "
                "delete the encoder cache folder and run again."
            )
        pairs.append((clip, target))
    if not pairs:
        return np.zeros([0, NUM_FRAMES, NUM_BANDS], np.float32), np.zeros([0, EMBEDDING_SIZE], np.float32)
    return (
        np.concatenate([clip for clip, _ in pairs]).astype(np.float32),
        np.concatenate([target for _, target in pairs]).astype(np.float32),
    )
