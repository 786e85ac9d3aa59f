"""Typed configuration of the training recipe, with the paper's values as a named preset.

A `Recipe` holds everything that decides how a model trains: the two stages
(transfer learning with frozen encoders, then fine-tuning with the text encoder
unfrozen), their optimisers and schedules, the batch size, the distillation
weights and the model-selection metric, plus the audio stage that trains a
trainable audio encoder from the labels before them (the compact CNN, or a
fine-tuned VGGish; not part of the paper, whose VGGish is pretrained and
frozen). Two presets ship:

* `paper`: the values of the paper and the authors' code (SGD, momentum 0.99,
  weight decay 1e-6, learning rate 1e-6 divided by 10 every 30 epochs, 50 + 100
  epochs, T = 2, alpha = 0.5, selection by validation accuracy, batch size 1 as
  the authors ran it).
* `demo`: a short recipe for the shipped synthetic demo corpus on a CPU, with
  speaker normalisation of the audio.

Example:

>>> from ser_keras.config import get_recipe
>>> recipe = get_recipe("paper")
>>> recipe.transfer.epochs, recipe.finetune.epochs, recipe.distillation.temperature
(50, 100, 2.0)
>>> get_recipe("paper", batch_size=16).batch_size
16
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OptimizerConfig:
    """An optimiser with a step-decay learning-rate schedule.

    Args:
        name: `"sgd"` or `"adam"` (Adam with decoupled weight decay, i.e. AdamW).
        learning_rate: the initial learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: decoupled weight decay.
        decay_every_epochs: multiply the rate by `decay_factor` every this many
            epochs (`0` disables the decay).
        decay_factor: the step-decay factor.

    Example:

    >>> OptimizerConfig(name="sgd", learning_rate=1e-3).momentum
    0.0
    """

    name: str = "sgd"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    decay_every_epochs: int = 0
    decay_factor: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in ("sgd", "adam"):
            raise ValueError(f"optimizer name must be 'sgd' or 'adam'; got {self.name!r}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive; got {self.learning_rate}.")

    def learning_rate_at(self, epoch: int) -> float:
        """The step-decayed learning rate of a (0-based) epoch.

        Example:

        >>> OptimizerConfig(learning_rate=1.0, decay_every_epochs=30).learning_rate_at(65)
        0.010000000000000002
        """
        if self.decay_every_epochs <= 0:
            return self.learning_rate
        return self.learning_rate * self.decay_factor ** (epoch // self.decay_every_epochs)


@dataclass(frozen=True)
class StageConfig:
    """One training stage: how many epochs and with which optimiser.

    Example:

    >>> StageConfig(epochs=5).optimizer.name
    'sgd'
    """

    epochs: int = 1
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass(frozen=True)
class DistillationConfig:
    """Weights of the distillation loss `alpha*KL*T^2 + (1-alpha)*CE + feature_weight*MSE`.

    Example:

    >>> DistillationConfig().alpha
    0.5
    """

    alpha: float = 0.5
    temperature: float = 2.0
    feature_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]; got {self.alpha}.")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive; got {self.temperature}.")


@dataclass(frozen=True)
class Recipe:
    """The full training recipe of a teacher or a student.

    Args:
        name: the preset's name (kept in saved configs).
        transfer: stage 1, encoders frozen, trained on cached encoder outputs.
        finetune: stage 2, text encoder unfrozen, audio encoder frozen.
        audio: the audio stage (before stage 1): a trainable audio encoder
            learns from the labels, one 0.96 s patch at a time; skipped for a
            frozen VGGish.
        audio_batch_size: the GLOBAL batch size of the audio stage, in patches.
        speaker_normalization: standardise each clip's log-mel bands with its
            speaker's statistics before any audio encoder (uses the unlabelled
            audio of the test speakers; see `ser_keras.data.speaker_norm`).
        batch_size: the GLOBAL batch size (split across replicas under
            `tf.distribute`; scale the learning rate with it yourself).
        distillation: the distillation loss weights.
        selection_metric: the validation metric that picks the kept checkpoint.
        seed: seeds weights, dropout and data order.

    Example:

    >>> Recipe(name="mine").selection_metric
    'val_acc'
    """

    name: str = "custom"
    transfer: StageConfig = field(default_factory=StageConfig)
    finetune: StageConfig = field(default_factory=StageConfig)
    audio: StageConfig = field(default_factory=lambda: _audio_stage(epochs=12))
    audio_batch_size: int = 32
    speaker_normalization: bool = False
    batch_size: int = 16
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    selection_metric: str = "val_acc"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {self.batch_size}.")
        if self.audio_batch_size < 1:
            raise ValueError(f"audio_batch_size must be at least 1; got {self.audio_batch_size}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every value.

        Example:

        >>> get_recipe("paper").to_dict()["finetune"]["optimizer"]["momentum"]
        0.99
        """
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The recipe as indented JSON.

        Example:

        >>> '"name": "demo"' in get_recipe("demo").to_json()
        True
        """
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Recipe":
        """Rebuilds a recipe saved with `to_dict`.

        Example:

        >>> Recipe.from_dict(get_recipe("demo").to_dict()) == get_recipe("demo")
        True
        """
        values = dict(values)
        for stage in ("transfer", "finetune", "audio"):
            if stage in values:
                stage_values = dict(values[stage])
                stage_values["optimizer"] = OptimizerConfig(**stage_values.get("optimizer", {}))
                values[stage] = StageConfig(**stage_values)
        if "distillation" in values:
            values["distillation"] = DistillationConfig(**values["distillation"])
        return cls(**values)


def _audio_stage(epochs: int) -> StageConfig:
    """The audio stage: AdamW from scratch (batch norm and a small CNN train well with it)."""
    return StageConfig(
        epochs=epochs, optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, weight_decay=1e-4)
    )


def _paper_recipe() -> Recipe:
    sgd = OptimizerConfig(
        name="sgd", learning_rate=1e-6, momentum=0.99, weight_decay=1e-6, decay_every_epochs=30
    )
    return Recipe(
        name="paper",
        transfer=StageConfig(epochs=50, optimizer=sgd),
        finetune=StageConfig(epochs=100, optimizer=sgd),
        audio=_audio_stage(epochs=30),  # not in the paper: only without pretrained VGGish weights
        speaker_normalization=False,
        batch_size=1,
        distillation=DistillationConfig(alpha=0.5, temperature=2.0, feature_weight=1.0),
        selection_metric="val_acc",
        seed=0,
    )


def _demo_recipe() -> Recipe:
    return Recipe(
        name="demo",
        transfer=StageConfig(
            epochs=20, optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, weight_decay=1e-4)
        ),
        finetune=StageConfig(
            epochs=3, optimizer=OptimizerConfig(name="adam", learning_rate=3e-5, weight_decay=1e-4)
        ),
        audio=_audio_stage(epochs=12),
        speaker_normalization=True,  # measured on the validation voices: docs/RESULTS.md
        batch_size=32,
        distillation=DistillationConfig(alpha=0.5, temperature=2.0, feature_weight=1.0),
        selection_metric="val_acc",
        seed=0,
    )


#: Named recipes; `get_recipe` returns a fresh copy with overrides applied.
PRESETS = {"paper": _paper_recipe, "demo": _demo_recipe}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """Returns the named preset, with top-level fields replaced by `overrides`.

    Raises:
        ValueError: for an unknown preset name or field.

    Example:

    >>> get_recipe("demo", seed=3).seed
    3
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown recipe preset {name!r}; choose one of {sorted(PRESETS)}.")
    recipe = PRESETS[name]()
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise ValueError(f"Unknown recipe fields {sorted(unknown)}.")
    return dataclasses.replace(recipe, **overrides)
