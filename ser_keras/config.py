"""The one typed configuration of a job: data, models, training recipe and outputs.

A `DistillJobConfig` says which data to read and how to split it
(`DataConfig`), which encoders and students to build (`ModelConfig`), how to
train them (`Recipe`) and where the outputs go. Every choice a job can take
(datasets, splits, audio encoders, compact students) is spelled here once; the
command-line flags (`ser_keras.experiment.cli`) and the job runner import it.

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

Every field declares what it shapes with `shapes(TEACHER | STUDENTS | NO_MODEL,
default)`: the teacher (and so every model), the students only, or no trained
model (outputs). The reuse fingerprints (`DistillJobConfig.fingerprint_fields`)
are computed from these markers.

Example:

>>> from ser_keras.config import get_recipe
>>> recipe = get_recipe("paper")
>>> recipe.transfer.epochs, recipe.finetune.epochs, recipe.distillation.temperature
(50, 100, 2.0)
>>> get_recipe("paper", batch_size=16).batch_size
16
>>> config = DistillJobConfig()
>>> config.data.dataset, config.model.student_layers, config.recipe.name
('demo', (4, 2, 1), 'demo')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ser_keras.audio.params import DEFAULT_MAX_PATCHES
from ser_keras.data.corpora import CORPUS_NAMES
from ser_keras.data.enrolment import ALL_CLIPS, DEFAULT_ENROLMENT_CLIPS, ENROLMENT, check_speaker_statistics_mode
from ser_keras.modalities import MODALITIES, POOLING_MODES, default_pooling


#: What a configuration field shapes, declared on every field of the job's configuration with
#: `shapes(...)`; the reuse fingerprints (`DistillJobConfig.fingerprint_fields`) are computed from
#: these markers. A field of a nested config shapes at most what the field holding it shapes
#: (`Recipe.compact_finetune` shapes the students only, so its optimiser's learning rate does too).
TEACHER = "teacher"  # shapes the teacher (and so every model): in both fingerprints
STUDENTS = "students"  # shapes the students only: in the training fingerprint, not the teacher's
NO_MODEL = "no model"  # shapes no trained model (where outputs go, what is measured): in neither
_SCOPES = (TEACHER, STUDENTS, NO_MODEL)  # widest first
_SHAPES_KEY = "ser_keras.shapes"
_WHEN_KEY = "ser_keras.shapes_when"


def shapes(
    scope: str,
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    when: Callable[[Any], bool] | None = None,
) -> Any:
    """A dataclass field marked with what it shapes: `TEACHER`, `STUDENTS` or `NO_MODEL`.

    Args:
        scope: `TEACHER` (the field enters both reuse fingerprints), `STUDENTS`
            (the training fingerprint only) or `NO_MODEL` (neither).
        default: the field's default, as with `dataclasses.field`.
        default_factory: or a function making it.
        when: a function of the config holding the field; the field enters
            the fingerprints only when it returns true: a setting that shapes
            nothing unless another one is on, or a new setting left out while
            it holds the value that earlier code implied, so that the models
            saved before it was added keep their fingerprints.

    Example:

    >>> @dataclass(frozen=True)
    ... class Example:
    ...     seed: int = shapes(TEACHER, 0)
    >>> Example().seed, dataclasses.fields(Example)[0].metadata[_SHAPES_KEY]
    (0, 'teacher')
    """
    if scope not in _SCOPES:
        raise ValueError(f"shapes() takes TEACHER, STUDENTS or NO_MODEL; got {scope!r}.")
    metadata = {_SHAPES_KEY: scope, _WHEN_KEY: when}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def unmarked_message(names: list[str]) -> str:
    """What to do about configuration fields declared without `shapes(...)`.

    Example:

    >>> unmarked_message(["recipe.warmup_epochs"]).split(". ")[0]
    'No `shapes(...)` marker on recipe.warmup_epochs'
    """
    return (
        f"No `shapes(...)` marker on {', '.join(names)}. The reuse fingerprints are computed from these "
        "markers, so they cannot tell whether a saved teacher or student was trained with such a field. "
        "Declare each in ser_keras/config.py with `shapes(TEACHER, <default>)` (it changes the teacher, "
        "and so every model), `shapes(STUDENTS, <default>)` (the students only) or `shapes(NO_MODEL, "
        "<default>)` (no trained model: outputs, measurements). A new TEACHER or STUDENTS field changes "
        "the fingerprints of saved models (they are trained again) unless `when=` leaves it out while it "
        "holds the value that earlier code implied."
    )


def field_scopes(config_class: type | None = None) -> dict[str, str | None]:
    """What each field of the job's configuration shapes, by dotted name, nested configs included.

    A nested config's field shapes at most what the field holding it shapes;
    `None` for a field declared without `shapes(...)`.

    Example:

    >>> scopes = field_scopes()
    >>> scopes["recipe.finetune.optimizer.learning_rate"], scopes["recipe.compact_finetune.epochs"]
    ('teacher', 'students')
    >>> scopes["run_name"], scopes["model.baselines"]
    ('no model', 'students')
    """
    config_class = DistillJobConfig if config_class is None else config_class
    hints = typing.get_type_hints(config_class)
    scopes: dict[str, str | None] = {}
    for item in dataclasses.fields(config_class):
        scope = item.metadata.get(_SHAPES_KEY)
        scopes[item.name] = scope
        for nested in _config_classes(hints[item.name]):
            for name, nested_scope in field_scopes(nested).items():
                if scope is not None and nested_scope is not None:
                    nested_scope = max(scope, nested_scope, key=_SCOPES.index)
                scopes[f"{item.name}.{name}"] = nested_scope
    return scopes


def _config_classes(hint: Any) -> list[type]:
    """The dataclasses a field's type holds (`StageConfig | None` -> `[StageConfig]`)."""
    if dataclasses.is_dataclass(hint):
        return [hint]
    return [found for argument in typing.get_args(hint) for found in _config_classes(argument)]


def _shaping_values(config: Any, scope: str) -> dict[str, Any]:
    """The fields of `config` (a config dataclass) that shape `scope`'s models, nested configs as dicts."""
    widest = _SCOPES.index(scope)
    values = {}
    for item in dataclasses.fields(config):
        if _SHAPES_KEY not in item.metadata:
            raise TypeError(unmarked_message([f"{type(config).__name__}.{item.name}"]))
        when = item.metadata[_WHEN_KEY]
        if _SCOPES.index(item.metadata[_SHAPES_KEY]) > widest or (when is not None and not when(config)):
            continue
        value = getattr(config, item.name)
        values[item.name] = _shaping_values(value, scope) if dataclasses.is_dataclass(value) else value
    return values


#: `Recipe.class_weighting`: the paper's plain loss, or each training example weighted by the
#: inverse frequency of its class (`ser_keras.training.class_weights`).
NO_CLASS_WEIGHTING = "none"
CLASS_WEIGHTINGS = (NO_CLASS_WEIGHTING, "balanced")

#: 3M-SER's dropout rate in the fusion head (`ModelConfig.head_dropout`).
DEFAULT_HEAD_DROPOUT = 0.5

#: The selection that keeps each stage's final epoch: nothing is chosen on validation.
LAST_EPOCH = "last"
#: What picks a stage's kept epoch: a validation score (the highest wins), or the final epoch.
SELECTION_METRICS = ("val_acc", "val_bacc", "val_mf1", "val_wf1", LAST_EPOCH)


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
        layer_decay: layer-wise learning-rate decay of a text encoder's layers
            (Adam only; `1` is off): the top layer trains at `rate * layer_decay`,
            each layer below at one more factor (`ser_keras.training.optimizers`).
        warmup_steps: the rate rises linearly over the stage's first this many
            steps (`0` is off).

    Example:

    >>> OptimizerConfig(name="sgd", learning_rate=1e-3).momentum
    0.0
    """

    name: str = shapes(TEACHER, "sgd")
    learning_rate: float = shapes(TEACHER, 1e-3)
    momentum: float = shapes(TEACHER, 0.0)
    weight_decay: float = shapes(TEACHER, 0.0)
    decay_every_epochs: int = shapes(TEACHER, 0)
    decay_factor: float = shapes(TEACHER, 0.1)
    # Added after models were saved: in the fingerprints only when set (earlier code had neither).
    layer_decay: float = shapes(TEACHER, 1.0, when=lambda optimizer: optimizer.layer_decay != 1.0)
    warmup_steps: int = shapes(TEACHER, 0, when=lambda optimizer: optimizer.warmup_steps != 0)

    def __post_init__(self) -> None:
        if self.name not in ("sgd", "adam"):
            raise ValueError(f"optimizer name must be 'sgd' or 'adam'; got {self.name!r}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive; got {self.learning_rate}.")
        if not 0.0 < self.layer_decay <= 1.0 or (self.layer_decay < 1.0 and self.name != "adam"):
            raise ValueError(f"layer_decay must be in (0, 1], and below 1 only with 'adam'; got {self.layer_decay}.")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or more; got {self.warmup_steps}.")

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

    epochs: int = shapes(TEACHER, 1)
    optimizer: OptimizerConfig = shapes(TEACHER, default_factory=OptimizerConfig)


@dataclass(frozen=True)
class DistillationConfig:
    """Weights of the distillation loss `alpha*KL*T^2 + (1-alpha)*CE + feature_weight*MSE`.

    Example:

    >>> DistillationConfig().alpha
    0.5
    """

    alpha: float = shapes(STUDENTS, 0.5)
    temperature: float = shapes(STUDENTS, 2.0)
    feature_weight: float = shapes(STUDENTS, 1.0)

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
        compact_finetune: stage 2 of the compact students, whose narrow text
            encoder starts with random layers and may want more epochs or a
            larger learning rate than a pretrained BERT; `None`: `finetune`.
        audio: the audio stage (before stage 1): a trainable audio encoder
            learns from the labels, one 0.96 s patch at a time; skipped for a
            frozen VGGish.
        audio_batch_size: the GLOBAL batch size of the audio stage, in patches.
        audio_augmentation: the audio stage trains on patches with SpecAugment
            masks (`ser_keras.audio.augment`; chosen on EmoDB's validation
            speakers, docs/RESULTS.md).
        speaker_normalization: standardise each clip's log-mel bands with its
            speaker's statistics before any audio encoder (see
            `ser_keras.data.speaker_norm`).
        speaker_statistics: where a validation or test speaker's statistics
            come from: `"enrolment"` (its first `enrolment_clips` clips, then
            not scored; what a deployment can do) or `"all-clips"` (all of its
            clips, transductive; rows marked in Table II). See
            `ser_keras.data.enrolment`.
        enrolment_clips: k of `"enrolment"` (0: unseen speakers' clips are not normalised).
        batch_size: the GLOBAL batch size (split across replicas under
            `tf.distribute`; scale the learning rate with it yourself).
        distillation: the distillation loss weights.
        selection_metric: the validation metric that picks each stage's kept
            epoch (one of `SELECTION_METRICS`), or `LAST_EPOCH` (`"last"`):
            the final epoch of every stage, nothing chosen on validation (for
            a validation split too small to choose on, such as one speaker of
            a small corpus; docs/RESULTS.md, EmoDB).
        seed: seeds weights, dropout and data order.
        label_smoothing: smoothing in `[0, 1)` of the label targets of stages 1
            and 2 (the teacher, the students without distillation and the
            distilled students' CE term; not the audio stage). 0, the paper's,
            is the default: 0.1 moved MELD's teacher inside its spread on dev
            over three paired seeds (docs/RESULTS.md, MELD).
        class_weighting: `"none"` (the paper's) or `"balanced"`: stages 1 and 2
            weight each training example by the inverse frequency of its class
            in the training split (`ser_keras.training.class_weights`); not the
            audio stage.

    Example:

    >>> Recipe(name="mine").selection_metric
    'val_acc'
    """

    name: str = shapes(TEACHER, "custom")
    transfer: StageConfig = shapes(TEACHER, default_factory=StageConfig)
    finetune: StageConfig = shapes(TEACHER, default_factory=StageConfig)
    compact_finetune: StageConfig | None = shapes(STUDENTS, None)
    audio: StageConfig = shapes(TEACHER, default_factory=lambda: _audio_stage(epochs=12))
    audio_batch_size: int = shapes(TEACHER, 32)
    # Earlier code had no masks: a recipe without them keeps the fingerprints of models saved then.
    audio_augmentation: bool = shapes(TEACHER, True, when=lambda recipe: recipe.audio_augmentation)
    speaker_normalization: bool = shapes(TEACHER, False)
    # These two shape nothing without speaker normalisation.
    speaker_statistics: str = shapes(TEACHER, ENROLMENT, when=lambda recipe: recipe.speaker_normalization)
    enrolment_clips: int = shapes(TEACHER, DEFAULT_ENROLMENT_CLIPS, when=lambda recipe: recipe.speaker_normalization)
    batch_size: int = shapes(TEACHER, 16)
    distillation: DistillationConfig = shapes(STUDENTS, default_factory=DistillationConfig)
    selection_metric: str = shapes(TEACHER, "val_acc")
    seed: int = shapes(TEACHER, 0)
    # Added after models were saved: in the fingerprints only when set.
    label_smoothing: float = shapes(TEACHER, 0.0, when=lambda recipe: recipe.label_smoothing != 0.0)
    class_weighting: str = shapes(
        TEACHER, NO_CLASS_WEIGHTING, when=lambda recipe: recipe.class_weighting != NO_CLASS_WEIGHTING
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must be in [0, 1); got {self.label_smoothing}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {self.batch_size}.")
        if self.audio_batch_size < 1:
            raise ValueError(f"audio_batch_size must be at least 1; got {self.audio_batch_size}.")
        check_speaker_statistics_mode(self.speaker_statistics)
        _check_choice("class_weighting", self.class_weighting, CLASS_WEIGHTINGS)
        if self.selection_metric not in SELECTION_METRICS:
            raise ValueError(
                f"selection_metric must be one of {', '.join(SELECTION_METRICS)}; got {self.selection_metric!r}."
            )
        if self.enrolment_clips < 0:
            raise ValueError(f"--enrolment-clips must be 0 or more; got {self.enrolment_clips}.")

    @property
    def transductive(self) -> bool:
        """Whether test speakers' statistics include the scored clips (`"all-clips"` normalisation).

        Example:

        >>> get_recipe("demo").transductive, get_recipe("demo", speaker_statistics="all-clips").transductive
        (False, True)
        """
        return self.speaker_normalization and self.speaker_statistics == ALL_CLIPS

    @property
    def compact_finetune_stage(self) -> StageConfig:
        """Stage 2 of the compact students: `compact_finetune`, or `finetune` when it is not set.

        Example:

        >>> get_recipe("paper").compact_finetune_stage == get_recipe("paper").finetune
        True
        """
        return self.compact_finetune if self.compact_finetune is not None else self.finetune

    def with_finetune_epochs(self, epochs: int) -> "Recipe":
        """The recipe with every stage 2 (the compact students' too) cut or lengthened to `epochs`.

        Example:

        >>> get_recipe("demo").with_finetune_epochs(1).compact_finetune_stage.epochs
        1
        """
        compact = self.compact_finetune
        return dataclasses.replace(
            self,
            finetune=dataclasses.replace(self.finetune, epochs=epochs),
            compact_finetune=None if compact is None else dataclasses.replace(compact, epochs=epochs),
        )

    def with_finetune_optimizer(self, **overrides: Any) -> "Recipe":
        """The recipe with fields of stage 2's optimiser replaced (the teacher's and the pretrained
        students'; the compact students keep `compact_finetune` where it is set, and follow `finetune` where it is `None`,
        as in the paper recipe).

        Raises:
            ValueError: an override the optimiser refuses (`OptimizerConfig`'s checks).

        Example:

        >>> get_recipe("demo").with_finetune_optimizer(learning_rate=1e-5).finetune.optimizer.learning_rate
        1e-05
        """
        optimizer = dataclasses.replace(self.finetune.optimizer, **overrides)
        return dataclasses.replace(self, finetune=dataclasses.replace(self.finetune, optimizer=optimizer))

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
        values.setdefault("audio_augmentation", False)  # saved before the field existed: trained without masks
        for stage in ("transfer", "finetune", "compact_finetune", "audio"):
            if values.get(stage) is not None:
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
        # Chosen on validation (docs/RESULTS.md, "Compact student: stage 2"): the best validation mean of
        # the compact student and its distilled twin among 3 epochs at 3e-5, 10 at 3e-4 and 10 at 1e-3.
        compact_finetune=StageConfig(
            epochs=10, optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, weight_decay=1e-4)
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


#: The repository's shipped demo corpus (the main job's default dataset).
DEMO_MANIFEST = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "data",
    "demo",
    "manifest.csv",
)

DATASETS = ("demo", "iemocap", "manifest", *CORPUS_NAMES)
#: The label sets of the public-corpus readers: all of a corpus's classes, or angry/happy/sad/neutral.
LABEL_SUBSETS = ("full", "4class")
SPLITS = ("auto", "paper", "manifest", "split-file")
PROTOCOLS = ("single", "loso")
#: Audio encoders: VGGish frozen (the paper), VGGish fine-tuned from the labels, the compact CNN.
AUDIO_ENCODERS = ("vggish", "vggish-tuned", "compact")

#: Named students beside the layer counts: `compact` (narrow text student + compact audio
#: encoder + fusion head) and `audio-compact` (compact audio encoder + audio-only head).
COMPACT_STUDENTS = ("compact", "audio-compact")
#: Tokens per transcript: IEMOCAP's longest 1% of turns are longer than 48 tokens (the 95th
#: percentile is 45, the maximum 124); batches are trimmed to their longest text, so the
#: extra length costs nothing on short transcripts.
DEFAULT_JOB_SEQUENCE_LENGTH = 64
#: Part of every fingerprint: raised by hand when a code change alters what a stage trains or how its
#: checkpoints are laid out, so that a job never reuses a teacher that today's code would not train.
#: The settings in the fingerprints are derived from the fields' `shapes(...)` markers; what the code
#: does with them cannot be, so this version stays manual.
#: 2: per-stage dropout seeds (stage 2 no longer inherits stage 1's), model-only best checkpoints.
#: 3: per-model initial weights (`ser_keras.training.seeds`): a student and its distilled twin share them.
#: 4: the audio probe reads the utterance statistics (log-mel + MFCC) that the heads read.
#: 5: training speakers are normalised by their first k clips (`ser_keras.data.enrolment`), not all of them.
TRAINING_FORMAT = 5
#: Part of the students' fingerprints only (a teacher does not distil): raised by hand when a code change
#: alters how a distilled student trains or lays out its checkpoints, leaving saved teachers reusable.
#: 1: the teacher replayed from its recorded logits (`ser_keras.training.recorded_teacher`): no teacher
#: weights in a distilled stage's backup, and the logits computed once per split (float-level changes).
DISTILLATION_FORMAT = 1


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Args:
        dataset: `"demo"` (the shipped corpus), `"iemocap"`, `"manifest"`, or a
            public corpus read from its file names: `"emodb"`, `"ravdess"`,
            `"crema-d"` (`ser_keras.data.corpora`).
        data_dir: the unpacked `IEMOCAP_full_release` directory (iemocap), or
            the folder of a public corpus's audio files.
        manifest: a manifest CSV (manifest).
        labels: the label set, in class-id order (`None`: the corpus's labels
            in its own order; see `ser_keras.labels`).
        label_map: `(old, new)` pairs renaming labels before that (merging
            classes that get the same new name).
        label_subset: a public corpus's classes: `"full"` or `"4class"`
            (angry, happy, sad, neutral).
        split: `"auto"` (the manifest's split column if it has one, else
            `"paper"`), `"paper"`, `"manifest"` or `"split-file"`.
        split_file: CSV of `utterance_id,split`; giving it selects the
            `"split-file"` split (with `split` `"auto"` or `"split-file"`).
        split_seed: the seed of the paper split's random draw (0, the
            paper's); independent of the training seed, so runs with several
            seeds are scored on the same test set.
        protocol: `"single"` (one split) or `"loso"`: speaker-independent
            folds, IEMOCAP's five sessions (leave-one-session-out), or for any
            other corpus with speakers one fold per speaker (or
            `speaker_folds` groups of speakers): each fold tests on its
            speakers, validates on the next fold's and trains on the rest.
        speaker_folds: with `"loso"` outside IEMOCAP, this many folds of
            speakers (3 or more) instead of one per speaker.
        sequence_length: tokens per transcript, [CLS] and [SEP] included.
        max_patches: cap on 0.96 s audio patches per clip.
        strict: stop at the first bad item instead of skipping it.
        limit_per_split: keep at most this many utterances per split (smoke runs).
        unlabelled_audio: a folder of audio files, or a CSV with a `path`
            column, whose clips the compact students' audio encoder also learns
            to embed like the teacher's VGGish (no labels needed; see
            `ser_keras.data.unlabelled`). Not used by the teacher.

    Example:

    >>> DataConfig(dataset="iemocap", data_dir="/data/IEMOCAP_full_release").split
    'auto'
    """

    dataset: str = shapes(TEACHER, "demo")
    data_dir: str | None = shapes(TEACHER, None)
    manifest: str | None = shapes(TEACHER, None)
    labels: tuple[str, ...] | None = shapes(TEACHER, None)
    label_map: tuple[tuple[str, str], ...] = shapes(TEACHER, ())
    label_subset: str = shapes(TEACHER, "full")
    split: str = shapes(TEACHER, "auto")
    split_file: str | None = shapes(TEACHER, None)
    split_seed: int = shapes(TEACHER, 0)
    protocol: str = shapes(TEACHER, "single")
    speaker_folds: int | None = shapes(TEACHER, None)
    sequence_length: int = shapes(TEACHER, DEFAULT_JOB_SEQUENCE_LENGTH)
    max_patches: int = shapes(TEACHER, DEFAULT_MAX_PATCHES)
    strict: bool = shapes(TEACHER, False)
    limit_per_split: int | None = shapes(TEACHER, None)
    # Left out while unset, so that runs without it keep the fingerprints they had before it existed.
    unlabelled_audio: str | None = shapes(STUDENTS, None, when=lambda data: data.unlabelled_audio is not None)

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("split", self.split, SPLITS)
        _check_choice("protocol", self.protocol, PROTOCOLS)
        _check_choice("label subset", self.label_subset, LABEL_SUBSETS)
        if self.dataset == "iemocap" and not self.data_dir:
            raise ValueError("--dataset iemocap needs --data-dir <IEMOCAP_full_release>.")
        if self.dataset in CORPUS_NAMES and not self.data_dir:
            raise ValueError(f"--dataset {self.dataset} needs --data-dir <the folder of its audio files>.")
        if self.label_subset != "full" and self.dataset not in CORPUS_NAMES:
            raise ValueError(
                f"--label-subset {self.label_subset} selects classes of a public corpus ({', '.join(CORPUS_NAMES)}); "
                "for other data use --labels and --label-map."
            )
        if self.dataset == "manifest" and not self.manifest:
            raise ValueError("--dataset manifest needs --manifest <file.csv>.")
        if self.split == "split-file" and not self.split_file:
            raise ValueError("--split split-file needs --split-file <utterance_id,split CSV>.")
        if self.split_file and self.split not in ("auto", "split-file"):
            raise ValueError(
                f"--split-file {self.split_file} selects the split-file split, but --split {self.split} "
                "asks for another: drop one of the two flags."
            )
        if self.speaker_folds is not None and (
            self.protocol != "loso" or self.speaker_folds < 3 or self.dataset == "iemocap"
        ):
            raise ValueError(
                f"--speaker-folds {self.speaker_folds} needs --protocol loso on a corpus other than IEMOCAP (whose "
                "folds are its five sessions) and at least 3 folds (one tests, the next validates, the rest train)."
            )
        if self.protocol == "loso" and self.split_file:
            raise ValueError(f"--protocol loso makes its own folds: drop --split-file {self.split_file}.")

    @property
    def label_mapping(self) -> dict[str, str]:
        """`label_map` as a dict.

        Example:

        >>> DataConfig(label_map=(("exc", "happy"),)).label_mapping
        {'exc': 'happy'}
        """
        return dict(self.label_map)


@dataclass(frozen=True)
class ModelConfig:
    """Which encoders and which students.

    Args:
        text_preset: the teacher's BERT preset: `None` for the offline MiniLM
            (6 layers, hidden 384), `"bert_base_en_uncased"` for the paper's
            teacher, a Hugging Face handle or a local directory.
        teacher_layers: layers of the teacher's BERT (`None`: all).
        student_layers: the students' layer counts (first k of the teacher's).
        compact_students: named students from `COMPACT_STUDENTS`: `"compact"`
            (a narrow BERT, 2 layers x 128, + the compact audio encoder) and
            `"audio-compact"` (the compact audio encoder alone, for clips
            without transcripts), both distilled from the multimodal teacher.
            With a VGGish teacher their audio encoder is distilled from
            VGGish's embeddings first (`ser_keras.experiment.audio_student`).
        vggish_weights: VGGish checkpoint, SavedModel directory or TF-Hub handle
            (`None`: random weights, with a warning).
        audio_encoder: `"vggish"` (frozen, the paper's setting), `"vggish-tuned"`
            (VGGish fine-tuned from the labels in the audio stage) or
            `"compact"` (the compact CNN of `ser_keras.models.audio_cnn`,
            trained from the labels); `None` picks `"vggish"` when
            `vggish_weights` are given and `"compact"` otherwise (a frozen
            random VGGish discards most of what the audio holds).
        modality: `"multimodal"`, `"text"` or `"audio"` (ablations).
        pooling: `"cls"`, `"mean"` or `"max"`; `None` picks `"cls"` (the text's
            [CLS] position, as in the paper) for models with text and `"mean"`
            for audio-only ones, which have no [CLS].
        baselines: also train each student without distillation.
        audio_statistics: the heads of models that read audio also read the
            clip's utterance statistics (`ser_keras.models.utterance_statistics`:
            log-mel and MFCC statistics through a linear layer, a probe inside
            the model); `False` keeps the paper's head.
        sentence_logits: the heads of models that read text add linear logits
            of the mean-pooled text features (the sentence embedding) to their
            own (`ser_keras.models.fusion`); `False` keeps the paper's head.
        head_dropout: the fusion head's dropout rate (its attention blocks and
            the dropout before its classifier); 0.5 is 3M-SER's.

    Example:

    >>> ModelConfig(text_preset="bert_base_en_uncased", student_layers=(6, 4, 2)).student_layers
    (6, 4, 2)
    """

    text_preset: str | None = shapes(TEACHER, None)
    teacher_layers: int | None = shapes(TEACHER, None)
    student_layers: tuple[int, ...] = shapes(STUDENTS, (4, 2, 1))
    compact_students: tuple[str, ...] = shapes(STUDENTS, COMPACT_STUDENTS)
    vggish_weights: str | None = shapes(TEACHER, None)
    audio_encoder: str | None = shapes(TEACHER, None)
    modality: str = shapes(TEACHER, "multimodal")
    pooling: str | None = shapes(TEACHER, None)
    baselines: bool = shapes(STUDENTS, True)
    audio_statistics: bool = shapes(TEACHER, True)
    sentence_logits: bool = shapes(TEACHER, False, when=lambda model: model.sentence_logits)
    # Added after models were saved: in the fingerprints only when not 3M-SER's.
    head_dropout: float = shapes(
        TEACHER, DEFAULT_HEAD_DROPOUT, when=lambda model: model.head_dropout != DEFAULT_HEAD_DROPOUT
    )

    def __post_init__(self) -> None:
        _check_choice("modality", self.modality, MODALITIES)
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"--head-dropout must be in [0, 1); got {self.head_dropout}.")
        if self.pooling is not None:
            _check_choice("pooling", self.pooling, POOLING_MODES)
        if self.modality == "audio" and self.pooling == "cls":
            raise ValueError(
                "--pooling cls takes the text's [CLS] position, which an audio-only model (--modality audio) "
                "does not have: use --pooling mean or max."
            )
        if self.audio_encoder is not None:
            _check_choice("audio_encoder", self.audio_encoder, AUDIO_ENCODERS)
        if any(k < 1 for k in self.student_layers):
            raise ValueError(f"student layer counts must be >= 1; got {self.student_layers}.")
        for name in self.compact_students:
            _check_choice("compact student", name, COMPACT_STUDENTS)

    @property
    def pooling_kind(self) -> str:
        """The pooling used: `pooling`, or the default for the modality.

        Example:

        >>> ModelConfig().pooling_kind, ModelConfig(modality="audio").pooling_kind
        ('cls', 'mean')
        """
        return self.pooling if self.pooling is not None else default_pooling(self.modality)

    @property
    def audio_encoder_kind(self) -> str:
        """The audio encoder used: `audio_encoder`, or the default for the given weights.

        Example:

        >>> ModelConfig().audio_encoder_kind, ModelConfig(vggish_weights="vggish_model.ckpt").audio_encoder_kind
        ('compact', 'vggish')
        """
        if self.audio_encoder is not None:
            return self.audio_encoder
        return "vggish" if self.vggish_weights else "compact"

    @property
    def trains_audio_encoder(self) -> bool:
        """Whether the job has an audio stage: it reads audio through an encoder trained from the labels.

        Example:

        >>> ModelConfig().trains_audio_encoder, ModelConfig(modality="text").trains_audio_encoder
        (True, False)
        """
        return self.modality != "text" and self.audio_encoder_kind != "vggish"


@dataclass(frozen=True)
class DistillJobConfig:
    """Everything a distillation job needs.

    Args:
        data: the dataset and split.
        model: encoders and students.
        recipe: the training recipe (a `Recipe`; `get_recipe` gives the presets).
        output_dir: the parent of the run directory.
        run_name: the run directory's name under `output_dir`.
        latency_runs: timed batch-1 runs per model for the latency column.
        export: export the teacher and the best student as SavedModels.
        export_all: also export every other student (`export/<model key>`).

    Example:

    >>> DistillJobConfig(run_name="iemocap_paper").run_dir
    'saved_models/iemocap_paper'
    """

    data: DataConfig = shapes(TEACHER, default_factory=DataConfig)
    model: ModelConfig = shapes(TEACHER, default_factory=ModelConfig)
    recipe: Recipe = shapes(TEACHER, default_factory=lambda: get_recipe("demo"))
    output_dir: str = shapes(NO_MODEL, "saved_models")
    run_name: str = shapes(NO_MODEL, "demo")
    latency_runs: int = shapes(NO_MODEL, 50)
    export: bool = shapes(NO_MODEL, True)
    export_all: bool = shapes(NO_MODEL, False)

    def __post_init__(self) -> None:
        model = self.model
        if self.data.unlabelled_audio and (
            model.modality == "text" or not model.compact_students or model.audio_encoder_kind == "compact"
        ):
            raise ValueError(
                f"--unlabelled-audio {self.data.unlabelled_audio} only feeds the compact students' audio encoder "
                "while it learns the teacher's VGGish embeddings: it needs a compact student (--students with "
                f"{' or '.join(COMPACT_STUDENTS)}) and a VGGish teacher (--vggish-weights, or --audio-encoder "
                "vggish / vggish-tuned); with the compact CNN as the teacher's audio encoder the students share it."
            )

    @property
    def run_dir(self) -> str:
        """`<output_dir>/<run_name>`."""
        return os.path.join(self.output_dir, self.run_name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every value.

        Example:

        >>> DistillJobConfig().to_dict()["model"]["student_layers"]
        [4, 2, 1]
        """
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def fingerprint_fields(self, teacher_only: bool = False) -> dict[str, Any]:
        """The settings that shape the teacher (`teacher_only`) or every trained model, as a dict.

        The fields are those each config declares with `shapes(...)`: the
        teacher's are those marked `TEACHER`, every model's those marked
        `TEACHER` or `STUDENTS` (each only when its `when` holds), plus
        `TRAINING_FORMAT` (and, for every model, `DISTILLATION_FORMAT`). Their hash is `teacher_fingerprint` /
        `training_fingerprint`; the job saves them beside the models, so that
        a later job can say which setting kept it from reusing them.

        Example:

        >>> "run_name" in DistillJobConfig().fingerprint_fields(), "recipe" in DistillJobConfig().fingerprint_fields()
        (False, True)
        """
        relevant = json.loads(json.dumps(_shaping_values(self, TEACHER if teacher_only else STUDENTS)))
        if not self.model.trains_audio_encoder:
            relevant["recipe"].pop("audio_augmentation", None)  # no audio stage: the masks change nothing
        relevant["training_format"] = TRAINING_FORMAT
        if not teacher_only:
            relevant["distillation_format"] = DISTILLATION_FORMAT
        return relevant

    def _fingerprint(self, teacher_only: bool) -> str:
        encoded = json.dumps(self.fingerprint_fields(teacher_only), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:12]

    def teacher_fingerprint(self) -> str:
        """A hash of everything that determines the teacher (not the students).

        Two jobs with equal fingerprints can share a trained teacher.

        Example:

        >>> DistillJobConfig().teacher_fingerprint() == DistillJobConfig(
        ...     model=ModelConfig(student_layers=(2,))).teacher_fingerprint()
        True
        """
        return self._fingerprint(teacher_only=True)

    def training_fingerprint(self) -> str:
        """A hash of everything that determines the trained models (outputs settings aside).

        Example:

        >>> DistillJobConfig().training_fingerprint() == DistillJobConfig(run_name="x").training_fingerprint()
        True
        """
        return self._fingerprint(teacher_only=False)


def quick_config(config: DistillJobConfig) -> DistillJobConfig:
    """A smoke-run version of `config`: few utterances, short stages, one student.

    Example:

    >>> quick_config(DistillJobConfig()).recipe.transfer.epochs
    2
    """
    recipe = dataclasses.replace(
        config.recipe.with_finetune_epochs(1),
        transfer=dataclasses.replace(config.recipe.transfer, epochs=2),
        audio=dataclasses.replace(config.recipe.audio, epochs=min(config.recipe.audio.epochs, 2)),
    )
    # One student: the last layer student, or the last compact one when there is none or when
    # unlabelled audio is given for it.
    if config.data.unlabelled_audio or not config.model.student_layers:
        layers, compact = (), config.model.compact_students[-1:]
    else:
        layers, compact = config.model.student_layers[-1:], ()
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, limit_per_split=config.data.limit_per_split or 64),
        model=dataclasses.replace(config.model, student_layers=layers, compact_students=compact),
        recipe=recipe,
        run_name=config.run_name + "_quick",
        latency_runs=min(config.latency_runs, 10),
    )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
