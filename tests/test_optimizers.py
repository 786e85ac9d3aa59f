"""Layer-wise learning-rate decay and the step-wise warm-up (ser_keras.training.optimizers)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ser_keras.config import OptimizerConfig
from ser_keras.training.optimizers import (
    LayerwiseAdamW,
    StepLearningRate,
    layer_rate_multipliers,
)
from ser_keras.training.stages import make_optimizer


def test_multipliers_follow_depth_from_the_top_layer():
    paths = [
        "token_embedding/embeddings",
        "embeddings_layer_norm/gamma",
        "transformer_layer_0/self_attention_layer/query/kernel",
        "transformer_layer_2/feedforward_output_dense/bias",
        "transformer_layer_1/feedforward_output_dense/bias",
        "text_attention/dense/kernel",
        "pooled_dense/kernel",
    ]
    assert layer_rate_multipliers(paths, decay=0.5) == [0.0625, 0.0625, 0.125, 0.5, 0.25, 1.0, 1.0]
    assert layer_rate_multipliers(paths, decay=1.0) == [1.0] * len(paths)


def _adamw_steps(optimizer, start: np.ndarray, gradients: list[np.ndarray]) -> np.ndarray:
    variable = keras.Variable(start.copy(), name="kernel")
    for gradient in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
    return keras.ops.convert_to_numpy(variable)


def test_each_variable_moves_as_plain_adamw_at_its_own_rate():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 2)).astype("float32")
    gradients = [rng.normal(size=(3, 2)).astype("float32") for _ in range(4)]
    # Two variables in one optimiser: layer 0 of 2 (multiplier decay**2) and the head (1).
    low = keras.Variable(start.copy(), name="kernel")
    head = keras.Variable(start.copy(), name="kernel")
    optimizer = LayerwiseAdamW(layer_decay=0.5, learning_rate=0.1, weight_decay=0.0)
    optimizer.build([low, head])
    optimizer.rate_multipliers = [0.25, 1.0]
    for gradient in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(gradient)] * 2, [low, head])
    expected_low = _adamw_steps(keras.optimizers.AdamW(learning_rate=0.025, weight_decay=0.0), start, gradients)
    expected_head = _adamw_steps(keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0), start, gradients)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(low), expected_low, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head), expected_head, rtol=1e-6, atol=1e-7)
    assert not np.allclose(expected_low, expected_head)


def test_multipliers_come_from_a_bert_backbone_variable_paths():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=8
    )
    optimizer = LayerwiseAdamW(layer_decay=0.5, learning_rate=1e-3)
    optimizer.build(backbone.trainable_variables)
    by_path = dict(zip([v.path for v in backbone.trainable_variables], optimizer.rate_multipliers, strict=True))
    assert by_path["token_embedding/embeddings"] == 0.125
    assert by_path["transformer_layer_0/self_attention_layer/query/kernel"] == 0.25
    assert by_path["transformer_layer_1/self_attention_layer/query/kernel"] == 0.5
    assert by_path["pooled_dense/kernel"] == 1.0


def test_make_optimizer_picks_layerwise_adamw_only_with_a_decay():
    assert type(make_optimizer(OptimizerConfig(name="adam"))) is keras.optimizers.AdamW
    layerwise = make_optimizer(OptimizerConfig(name="adam", layer_decay=0.8))
    assert isinstance(layerwise, LayerwiseAdamW) and layerwise.layer_decay == 0.8
    with pytest.raises(ValueError, match="layer_decay"):
        OptimizerConfig(name="sgd", layer_decay=0.8)


def test_warmup_is_linear_in_steps_then_follows_the_step_decay():
    callback = StepLearningRate(
        OptimizerConfig(learning_rate=1.0, warmup_steps=2, decay_every_epochs=2, decay_factor=0.1)
    )
    rates = [callback.rate_at(epoch, epoch * 4 + step) for epoch in range(3) for step in range(4)]
    np.testing.assert_allclose(rates, [0.5, 1, 1, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1])


def test_warmup_sets_the_rate_of_every_step_in_fit():
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.AdamW(1.0), loss="mse")
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    config = OptimizerConfig(name="adam", learning_rate=0.4, warmup_steps=4)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[StepLearningRate(config), Record()])
    np.testing.assert_allclose(seen, [0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4], rtol=1e-6)
