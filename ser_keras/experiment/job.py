"""The configuration of a distillation job, and its command-line flags.

A `DistillJobConfig` says which data to read and how to split it, which
encoders and students to build, which recipe to train with, and where the
outputs go. `add_job_arguments` exposes every field as a flag and
`job_config_from_args` turns parsed flags back into a config, so the scripts in
`training_scripts/` stay thin.

Example:

>>> config = DistillJobConfig()
>>> config.data.dataset, config.model.student_layers, config.recipe.name
('demo', (4, 2, 1), 'demo')
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ser_keras.audio.params import DEFAULT_MAX_PATCHES
from ser_keras.config import PRESETS, Recipe, get_recipe
from ser_keras.modalities import MODALITIES, POOLING_MODES, default_pooling

#: The repository's shipped demo corpus (the main job's default dataset).
DEMO_MANIFEST = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "data",
    "demo",
    "manifest.csv",
)

DATASETS = ("demo", "iemocap", "manifest")
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
#: Part of every fingerprint: raised when a code change alters what a stage trains or how its
#: checkpoints are laid out, so that a job never reuses a teacher that today's code would not train.
#: 2: per-stage dropout seeds (stage 2 no longer inherits stage 1's), model-only best checkpoints.
TRAINING_FORMAT = 2


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Args:
        dataset: `"demo"` (the shipped corpus), `"iemocap"` or `"manifest"`.
        data_dir: the unpacked `IEMOCAP_full_release` directory (iemocap).
        manifest: a manifest CSV (manifest).
        split: `"auto"` (the manifest's split column if it has one, else
            `"paper"`), `"paper"`, `"manifest"` or `"split-file"`.
        split_file: CSV of `utterance_id,split`; giving it selects the
            `"split-file"` split (with `split` `"auto"` or `"split-file"`).
        split_seed: the seed of the paper split's random draw (0, the
            paper's); independent of the training seed, so runs with several
            seeds are scored on the same test set.
        protocol: `"single"` (one split) or `"loso"` (five leave-one-session-out folds, IEMOCAP).
        sequence_length: tokens per transcript, [CLS] and [SEP] included.
        max_patches: cap on 0.96 s audio patches per clip.
        strict: stop at the first bad item instead of skipping it.
        limit_per_split: keep at most this many utterances per split (smoke runs).

    Example:

    >>> DataConfig(dataset="iemocap", data_dir="/data/IEMOCAP_full_release").split
    'auto'
    """

    dataset: str = "demo"
    data_dir: str | None = None
    manifest: str | None = None
    split: str = "auto"
    split_file: str | None = None
    split_seed: int = 0
    protocol: str = "single"
    sequence_length: int = DEFAULT_JOB_SEQUENCE_LENGTH
    max_patches: int = DEFAULT_MAX_PATCHES
    strict: bool = False
    limit_per_split: int | None = None

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("split", self.split, SPLITS)
        _check_choice("protocol", self.protocol, PROTOCOLS)
        if self.dataset == "iemocap" and not self.data_dir:
            raise ValueError("--dataset iemocap needs --data-dir <IEMOCAP_full_release>.")
        if self.dataset == "manifest" and not self.manifest:
            raise ValueError("--dataset manifest needs --manifest <file.csv>.")
        if self.split == "split-file" and not self.split_file:
            raise ValueError("--split split-file needs --split-file <utterance_id,split CSV>.")
        if self.split_file and self.split not in ("auto", "split-file"):
            raise ValueError(
                f"--split-file {self.split_file} selects the split-file split, but --split {self.split} "
                "asks for another: drop one of the two flags."
            )
        if self.protocol == "loso" and self.dataset != "iemocap":
            raise ValueError("--protocol loso needs IEMOCAP's five sessions (--dataset iemocap).")


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

    Example:

    >>> ModelConfig(text_preset="bert_base_en_uncased", student_layers=(6, 4, 2)).student_layers
    (6, 4, 2)
    """

    text_preset: str | None = None
    teacher_layers: int | None = None
    student_layers: tuple[int, ...] = (4, 2, 1)
    compact_students: tuple[str, ...] = COMPACT_STUDENTS
    vggish_weights: str | None = None
    audio_encoder: str | None = None
    modality: str = "multimodal"
    pooling: str | None = None
    baselines: bool = True

    def __post_init__(self) -> None:
        _check_choice("modality", self.modality, MODALITIES)
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


@dataclass(frozen=True)
class DistillJobConfig:
    """Everything a distillation job needs.

    Args:
        data: the dataset and split.
        model: encoders and students.
        recipe: the training recipe (see `ser_keras.config`).
        output_dir: the parent of the run directory.
        run_name: the run directory's name under `output_dir`.
        latency_runs: timed batch-1 runs per model for the latency column.
        export: export the teacher and the best student as SavedModels.

    Example:

    >>> DistillJobConfig(run_name="iemocap_paper").run_dir
    'saved_models/iemocap_paper'
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    recipe: Recipe = field(default_factory=lambda: get_recipe("demo"))
    output_dir: str = "saved_models"
    run_name: str = "demo"
    latency_runs: int = 50
    export: bool = True

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

    def _fingerprint(self, teacher_only: bool) -> str:
        relevant = self.to_dict()
        for key in ("output_dir", "run_name", "latency_runs", "export"):
            relevant.pop(key)
        if teacher_only:
            relevant["model"].pop("student_layers")
            relevant["model"].pop("compact_students")
            relevant["model"].pop("baselines")
            relevant["recipe"].pop("distillation")
        relevant["training_format"] = TRAINING_FORMAT
        encoded = json.dumps(relevant, sort_keys=True).encode()
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
        config.recipe,
        transfer=dataclasses.replace(config.recipe.transfer, epochs=2),
        finetune=dataclasses.replace(config.recipe.finetune, epochs=1),
        audio=dataclasses.replace(config.recipe.audio, epochs=min(config.recipe.audio.epochs, 2)),
    )
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, limit_per_split=config.data.limit_per_split or 64),
        model=dataclasses.replace(
            config.model,
            student_layers=config.model.student_layers[-1:],
            compact_students=() if config.model.student_layers else config.model.compact_students[-1:],
        ),
        recipe=recipe,
        run_name=config.run_name + "_quick",
        latency_runs=min(config.latency_runs, 10),
    )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


def compact_student_label(kind: str, text_layers: int, text_width: int, audio_label: str | None) -> str:
    """The Table II name of a compact student (before any " + KD").

    Example:

    >>> compact_student_label("compact", 2, 128, "AudioCNN"), compact_student_label("audio-compact", 0, 0, "AudioCNN")
    ('BERT_2x128-AudioCNN (compact)', 'AudioCNN (audio only)')
    """
    if kind == "audio-compact":
        return f"{audio_label} (audio only)"
    text = f"BERT_{text_layers}x{text_width}"
    return "-".join(part for part in (text, audio_label) if part) + " (compact)"


#: `--students` by default: three students that keep the teacher's width, and both compact students.
DEFAULT_STUDENTS = (ModelConfig.student_layers, ModelConfig.compact_students)


def parse_students(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """`--students`: layer counts and compact-student names, comma-separated.

    Example:

    >>> parse_students("4,2,compact,audio-compact")
    ((4, 2), ('compact', 'audio-compact'))
    """
    layers, names = [], []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        if part.isdigit() and int(part) >= 1:
            layers.append(int(part))
        elif part in COMPACT_STUDENTS:
            names.append(part)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown student {part!r}: give layer counts (positive integers: the first k layers of the "
                f"teacher's BERT) or compact students ({', '.join(COMPACT_STUDENTS)}), comma-separated"
            )
    if len(set(layers)) < len(layers) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"a student is listed twice in {text!r}")
    return tuple(layers), tuple(names)


def add_job_arguments(parser: argparse.ArgumentParser, default_run_name: str = "demo") -> None:
    """Adds one flag per `DistillJobConfig` field to `parser`.

    Example:

    >>> parser = argparse.ArgumentParser()
    >>> add_job_arguments(parser)
    >>> job_config_from_args(parser.parse_args(["--students", "2"])).model.student_layers
    (2,)
    """
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="demo",
                      help="demo: the shipped synthetic corpus (default); iemocap: --data-dir; manifest: --manifest")
    data.add_argument("--data-dir", help="the unpacked IEMOCAP_full_release directory")
    data.add_argument("--manifest", help="a CSV with path,text,label[,speaker][,split][,utterance_id]")
    data.add_argument("--split", choices=SPLITS, default="auto",
                      help="auto: the manifest's split column if present, else paper (default: %(default)s)")
    data.add_argument("--split-file", help="CSV of utterance_id,split reproducing a published split (selects it)")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the paper split's random draw, independent of --seed (default: %(default)s)")
    data.add_argument("--protocol", choices=PROTOCOLS, default="single",
                      help="loso: leave-one-session-out 5-fold on IEMOCAP, mean and std (default: %(default)s)")
    data.add_argument("--sequence-length", type=int, default=DEFAULT_JOB_SEQUENCE_LENGTH,
                      help="tokens per transcript, [CLS] and [SEP] included; longer ones are cut and counted "
                           "in the log (default: %(default)s)")
    data.add_argument("--max-patches", type=int, default=DEFAULT_MAX_PATCHES,
                      help="cap on 0.96 s audio patches per clip (default: %(default)s)")
    data.add_argument("--strict", action="store_true", help="stop at the first bad clip instead of skipping it")
    data.add_argument("--limit-per-split", type=int, help="use at most this many utterances per split")
    data.add_argument("--speaker-normalization", action=argparse.BooleanOptionalAction, default=None,
                      help="standardise each clip's log-mel bands with its speaker's statistics; uses the "
                           "unlabelled audio of the test speakers (default: the recipe's; demo on, paper off)")

    model = parser.add_argument_group("models")
    model.add_argument("--text-preset", default=None,
                       help="teacher BERT: default the offline MiniLM; bert_base_en_uncased for the paper's teacher; "
                            "a Hugging Face handle or a local directory")
    model.add_argument("--teacher-layers", type=int, help="layers of the teacher's BERT (default: all)")
    model.add_argument("--students", type=parse_students, default=DEFAULT_STUDENTS,
                       help="comma-separated students: layer counts (the first k layers of the teacher's BERT) "
                            "and compact students: compact (narrow BERT 2x128 + compact audio CNN), "
                            "audio-compact (compact audio CNN alone, no transcript needed) "
                            "(default: 4,2,1,compact,audio-compact; paper: 6,4,2)")
    model.add_argument("--vggish-weights", default=None,
                       help="VGGish checkpoint, SavedModel directory or TF-Hub handle (default: random, with a warning)")
    model.add_argument("--audio-encoder", choices=AUDIO_ENCODERS, default=None,
                       help="vggish: frozen (the paper); vggish-tuned: fine-tuned from the labels; compact: the "
                            "compact CNN trained from the labels (default: vggish with --vggish-weights, else compact)")
    model.add_argument("--modality", choices=MODALITIES, default="multimodal", help="(default: %(default)s)")
    model.add_argument("--pooling", choices=POOLING_MODES, default=None,
                       help="fused-sequence pooling (default: cls, or mean for --modality audio)")
    model.add_argument("--no-baselines", action="store_true", help="skip the students without distillation")

    training = parser.add_argument_group("training")
    training.add_argument("--recipe", choices=sorted(PRESETS), default="demo",
                          help="training recipe preset (default: %(default)s; paper: the paper's values)")
    training.add_argument("--audio-epochs", type=int, help="override the audio stage's epochs")
    training.add_argument("--transfer-epochs", type=int, help="override stage 1 epochs")
    training.add_argument("--finetune-epochs", type=int, help="override stage 2 epochs")
    training.add_argument("--batch-size", type=int, help="override the GLOBAL batch size")
    training.add_argument("--alpha", type=float, help="override the KL weight alpha")
    training.add_argument("--temperature", type=float, help="override the temperature T")
    training.add_argument("--seed", type=int, default=0,
                          help="seed of weights, dropout and data order; not of the split (--split-seed) (default: 0)")

    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", default="saved_models", help="(default: %(default)s)")
    output.add_argument("--run-name", default=default_run_name, help="run directory name (default: %(default)s)")
    output.add_argument("--latency-runs", type=int, default=50, help="timed batch-1 runs per model (default: 50)")
    output.add_argument("--no-export", action="store_true", help="do not export SavedModels")
    output.add_argument("--quick", action="store_true", help="smoke run: 64 clips per split, 2+1 epochs, one student")


def job_config_from_args(args: argparse.Namespace) -> DistillJobConfig:
    """Builds the job config from flags added by `add_job_arguments`.

    Example:

    >>> parser = argparse.ArgumentParser(); add_job_arguments(parser)
    >>> job_config_from_args(parser.parse_args(["--recipe", "paper"])).recipe.batch_size
    1
    """
    recipe = get_recipe(args.recipe, seed=args.seed)
    if args.batch_size is not None:
        recipe = dataclasses.replace(recipe, batch_size=args.batch_size)
    if args.speaker_normalization is not None:
        recipe = dataclasses.replace(recipe, speaker_normalization=args.speaker_normalization)
    if args.audio_epochs is not None:
        recipe = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, epochs=args.audio_epochs))
    if args.transfer_epochs is not None:
        recipe = dataclasses.replace(recipe, transfer=dataclasses.replace(recipe.transfer, epochs=args.transfer_epochs))
    if args.finetune_epochs is not None:
        recipe = dataclasses.replace(recipe, finetune=dataclasses.replace(recipe.finetune, epochs=args.finetune_epochs))
    distillation = recipe.distillation
    if args.alpha is not None:
        distillation = dataclasses.replace(distillation, alpha=args.alpha)
    if args.temperature is not None:
        distillation = dataclasses.replace(distillation, temperature=args.temperature)
    recipe = dataclasses.replace(recipe, distillation=distillation)
    config = DistillJobConfig(
        data=DataConfig(
            dataset=args.dataset,
            data_dir=args.data_dir,
            manifest=args.manifest,
            split=args.split,
            split_file=args.split_file,
            split_seed=args.split_seed,
            protocol=args.protocol,
            sequence_length=args.sequence_length,
            max_patches=args.max_patches,
            strict=args.strict,
            limit_per_split=args.limit_per_split,
        ),
        model=ModelConfig(
            text_preset=args.text_preset,
            teacher_layers=args.teacher_layers,
            student_layers=args.students[0],
            compact_students=args.students[1],
            vggish_weights=args.vggish_weights,
            audio_encoder=args.audio_encoder,
            modality=args.modality,
            pooling=args.pooling,
            baselines=not args.no_baselines,
        ),
        recipe=recipe,
        output_dir=args.output_dir,
        run_name=args.run_name,
        latency_runs=args.latency_runs,
        export=not args.no_export,
    )
    return quick_config(config) if args.quick else config
