"""Inference speed: batch-1 latency (the paper's measure), batch throughput, and the branch split.

Latency: one clip at a time, warm (every input shape seen once first, then a
few untimed calls), the median of `repeats` timed calls cycling through real
test clips (`ser_keras.latency.measure_latency`, the scope `"model"`, or
`"branch"` for the parts). Throughput: padded batches of test clips, samples
per second from the median batch time.

Example:

>>> throughput(predict, batch_of(clips, 32))["samples_per_s"]  # doctest: +SKIP
310.5
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ser_keras.audio import params, waveform_to_examples
from ser_keras.latency import measure_latency

logger = logging.getLogger(__name__)


def throughput(
    predict: Callable[[Any], Any], batch: Mapping[str, np.ndarray], repeats: int = 2, warmup: int = 1
) -> dict[str, float]:
    """Samples per second on one padded batch: `samples_per_s` (from the median), `batch_ms`, `batch_size`.

    Example:

    >>> throughput(lambda x: x["a"], {"a": np.zeros((32, 2))}, repeats=2)["batch_size"]
    32.0
    """
    batch_size = len(next(iter(batch.values())))
    stats = measure_latency(predict, [batch], warmup=warmup, repeats=repeats, warm_every_shape=False)
    return {
        "samples_per_s": batch_size / (stats["median_ms"] / 1000.0),
        "batch_ms": stats["median_ms"],
        "batch_size": float(batch_size),
    }


def _timed(function: Callable[[Any], Any], samples: Sequence[Any], repeats: int) -> float:
    return measure_latency(function, samples, repeats=repeats)["median_ms"]


def audio_branch_latency(
    audio_encoder: keras.Model, waveforms: Sequence[np.ndarray], repeats: int = 50
) -> dict[str, float]:
    """Median batch-1 times (ms) of the log-mel front end and of the audio encoder (VGGish), in `tf.function`s.

    Example:

    >>> audio_branch_latency(build_vggish(), [clip.waveform for clip in clips])  # doctest: +SKIP
    {'front_end_ms': 1.9, 'audio_encoder_ms': 30.2}
    """
    front_end = tf.function(
        lambda waveform: waveform_to_examples(waveform, params.SAMPLE_RATE),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )
    encoder = tf.function(
        lambda patches: audio_encoder(patches, training=False),
        input_signature=[tf.TensorSpec([None, params.NUM_FRAMES, params.NUM_BANDS], tf.float32)],
    )
    waveforms = [np.asarray(waveform, np.float32) for waveform in waveforms]
    patches = [front_end(waveform).numpy() for waveform in waveforms]
    return {
        "front_end_ms": _timed(lambda waveform: front_end(waveform), waveforms, repeats),
        "audio_encoder_ms": _timed(lambda batch: encoder(batch), patches, repeats),
    }


def text_branch_latency(
    text_encoder: keras.Model,
    head: keras.Model,
    preprocessor,
    texts: Sequence[str],
    samples: Sequence[Mapping[str, np.ndarray]],
    audio_encoder: keras.Model,
    repeats: int = 50,
) -> dict[str, float]:
    """Median batch-1 times (ms) of the tokenizer, the BERT encoder and the fusion head.

    Args:
        text_encoder: the model's BERT backbone.
        head: its fusion head.
        preprocessor: the tokenizer (run eagerly, as in serving).
        texts: transcripts of the clips.
        samples: the clips' batch-of-one model inputs.
        audio_encoder: computes the head's audio inputs (untimed).
        repeats: timed calls per part.

    Example:

    >>> text_branch_latency(bert, head, preprocessor, texts, samples, vggish)  # doctest: +SKIP
    {'tokenizer_ms': 1.1, 'text_encoder_ms': 6.8, 'head_ms': 0.9}
    """
    token_names = ("token_ids", "segment_ids", "padding_mask")
    token_signature = {
        name: tf.TensorSpec([None, None], samples[0][name].dtype, name=name) for name in token_names
    }
    encoder = tf.function(
        lambda tokens: text_encoder(tokens, training=False)["sequence_output"], input_signature=[token_signature]
    )
    head_function = tf.function(lambda inputs: head(inputs, training=False), reduce_retracing=True)
    tokens = [{name: sample[name] for name in token_names} for sample in samples]
    head_inputs = [
        {
            "text_features": encoder(token_inputs).numpy(),
            "padding_mask": sample["padding_mask"],
            "audio_embeddings": np.asarray(audio_encoder(sample["audio_patches"][0], training=False))[np.newaxis],
            "audio_mask": sample["audio_mask"],
        }
        for token_inputs, sample in zip(tokens, samples, strict=True)
    ]
    return {
        "tokenizer_ms": _timed(lambda text: preprocessor(tf.constant([text]))["token_ids"], list(texts), repeats),
        "text_encoder_ms": _timed(lambda token_inputs: encoder(token_inputs), tokens, repeats),
        "head_ms": _timed(lambda inputs: head_function(inputs), head_inputs, repeats),
    }

