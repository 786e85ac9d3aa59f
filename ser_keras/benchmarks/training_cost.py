"""Training cost: seconds per epoch of stage 1 (with and without the encoder-output cache) and stage 2.

A few training steps of each stage are timed with the job's own pieces (the
`make_dataset` pipeline, `build_classifier`, the recipe's optimiser and batch
size) and the median step time is extrapolated to an epoch of the training
split (`ceil(clips / batch size)` steps):

* `stage1_cached`: the fusion head on cached BERT and VGGish outputs (what the
  job does; `cache_build_s` is the one-off cost of filling the cache for the
  split with VGGish and this model's BERT outputs, extrapolated from the clips
  used here);
* `stage1_uncached`: the same stage without the cache: every step decodes the
  clips and runs the frozen BERT and VGGish forward;
* `stage2`: fine-tuning, BERT trainable, VGGish outputs cached (as the job does).

Distillation adds no teacher forward pass: the job records the teacher's logits
once per split (`ser_keras.training.recorded_teacher`); in stage 2 it reads the
teacher's cached text features for the feature loss (a second input pipeline),
which is not included.

Example:

>>> clips = prepare_training_clips(splits.train, vggish, 32, steps=3, warmup=1, cache_dir="/tmp/c")  # doctest: +SKIP
>>> costs = measure_training_cost(model, clips, preprocessor, vggish, labels, get_recipe("demo"))  # doctest: +SKIP
>>> costs["stage2"]["seconds_per_epoch"]  # doctest: +SKIP
61.2
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from ser_keras.config import Recipe
from ser_keras.data import EncoderCache, make_dataset
from ser_keras.experiment.trainer import set_text_encoder_trainable
from ser_keras.models import build_raw_model
from ser_keras.training.classifier import build_classifier
from ser_keras.training.stages import make_optimizer

logger = logging.getLogger(__name__)


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training batch.

    Example:

    >>> timer = StepTimer()
    >>> model.fit(dataset, callbacks=[timer]); timer.seconds  # doctest: +SKIP
    [3.1, 0.4, 0.4]
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _time_steps(model: keras.Model, optimizer_config, dataset, warmup: int, steps: int) -> list[float]:
    classifier = build_classifier(model, make_optimizer(optimizer_config))
    timer = StepTimer()
    classifier.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, shuffle=False, verbose=0, callbacks=[timer])
    return timer.seconds[warmup:]


def _stage_cost(step_seconds: list[float], steps_per_epoch: int, batch_size: int) -> dict:
    median = float(np.median(step_seconds))
    return {
        "seconds_per_step": median,
        "timed_steps": len(step_seconds),
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "seconds_per_epoch": median * steps_per_epoch,
        "extrapolated": True,
    }


@dataclass
class TrainingClips:
    """The training clips that the timed steps use, with their audio-encoder outputs cached once.

    Attributes:
        items: the clips used (`(warmup + steps) * batch size` of the split).
        train_size: clips in the whole training split (the epoch).
        audio_embeddings: the audio encoder's cached outputs for `items`.
        audio_cache_seconds: the time it took to compute them.
        cache: the encoder cache (text features go there too).
    """

    items: list
    train_size: int
    audio_embeddings: dict[str, np.ndarray]
    audio_cache_seconds: float
    cache: EncoderCache


def prepare_training_clips(
    train_items: Sequence, audio_encoder: keras.Model, batch_size: int, steps: int, warmup: int, cache_dir: str
) -> TrainingClips:
    """Picks the first clips of the split and caches their audio embeddings (timed), for every model.

    Example:

    >>> clips = prepare_training_clips(splits.train, vggish, 32, 3, 1, "/tmp/cache")  # doctest: +SKIP
    """
    items = [item for item in train_items if item.has_audio][: (warmup + steps) * batch_size]
    cache = EncoderCache(cache_dir, show_progress=False)
    start = time.perf_counter()
    audio = cache.audio_embeddings(items, audio_encoder)
    return TrainingClips(items, len(train_items), audio, time.perf_counter() - start, cache)


def measure_training_cost(
    model,
    clips: TrainingClips,
    preprocessor,
    audio_encoder: keras.Model,
    label_names: Sequence[str],
    recipe: Recipe,
    steps: int = 3,
    warmup: int = 1,
    batch_size: int | None = None,
) -> dict[str, dict]:
    """Times the stages of one `BenchmarkModel` on the clips of `prepare_training_clips`.

    Args:
        model: a `ser_keras.benchmarks.models.BenchmarkModel` (its weights change).
        clips: the training clips and their cached audio embeddings.
        preprocessor: the text preprocessor.
        audio_encoder: the frozen audio encoder (VGGish).
        label_names: the label set.
        recipe: batch size and optimisers (`transfer` for stage 1, `finetune` for stage 2).
        steps: timed steps per stage (after `warmup` untimed ones, which trace).
        warmup: untimed first steps.
        batch_size: overrides the recipe's batch size.

    Returns:
        `stage1_cached`, `stage1_uncached`, `stage2`: each with
        `seconds_per_step` (median), `timed_steps`, `steps_per_epoch`,
        `seconds_per_epoch`; `stage1_cached` also `cache_build_s` (audio and
        this model's text features, extrapolated to the split).

    Example:

    >>> measure_training_cost(model, clips, preprocessor, vggish, labels, recipe, steps=2)  # doctest: +SKIP
    """
    batch_size = batch_size or recipe.batch_size
    steps_per_epoch = math.ceil(clips.train_size / batch_size)
    models = model.models
    text_encoder = models.text_encoder
    batches = dict(label_names=label_names, batch_size=batch_size, bucket_boundaries=None)
    was_trainable = audio_encoder.trainable
    audio_encoder.trainable = False
    costs = {}
    try:
        start = time.perf_counter()
        text = clips.cache.text_features(clips.items, text_encoder, preprocessor)
        cache_seconds = clips.audio_cache_seconds + time.perf_counter() - start

        set_text_encoder_trainable(text_encoder, False)
        cached = make_dataset(clips.items, text_features=text, audio_embeddings=clips.audio_embeddings, **batches)
        costs["stage1_cached"] = _stage_cost(
            _time_steps(models.cached_model, recipe.transfer.optimizer, cached, warmup, steps), steps_per_epoch, batch_size
        )
        costs["stage1_cached"]["cache_build_s"] = cache_seconds * clips.train_size / len(clips.items)

        uncached = make_dataset(clips.items, preprocessor=preprocessor, **batches)
        costs["stage1_uncached"] = _stage_cost(
            _time_steps(models.raw_model, recipe.transfer.optimizer, uncached, warmup, steps), steps_per_epoch, batch_size
        )

        set_text_encoder_trainable(text_encoder, True)
        finetune_model = build_raw_model(models.head, text_encoder, None, name=f"{model.key}_finetune")
        finetune = make_dataset(clips.items, preprocessor=preprocessor, audio_embeddings=clips.audio_embeddings, **batches)
        costs["stage2"] = _stage_cost(
            _time_steps(finetune_model, recipe.finetune.optimizer, finetune, warmup, steps), steps_per_epoch, batch_size
        )
    finally:
        set_text_encoder_trainable(text_encoder, False)
        audio_encoder.trainable = was_trainable
    return costs
