"""Tiny stand-ins for the 3M-SER models and data, for the training tests.

The models follow the project's model contract (dict of inputs with
"token_ids" and "padding_mask" -> {"logits", "text_features"}) without BERT or
VGGish, so the Distiller tests stay fast and deterministic.

Run as a script, it is the worker of the subprocess tests, which must start
TensorFlow with their own device setup or `TF_CONFIG`:

    python tests/training_stand_ins.py mirrored OUT.npz
    TF_CONFIG=... python tests/training_stand_ins.py multiworker OUT.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from seed_offset import shifted

from ser_keras.training import (
    ClassificationMetricsCallback,
    Distiller,
    MultiReplicaModel,
    get_strategy,
)

VOCAB_SIZE = 16
SEQUENCE_LENGTH = 6
HIDDEN_SIZE = 8
NUM_CLASSES = 4
#: The compact CNN's run in the distribution tests: the last batch (3) splits 2 + 1 across replicas.
COMPACT_AUDIO_RUN = dict(num_examples=7, batch_size=4, epochs=2)


def build_stand_in_model(
    seed: int, hidden_size: int = HIDDEN_SIZE, dropout_rate: float = 0.0, name: str = "stand_in"
):
    """Embedding -> Dense (text features) -> masked mean -> Dropout -> Dense (logits).

    Its weights and dropout are drawn from `seed` shifted by SER_TEST_SEED_OFFSET (seed_offset.py).
    """
    seed = shifted(seed)
    token_ids = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((SEQUENCE_LENGTH,), dtype="bool", name="padding_mask")
    embedded = keras.layers.Embedding(
        VOCAB_SIZE,
        hidden_size,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed),
    )(token_ids)
    text_features = keras.layers.Dense(
        hidden_size,
        activation="tanh",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 1),
    )(embedded)
    weights = keras.ops.expand_dims(keras.ops.cast(padding_mask, "float32"), -1)
    pooled = keras.ops.sum(text_features * weights, axis=1) / keras.ops.maximum(
        keras.ops.sum(weights, axis=1), 1.0
    )
    pooled = keras.layers.Dropout(dropout_rate, seed=seed + 3)(pooled)
    logits = keras.layers.Dense(
        NUM_CLASSES,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.5, seed=seed + 2),
    )(pooled)
    return keras.Model(
        {"token_ids": token_ids, "padding_mask": padding_mask},
        {"logits": logits, "text_features": text_features},
        name=name,
    )


def make_examples(num_examples: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Random token sequences of random lengths (1..L, zero-padded) and labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, SEQUENCE_LENGTH + 1, size=num_examples)
    padding_mask = np.arange(SEQUENCE_LENGTH)[None, :] < lengths[:, None]
    token_ids = np.where(
        padding_mask, rng.integers(1, VOCAB_SIZE, size=(num_examples, SEQUENCE_LENGTH)), 0
    ).astype("int32")
    labels = rng.integers(0, NUM_CLASSES, size=num_examples).astype("int32")
    return {"token_ids": token_ids, "padding_mask": padding_mask}, labels


def numpy_softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64."""
    logits = np.asarray(logits, dtype="float64")
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def train_distiller(
    strategy, num_examples: int, batch_size: int, epochs: int
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Fits a Distiller (SGD) under `strategy` on fixed data, validating on the same data.

    Returns the student's weights, flattened into one vector, and the history.
    """
    inputs, labels = make_examples(num_examples)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    with strategy.scope():
        distiller = Distiller(
            build_stand_in_model(seed=10, name="teacher"), build_stand_in_model(seed=20)
        )
        distiller.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
    history = distiller.fit(
        dataset,
        validation_data=dataset,
        epochs=epochs,
        verbose=0,
        callbacks=[ClassificationMetricsCallback(dataset)],
    )
    return flat_weights(distiller.student), history.history


def train_supervised(strategy, num_examples: int, batch_size: int, epochs: int) -> np.ndarray:
    """Fits a stand-in as a `MultiReplicaModel` with a compiled Keras loss; returns its weights."""
    inputs, labels = make_examples(num_examples)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(batch_size)
    with strategy.scope():
        stand_in = build_stand_in_model(seed=30)
        model = MultiReplicaModel(stand_in.input, stand_in.output["logits"])
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    model.fit(dataset, epochs=epochs, verbose=0)
    return flat_weights(model)


def train_compact_audio(strategy, num_examples: int, batch_size: int, epochs: int) -> tuple[np.ndarray, float]:
    """Fits a small compact audio CNN (batch norm) on random patches as a `MultiReplicaModel`.

    Returns its weights (batch-norm moving statistics included) and the largest
    difference between the replicas' own copies of any of them.
    """
    from ser_keras.audio.params import NUM_BANDS, NUM_FRAMES
    from ser_keras.models.audio_cnn import build_compact_audio_encoder

    rng = np.random.default_rng(1)
    patches = rng.normal(size=(num_examples, NUM_FRAMES, NUM_BANDS)).astype("float32")
    labels = np.arange(num_examples) % NUM_CLASSES
    dataset = tf.data.Dataset.from_tensor_slices((patches, labels)).batch(batch_size)
    keras.utils.set_random_seed(shifted(40))
    with strategy.scope():
        encoder = build_compact_audio_encoder(conv_widths=(4, 8), embedding_size=8)
        inputs = keras.Input((NUM_FRAMES, NUM_BANDS))
        model = MultiReplicaModel(inputs, keras.layers.Dense(NUM_CLASSES)(encoder(inputs)))
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    model.fit(dataset, epochs=epochs, verbose=0)
    spread = 0.0
    for variable in encoder.weights:
        first, *others = (np.asarray(copy) for copy in strategy.experimental_local_results(variable.value))
        spread = max([spread, *(float(np.max(np.abs(copy - first))) for copy in others)])
    return flat_weights(encoder), spread


def flat_weights(model) -> np.ndarray:
    """All weights of `model` in one vector."""
    return np.concatenate([np.ravel(weight) for weight in model.get_weights()])


def _run_mirrored(out_path: Path) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    two_devices = get_strategy()
    # 7 examples in batches of 4: the last global batch (3) splits 2 + 1 across replicas.
    run = dict(num_examples=7, batch_size=4, epochs=3)
    two_weights, two_history = train_distiller(two_devices, **run)
    one_weights, one_history = train_distiller(tf.distribute.OneDeviceStrategy("/cpu:0"), **run)
    # A compiled Keras loss over the same uneven split (7 in batches of 4): the mixin's global-batch mean.
    supervised = dict(num_examples=7, batch_size=4, epochs=3)
    compact_two, compact_two_spread = train_compact_audio(two_devices, **COMPACT_AUDIO_RUN)
    np.savez(
        out_path,
        num_replicas=two_devices.num_replicas_in_sync,
        mirrored=isinstance(two_devices, tf.distribute.MirroredStrategy),
        initial=flat_weights(build_stand_in_model(seed=20)),
        two=two_weights,
        one=one_weights,
        two_val_loss=two_history["val_loss"],
        one_val_loss=one_history["val_loss"],
        two_val_acc=two_history["val_acc"],
        one_val_acc=one_history["val_acc"],
        supervised_initial=flat_weights(build_stand_in_model(seed=30)),
        supervised_two=train_supervised(two_devices, **supervised),
        supervised_one=train_supervised(tf.distribute.OneDeviceStrategy("/cpu:0"), **supervised),
        compact_two=compact_two,
        compact_two_spread=compact_two_spread,
        compact_one=train_compact_audio(tf.distribute.OneDeviceStrategy("/cpu:0"), **COMPACT_AUDIO_RUN)[0],
    )


def _run_multiworker(out_path: Path) -> None:
    strategy = get_strategy()
    run = dict(num_examples=8, batch_size=4, epochs=2)
    workers_weights, workers_history = train_distiller(strategy, **run)
    one_weights, _ = train_distiller(tf.distribute.OneDeviceStrategy("/cpu:0"), **run)
    np.savez(
        out_path,
        num_replicas=strategy.num_replicas_in_sync,
        multi_worker=isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        workers=workers_weights,
        one=one_weights,
        supervised_initial=flat_weights(build_stand_in_model(seed=30)),
        supervised_workers=train_supervised(strategy, **run),
        val_loss=workers_history["val_loss"],
        val_bacc=workers_history["val_bacc"],
        compact_workers=train_compact_audio(strategy, **COMPACT_AUDIO_RUN)[0],
    )


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    {"mirrored": _run_mirrored, "multiworker": _run_multiworker}[mode](out)
