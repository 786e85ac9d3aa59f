"""Fine-tuning a pretrained text encoder: layer-wise learning rates and a warm-up.

Two standard tools for fine-tuning BERT-like encoders, both off by default
(`OptimizerConfig.layer_decay = 1`, `warmup_steps = 0`):

* **layer-wise learning-rate decay** (`LayerwiseAdamW`): the head trains at
  the stage's rate, the encoder's top transformer layer at `rate * decay`,
  the one below at `rate * decay**2`, ..., the embeddings at
  `rate * decay**(n + 1)`: the lower layers, which hold the most general
  features, move the least;
* **a linear warm-up** (`StepLearningRate`): the rate grows linearly from
  near 0 to the stage's rate over the stage's first `warmup_steps` steps,
  then follows the stage's step decay.

Example:

>>> layer_rate_multipliers(["transformer_layer_0/query/kernel", "transformer_layer_1/query/kernel",
...                         "token_embedding/embeddings", "logits/kernel"], decay=0.5)
[0.25, 0.5, 0.125, 1.0]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras

from ser_keras.config import OptimizerConfig
from ser_keras.keras_internals import optimizer_variable_index

#: Variable-path prefixes of a keras-hub BERT backbone's embeddings (below its first layer).
EMBEDDING_PREFIXES = ("token_embedding/", "position_embedding/", "segment_embedding/", "embeddings_layer_norm/")
_LAYER = re.compile(r"(?:^|/)transformer_layer_(\d+)/")


def layer_rate_multipliers(paths: Sequence[str], decay: float) -> list[float]:
    """Each variable's learning-rate multiplier under layer-wise decay `decay`.

    A variable of transformer layer `i` (of `n`, from its path) gets
    `decay ** (n - i)`, the embeddings `decay ** (n + 1)`, every other
    variable (the fusion head, the pooler) 1.

    Example:

    >>> layer_rate_multipliers(["transformer_layer_0/x", "dense/kernel"], decay=0.8)
    [0.8, 1.0]
    """
    layers = [_layer_index(path) for path in paths]
    num_layers = max((layer + 1 for layer in layers if layer is not None), default=0)
    multipliers = []
    for path, layer in zip(paths, layers, strict=True):
        if layer is not None:
            multipliers.append(decay ** (num_layers - layer))
        elif any(f"/{prefix}" in f"/{path}" for prefix in EMBEDDING_PREFIXES):
            multipliers.append(decay ** (num_layers + 1))
        else:
            multipliers.append(1.0)
    return multipliers


def _layer_index(path: str) -> int | None:
    match = _LAYER.search(path)
    return int(match.group(1)) if match else None


@keras.saving.register_keras_serializable(package="ser_keras")
class LayerwiseAdamW(keras.optimizers.AdamW):
    """AdamW with layer-wise learning-rate decay over a BERT backbone's layers.

    Args:
        layer_decay: the factor per layer below the head (1: plain AdamW).
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:

    >>> optimizer = LayerwiseAdamW(layer_decay=0.5, learning_rate=1.0, weight_decay=0.0)
    >>> low, high = keras.Variable([0.0], name="kernel"), keras.Variable([0.0], name="kernel")
    >>> optimizer.build([low, high])
    >>> optimizer.rate_multipliers
    [1.0, 1.0]
    """

    def __init__(self, layer_decay: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1]; got {layer_decay}.")
        self.layer_decay = layer_decay
        self.rate_multipliers: list[float] = []

    def build(self, var_list):
        super().build(var_list)
        self.rate_multipliers = layer_rate_multipliers([variable.path for variable in var_list], self.layer_decay)

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self.rate_multipliers[optimizer_variable_index(self, variable)]
        super().update_step(gradient, variable, learning_rate * multiplier)

    def get_config(self):
        return {**super().get_config(), "layer_decay": self.layer_decay}


class StepLearningRate(keras.callbacks.Callback):
    """Sets the optimiser's rate before every step: linear warm-up, then the stage's step decay.

    Step `s` of the stage (the optimiser's own step counter, which
    `BackupAndRestore` restores) in epoch `e` trains at
    `learning_rate_at(e) * min(1, (s + 1) / warmup_steps)`: a run resumed
    mid-stage continues on the same schedule.

    Args:
        config: the stage's optimiser (`learning_rate_at`, `warmup_steps`).

    Example:

    >>> callback = StepLearningRate(OptimizerConfig(learning_rate=1.0, warmup_steps=4))
    >>> callback.rate_at(epoch=0, step=1), callback.rate_at(epoch=2, step=9)
    (0.5, 1.0)
    """

    def __init__(self, config: OptimizerConfig):
        super().__init__()
        self.config = config
        self._epoch = 0

    def rate_at(self, epoch: int, step: int) -> float:
        """The learning rate of the stage's `step` (0-based), in `epoch`."""
        rate = self.config.learning_rate_at(epoch)
        if self.config.warmup_steps > 0:
            rate *= min(1.0, (step + 1) / self.config.warmup_steps)
        return rate

    def _set_rate(self) -> None:
        optimizer = self.model.optimizer
        optimizer.learning_rate = self.rate_at(self._epoch, int(keras.ops.convert_to_numpy(optimizer.iterations)))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._set_rate()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.config.warmup_steps > 0:
            self._set_rate()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
