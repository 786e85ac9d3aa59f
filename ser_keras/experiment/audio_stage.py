"""The audio stage: the job's audio encoder, chosen, trained from the labels when it can be, and run once.

Three choices (`ModelConfig.audio_encoder`):

* `vggish`: VGGish frozen, as in the paper (meant for pretrained weights);
* `vggish-tuned`: VGGish fine-tuned from the labels;
* `compact`: the compact CNN of `ser_keras.models.audio_cnn`, trained from
  the labels (the default without pretrained VGGish weights).

A trainable encoder learns in its own stage before stage 1: every 0.96 s
patch of a training clip is one example with the clip's label, through the
encoder, a ReLU, dropout and a linear classifier; the epoch that the recipe's
selection picks is kept (the best validation accuracy per patch, or the last
with `--selection last`), with the same checkpoints, backups,
exact resume and TensorBoard logs as the other stages. With
`Recipe.audio_augmentation` (the default) the training patches carry SpecAugment
masks (`ser_keras.audio.augment`). The encoder is then
frozen and shared by the teacher and every student, so its embeddings are
computed once (`EncoderCache.patch_embeddings`), exactly as for a frozen
VGGish.

Example:

>>> patches = cache.log_mel_patches(items)  # doctest: +SKIP
>>> audio = prepare_audio_encoder(ModelConfig(), get_recipe("demo"), splits, DEFAULT_LABELS, patches,
...                               cache, strategy, "runs/audio", "runs/tb/audio")  # doctest: +SKIP
>>> audio.label, audio.embeddings["clip1"].shape  # doctest: +SKIP
('AudioCNN', (3, 128))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ser_keras.audio.augment import mask_patch
from ser_keras.audio.params import NUM_BANDS, NUM_FRAMES
from ser_keras.config import ModelConfig, Recipe
from ser_keras.data import EncoderCache, Splits
from ser_keras.data.pipeline import epoch_shuffled
from ser_keras.data.records import Utterance
from ser_keras.models.audio_cnn import build_compact_audio_encoder, set_band_statistics
from ser_keras.training.classifier import build_classifier
from ser_keras.training.stages import LAST_EPOCH, make_optimizer, run_stage

logger = logging.getLogger(__name__)

#: Display names of the audio encoders, for Table II.
AUDIO_ENCODER_LABELS = {"vggish": "VGGish", "vggish-tuned": "VGGish-tuned", "compact": "AudioCNN"}

#: Dropout before the audio stage's linear classifier.
AUDIO_STAGE_DROPOUT = 0.3


@dataclass
class AudioBranch:
    """The fold's frozen audio encoder and its embeddings of every clip.

    Attributes:
        kind: `"vggish"`, `"vggish-tuned"` or `"compact"`.
        encoder: the per-patch encoder (`[N, 96, 64] -> [N, 128]`).
        embeddings: utterance id -> `[N_i, 128]`.
        record: the audio stage's record (best epoch, history), empty for a frozen VGGish.

    Example:

    >>> audio.label  # doctest: +SKIP
    'AudioCNN'
    """

    kind: str
    encoder: keras.Model
    embeddings: dict[str, np.ndarray]
    record: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The encoder's name in Table II."""
        return AUDIO_ENCODER_LABELS[self.kind]


def build_audio_encoder(model: ModelConfig) -> keras.Model:
    """The untrained (or pretrained) audio encoder that `model` asks for.

    Example:

    >>> build_audio_encoder(ModelConfig()).name
    'compact_audio'
    """
    if model.audio_encoder_kind == "compact":
        return build_compact_audio_encoder()
    from ser_keras.vggish import build_vggish

    return build_vggish(weights=model.vggish_weights)


def prepare_audio_encoder(
    model: ModelConfig,
    recipe: Recipe,
    splits: Splits,
    label_names: Sequence[str],
    patches: Mapping[str, np.ndarray],
    cache: EncoderCache,
    strategy: tf.distribute.Strategy,
    stage_dir: str,
    log_dir: str,
    encoder: keras.Model | None = None,
) -> AudioBranch:
    """Builds (or takes) the audio encoder, trains it from the labels if it is trainable, embeds every clip.

    Args:
        model: the job's model settings (`audio_encoder`, `vggish_weights`).
        recipe: the recipe (its `audio` stage, `audio_batch_size`, seed, selection metric).
        splits: the fold; the encoder trains on `train`, is selected on `validation`.
        label_names: the label set.
        patches: utterance id -> log-mel patches `[N, 96, 64]` of every clip.
        cache: where the embeddings are cached (keyed by the trained weights).
        strategy: the `tf.distribute` strategy.
        stage_dir: the audio stage's checkpoints and backups.
        log_dir: its TensorBoard directory.
        encoder: an already built encoder of this kind (a frozen VGGish shared by folds).

    Example:

    >>> audio = prepare_audio_encoder(ModelConfig(), recipe, splits, labels, patches, cache,
    ...                               strategy, "runs/a", "runs/tb/audio")  # doctest: +SKIP
    """
    kind = model.audio_encoder_kind
    with strategy.scope():
        encoder = encoder if encoder is not None else build_audio_encoder(model)
    record: dict = {}
    if kind != "vggish" and recipe.audio.epochs > 0:
        train_x, train_y = patch_examples(splits.train, patches, label_names)
        if kind == "compact":
            set_band_statistics(encoder, train_x)
        record = _train_from_labels(
            encoder, recipe, (train_x, train_y), patch_examples(splits.validation, patches, label_names),
            label_names, strategy, stage_dir, log_dir,
        )
        logger.info(
            "Audio encoder %s: kept epoch %d (%s; validation accuracy per patch %.4f).",
            kind, record["best_epoch"] + 1,
            "the last" if record["selection_metric"] == LAST_EPOCH else f"best {record['selection_metric']}",
            record["history"]["val_acc"][record["best_epoch"]],
        )
    encoder.trainable = False
    embeddings = cache.patch_embeddings(patches, encoder)
    return AudioBranch(kind, encoder, embeddings, record)


def patch_examples(
    utterances: Sequence[Utterance], patches: Mapping[str, np.ndarray], label_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Every patch of the clips that have audio, `[P, 96, 64]`, with its clip's label index `[P]`.

    Example:

    >>> x, y = patch_examples(splits.train, patches, DEFAULT_LABELS)  # doctest: +SKIP
    """
    index = {name: position for position, name in enumerate(label_names)}
    clips = [(patches[item.utterance_id], index[item.label]) for item in utterances if item.utterance_id in patches]
    if not clips:
        return np.zeros([0, NUM_FRAMES, NUM_BANDS], np.float32), np.zeros([0], np.int32)
    x = np.concatenate([value for value, _ in clips]).astype(np.float32)
    y = np.concatenate([np.full(len(value), label, np.int32) for value, label in clips])
    return x, y


def _train_from_labels(
    encoder: keras.Model,
    recipe: Recipe,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    label_names: Sequence[str],
    strategy: tf.distribute.Strategy,
    stage_dir: str,
    log_dir: str,
) -> dict:
    for name, (x, _) in (("training", train), ("validation", validation)):
        if len(x) == 0:
            raise ValueError(
                f"The audio stage has no {name} clips with audio; use --audio-encoder vggish "
                "or a corpus whose training and validation splits have audio."
            )
    encoder.trainable = True
    with strategy.scope():
        patches = keras.Input((NUM_FRAMES, NUM_BANDS), name="audio_patches")
        hidden = layers.Dropout(AUDIO_STAGE_DROPOUT, name="audio_stage_dropout")(
            layers.ReLU(name="audio_stage_relu")(encoder(patches))
        )
        logits = layers.Dense(len(label_names), name="audio_stage_logits")(hidden)
        classifier = keras.Model(patches, {"logits": logits}, name="audio_stage")
        trainee = build_classifier(classifier, make_optimizer(recipe.audio.optimizer))
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="audio_stage_epoch")
    train_data = patch_batches(train, recipe.audio_batch_size, recipe.seed, epoch, augment=recipe.audio_augmentation)
    validation_data = patch_batches(validation, recipe.audio_batch_size, recipe.seed, None)
    return run_stage(
        trainee, train_data, validation_data, recipe.audio,
        stage_dir=stage_dir, log_dir=log_dir, selection_metric=recipe.selection_metric,
        epoch_variable=epoch, class_names=label_names, kept_model=classifier,
    )


def patch_batches(
    examples: tuple[np.ndarray, np.ndarray],
    batch_size: int,
    seed: int,
    epoch: tf.Variable | None,
    augment: bool = False,
) -> tf.data.Dataset:
    """Batches of `(patch, target)` pairs (a label, or a teacher's embedding), reshuffled per epoch when `epoch` is given.

    With `augment` (and an `epoch`), every patch gets SpecAugment masks
    (`ser_keras.audio.augment.mask_patch`) placed by the seed, the epoch and
    its position in the epoch, so a resumed run draws the same ones.

    Example:

    >>> batches = patch_batches(patch_examples(splits.train, patches, labels), 32, 0, epoch)  # doctest: +SKIP
    """
    x, y = examples
    dataset = tf.data.Dataset.from_tensor_slices({"audio_patches": x, "label": y})
    if epoch is None:
        pairs = dataset.map(lambda element: (element["audio_patches"], element["label"]))
    else:
        dataset = epoch_shuffled(dataset, len(y), seed, epoch)

        def pair(position: tf.Tensor, element: dict) -> tuple[tf.Tensor, tf.Tensor]:
            patch = element["audio_patches"]
            if augment:
                draw = tf.cast(epoch.read_value(), tf.int64) * len(y) + position
                patch = mask_patch(patch, tf.stack([tf.constant(seed, tf.int64), draw]))
            return patch, element["label"]

        pairs = dataset.enumerate().map(pair)
    return pairs.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def audio_stage_dir(root: str, kind: str, fold_name: str) -> str:
    """Where a fold's audio stage keeps its checkpoints: `<root>/audio/<kind>/<fold>`.

    Example:

    >>> audio_stage_dir("saved_models/teachers/abc", "compact", "main")
    'saved_models/teachers/abc/audio/compact/main'
    """
    return os.path.join(root, "audio", kind, fold_name)
