"""Stage-1 throughput at corpus scale: the job's cached pipeline against in-memory tensors.

Stage 1 trains the fusion head on cached encoder outputs. On the demo corpus
(576 short clips) that is fast whatever the pipeline does; on an IEMOCAP-sized
corpus the pipeline's per-element work and retracing dominate. This benchmark
builds a synthetic corpus of the shape of IEMOCAP (5,531 utterances, 4,479 for
training; transcripts of 14 tokens median and 45 at the 95th percentile; 1-3 s
clips, so 1-3 audio embeddings) with random cached outputs, and times one
epoch (training and validation, after a warm-up epoch) three ways:

* `job`: `FoldTrainer.dataset` + `run_stage`, exactly what the job runs (with
  its validation metrics, best checkpoint, backup and TensorBoard callbacks);
* `in_memory`: the same head and optimiser, `model.fit` on arrays padded to
  the longest transcript and clip (the reference the job should be near);
* `stage2` (optional): fine-tuning through the job's pipeline on tokens,
  with a given BERT backbone trainable.

Example:

>>> corpus = synthetic_cached_corpus(CorpusShape(), text_width=384)  # doctest: +SKIP
>>> figures = measure_stage1_throughput(corpus, get_recipe("demo"))  # doctest: +SKIP
>>> figures["job"]["items_per_second"] / figures["in_memory"]["items_per_second"]  # doctest: +SKIP
0.8
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio.params import EMBEDDING_SIZE
from ser_keras.config import Recipe, StageConfig
from ser_keras.data import Splits, Utterance
from ser_keras.experiment.trainer import FoldData, FoldTrainer, set_text_encoder_trainable
from ser_keras.labels import DEFAULT_LABELS
from ser_keras.models import build_ser_models
from ser_keras.models.fusion import build_fusion_head
from ser_keras.training import get_strategy
from ser_keras.training.classifier import build_classifier
from ser_keras.training.stages import make_optimizer, run_stage

logger = logging.getLogger(__name__)

#: Seconds per audio patch (VGGish: 0.96 s windows, no overlap).
_PATCH_SECONDS = 0.96


@dataclasses.dataclass(frozen=True)
class CorpusShape:
    """Sizes and length distributions of a synthetic corpus (defaults: IEMOCAP's four classes).

    Token counts are log-normal with the given median and 95th percentile,
    clipped to `[3, sequence_length]`; clip durations are uniform in seconds.

    Example:

    >>> CorpusShape(train=100, validation=20).validation
    20
    """

    train: int = 4479
    validation: int = 526
    token_median: float = 14.0
    token_p95: float = 45.0
    sequence_length: int = 64
    min_seconds: float = 1.0
    max_seconds: float = 3.0


@dataclasses.dataclass
class SyntheticCorpus:
    """Utterances and their cached encoder outputs (random values of the real shapes).

    Example:

    >>> corpus.splits.counts()["train"]  # doctest: +SKIP
    4479
    """

    splits: Splits
    text_features: dict[str, np.ndarray]
    audio_embeddings: dict[str, np.ndarray]
    text_width: int


def synthetic_cached_corpus(shape: CorpusShape, text_width: int, seed: int = 0) -> SyntheticCorpus:
    """Builds a corpus of `shape` with random cached text features and audio embeddings.

    The audio embeddings are `EMBEDDING_SIZE` (128) wide, the width the fusion head takes.

    Example:

    >>> corpus = synthetic_cached_corpus(CorpusShape(train=8, validation=4), text_width=16)
    >>> corpus.splits.counts(), next(iter(corpus.audio_embeddings.values())).shape[1]
    ({'train': 8, 'validation': 4, 'test': 0}, 128)
    """
    rng = np.random.default_rng(seed)
    sigma = math.log(shape.token_p95 / shape.token_median) / 1.6449
    splits, text_features, audio_embeddings = {"train": [], "validation": []}, {}, {}
    for split, count in (("train", shape.train), ("validation", shape.validation)):
        tokens = np.clip(np.round(shape.token_median * np.exp(sigma * rng.standard_normal(count))), 3, shape.sequence_length)
        seconds = rng.uniform(shape.min_seconds, shape.max_seconds, count)
        for index, (length, duration) in enumerate(zip(tokens.astype(int), seconds, strict=True)):
            utterance_id = f"{split}_{index:05d}"
            label = DEFAULT_LABELS[int(rng.integers(len(DEFAULT_LABELS)))]
            splits[split].append(Utterance(utterance_id, "x", label, audio_path=f"{utterance_id}.wav"))
            text_features[utterance_id] = rng.standard_normal((length, text_width), np.float32)
            patches = max(1, int(duration / _PATCH_SECONDS))
            audio_embeddings[utterance_id] = rng.standard_normal((patches, EMBEDDING_SIZE), np.float32)
    return SyntheticCorpus(Splits(splits["train"], splits["validation"], []), text_features, audio_embeddings, text_width)


class _EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch, training and validation included."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _figures(seconds: float, items: int) -> dict[str, float]:
    return {"epoch_seconds": seconds, "items_per_second": items / seconds}


def _padded(corpus: SyntheticCorpus, items, label_names) -> tuple[dict[str, np.ndarray], np.ndarray]:
    longest_text = max(len(corpus.text_features[item.utterance_id]) for item in items)
    longest_clip = max(len(corpus.audio_embeddings[item.utterance_id]) for item in items)
    arrays = {
        "text_features": np.zeros((len(items), longest_text, corpus.text_width), np.float32),
        "padding_mask": np.zeros((len(items), longest_text), bool),
        "audio_embeddings": np.zeros((len(items), longest_clip, EMBEDDING_SIZE), np.float32),
        "audio_mask": np.zeros((len(items), longest_clip), bool),
    }
    for row, item in enumerate(items):
        text, audio = corpus.text_features[item.utterance_id], corpus.audio_embeddings[item.utterance_id]
        arrays["text_features"][row, : len(text)] = text
        arrays["padding_mask"][row, : len(text)] = True
        arrays["audio_embeddings"][row, : len(audio)] = audio
        arrays["audio_mask"][row, : len(audio)] = True
    labels = np.array([list(label_names).index(item.label) for item in items], np.int32)
    return arrays, labels


def _head(corpus: SyntheticCorpus, recipe: Recipe) -> keras.Model:
    keras.utils.set_random_seed(recipe.seed)
    head = build_fusion_head(text_dim=corpus.text_width, num_classes=len(DEFAULT_LABELS))
    return keras.Model(head.input, {"logits": head.output}, name="bench_head")


def measure_stage1_throughput(corpus: SyntheticCorpus, recipe: Recipe) -> dict[str, dict[str, float]]:
    """Seconds and training items per second of one stage-1 epoch, the job's way and in memory.

    Each is the second of two epochs (the first traces the functions).

    Example:

    >>> measure_stage1_throughput(corpus, get_recipe("demo"))["job"]["epoch_seconds"]  # doctest: +SKIP
    3.4
    """
    train = corpus.splits.train
    stage = StageConfig(epochs=2, optimizer=recipe.transfer.optimizer)

    timer = _EpochTimer()
    model = build_classifier(_head(corpus, recipe), make_optimizer(stage.optimizer))
    x, y = _padded(corpus, train, DEFAULT_LABELS)
    validation = _padded(corpus, corpus.splits.validation, DEFAULT_LABELS)
    model.fit(x, y, batch_size=recipe.batch_size, epochs=2, validation_data=validation, callbacks=[timer], verbose=0)
    in_memory = _figures(timer.seconds[-1], len(train))

    with tempfile.TemporaryDirectory() as scratch:
        fold = FoldData("bench", corpus.splits, f"{scratch}/tensorboard", DEFAULT_LABELS)
        trainer = FoldTrainer(fold, recipe, preprocessor=None, audio_embeddings=corpus.audio_embeddings,
                              strategy=get_strategy())
        head = _head(corpus, recipe)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        train_data = trainer.dataset(train, corpus.text_features, shuffle=True, epoch=epoch, input_names=head.input)
        validation_data = trainer.dataset(corpus.splits.validation, corpus.text_features, input_names=head.input)
        timer = _EpochTimer()
        run_stage(build_classifier(head, make_optimizer(stage.optimizer)), train_data, validation_data, stage,
                  f"{scratch}/stage", f"{scratch}/tensorboard/stage", recipe.selection_metric, epoch_variable=epoch,
                  extra_callbacks=[timer], verbose=0, kept_model=head)
    job = _figures(timer.seconds[-1], len(train))
    logger.info("Stage 1 at corpus scale: job %.0f items/s, in memory %.0f items/s.",
                job["items_per_second"], in_memory["items_per_second"])
    return {"job": job, "in_memory": in_memory, "ratio": in_memory["items_per_second"] / job["items_per_second"]}


def measure_stage2_throughput(
    corpus: SyntheticCorpus, recipe: Recipe, text_encoder: keras.Model, preprocessor, steps: int = 20
) -> dict[str, float]:
    """Items per second of stage 2 (text encoder trainable, tokens in) through the job's pipeline.

    Times `steps` training batches after a warm-up of the same length; the
    transcripts are random words of the corpus' token lengths.

    Example:

    >>> measure_stage2_throughput(corpus, recipe, bert, preprocessor)["items_per_second"]  # doctest: +SKIP
    21.5
    """
    rng = np.random.default_rng(recipe.seed)
    words = ["so", "really", "what", "never", "fine", "okay", "today", "believe", "happened", "sorry"]
    items = [
        dataclasses.replace(item, text=" ".join(rng.choice(words, len(corpus.text_features[item.utterance_id]) - 2)))
        for item in corpus.splits.train[: 2 * steps * recipe.batch_size]
    ]
    fold = FoldData("bench", Splits(items, [], []), "", DEFAULT_LABELS)
    trainer = FoldTrainer(fold, recipe, preprocessor, corpus.audio_embeddings, get_strategy())
    models = build_ser_models(text_encoder, None, num_classes=len(DEFAULT_LABELS))
    set_text_encoder_trainable(models.text_encoder, True)
    model = build_classifier(models.raw_model, make_optimizer(recipe.finetune.optimizer))
    data = trainer.dataset(items, input_names=models.raw_model.input)
    timer = _EpochTimer()
    model.fit(data.take(steps), epochs=2, callbacks=[timer], verbose=0, shuffle=False)
    set_text_encoder_trainable(models.text_encoder, False)
    return _figures(timer.seconds[-1], steps * recipe.batch_size)


def run_corpus_scale_benchmark(
    recipe: Recipe,
    shape: CorpusShape = CorpusShape(),
    text_preset: str | None = None,
    stage2_steps: int = 20,
) -> dict:
    """Stage-1 (job vs in memory) and stage-2 throughput on a synthetic corpus of `shape`.

    The text width and the stage-2 encoder come from `text_preset` (default:
    the offline MiniLM, all its layers: the demo teacher).

    Example:

    >>> figures = run_corpus_scale_benchmark(get_recipe("demo"))  # doctest: +SKIP
    >>> print(corpus_scale_markdown(figures))  # doctest: +SKIP
    """
    from ser_keras.text import load_text_encoder, load_text_preprocessor

    text_encoder = load_text_encoder(text_preset)
    corpus = synthetic_cached_corpus(shape, text_width=int(text_encoder.hidden_dim), seed=recipe.seed)
    figures = {"shape": dataclasses.asdict(shape), "batch_size": recipe.batch_size,
               "stage1": measure_stage1_throughput(corpus, recipe)}
    if stage2_steps > 0:
        preprocessor = load_text_preprocessor(text_preset, shape.sequence_length)
        figures["stage2"] = measure_stage2_throughput(corpus, recipe, text_encoder, preprocessor, stage2_steps)
    return figures


def corpus_scale_markdown(figures: dict) -> str:
    """The corpus-scale figures as a markdown table, with the stage-1 target (job within 2x of in memory).

    Example:

    >>> print(corpus_scale_markdown({"shape": {"train": 10, "validation": 2}, "batch_size": 2, "stage1": {
    ...     "job": {"epoch_seconds": 2.0, "items_per_second": 5.0},
    ...     "in_memory": {"epoch_seconds": 1.0, "items_per_second": 10.0}, "ratio": 2.0}}).splitlines()[-1])
    | Stage 1, target | in memory / job = 2.00 (target <= 2) | met |
    """
    stage1 = figures["stage1"]
    shape = figures["shape"]
    lines = [
        f"Synthetic corpus: {shape['train']} training and {shape['validation']} validation utterances, "
        f"batch size {figures['batch_size']}; one epoch after a warm-up epoch, validation included.",
        "",
        "| Run | Seconds per epoch | Training items/s |",
        "|---|---:|---:|",
    ]
    for label, key in (("Stage 1, job pipeline (cached outputs)", "job"), ("Stage 1, in-memory arrays", "in_memory")):
        lines.append(f"| {label} | {stage1[key]['epoch_seconds']:.2f} | {stage1[key]['items_per_second']:.0f} |")
    if "stage2" in figures:
        lines.append(f"| Stage 2, job pipeline (BERT trainable, no validation) | "
                     f"{figures['stage2']['epoch_seconds']:.2f} (timed steps) | "
                     f"{figures['stage2']['items_per_second']:.1f} |")
    verdict = "met" if stage1["ratio"] <= 2.0 else "missed"
    lines.append(f"| Stage 1, target | in memory / job = {stage1['ratio']:.2f} (target <= 2) | {verdict} |")
    return "\n".join(lines)
