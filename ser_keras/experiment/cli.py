"""The command line shared by `training_scripts/distill.py` and `train_teacher.py`.

`add_job_arguments` exposes every field of the job's configuration
(`ser_keras.config.DistillJobConfig`) as a flag, `job_config_from_args` turns
parsed flags back into a config, and `run_job_command` runs the job, so the
scripts stay thin.

An error caused by the user's data or flags (`USER_ERRORS`: a bad manifest or
split file, an empty split, a class too small to split, a missing file, a
`--text-preset` or `--vggish-weights` that cannot be used) ends the command
with one line on standard error, `<program>: error: <what and
where, and what to do>`, and exit status 2 (`USER_ERROR_EXIT_CODE`), as a bad
flag does; `--verbose` logs its traceback first (`report_user_error`).

Example:

>>> run_job_command(["--quick"], description="demo")  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from ser_keras.audio.params import DEFAULT_MAX_PATCHES
from ser_keras.config import (
    AUDIO_ENCODERS,
    CLASS_WEIGHTINGS,
    COMPACT_STUDENTS,
    DATASETS,
    DEFAULT_HEAD_DROPOUT,
    DEFAULT_JOB_SEQUENCE_LENGTH,
    LABEL_SUBSETS,
    PRESETS,
    PROTOCOLS,
    SELECTION_METRICS,
    SPLITS,
    DataConfig,
    DistillJobConfig,
    ModelConfig,
    Recipe,
    get_recipe,
    quick_config,
)
from ser_keras.data.corpora import CORPUS_NAMES
from ser_keras.data.enrolment import DEFAULT_ENROLMENT_CLIPS, SPEAKER_STATISTICS_MODES
from ser_keras.data.errors import DatasetError
from ser_keras.experiment.model_sources import ModelSourceError, check_model_sources
from ser_keras.experiment.seeds import parse_seeds, run_seeds
from ser_keras.labels import parse_label_map, parse_labels
from ser_keras.modalities import MODALITIES, POOLING_MODES
from ser_keras.tensorflow_logs import add_verbose_flag

logger = logging.getLogger(__name__)

#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED_EXIT_CODE = 130

#: Exit status after an error in the user's data or flags (argparse's, for a bad flag).
USER_ERROR_EXIT_CODE = 2

#: The errors the user's data or flags cause; their message names the file, row or flag.
USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, ModelSourceError)


def report_user_error(program: str, error: BaseException, verbose: bool = False) -> int:
    """Writes `error` as one line `<program>: error: <message>` to stderr; returns `USER_ERROR_EXIT_CODE`.

    With `verbose` the traceback is logged first.

    Example:

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as stderr:
    ...     status = report_user_error("distill.py", DatasetError("m.csv, line 3: the 'label' field is empty."))
    >>> status, stderr.getvalue().splitlines()
    (2, ["distill.py: error: m.csv, line 3: the 'label' field is empty."])
    """
    if verbose:
        logger.error("The command stopped on this error:", exc_info=error)
    print(f"{program}: error: {error}", file=sys.stderr)
    return USER_ERROR_EXIT_CODE


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type`: an integer no smaller than `minimum`, else a message naming the bound.

    Example:

    >>> at_least(1)("3")
    3
    >>> at_least(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1; got '0'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def run_job_command(
    argv: list[str] | None,
    description: str,
    default_run_name: str = "demo",
    teacher_only: bool = False,
) -> int:
    """Parses the job flags, runs the job, prints where its outputs are; returns the exit code.

    Ctrl-C stops the job cleanly: the last completed epoch stays in the stage's
    backup folder, a message says so, and the exit code is
    `INTERRUPTED_EXIT_CODE` (130); the same command resumes from that epoch.
    An error in the user's data (`USER_ERRORS`) ends it with one message and
    `USER_ERROR_EXIT_CODE` (2), its traceback only with `--verbose`; the
    text-encoder preset and the VGGish weights are checked first
    (`check_model_sources`), before the job reads its data or trains anything.

    Args:
        argv: the arguments (`None`: `sys.argv[1:]`).
        description: the `--help` text.
        default_run_name: the run directory name when `--run-name` is not given.
        teacher_only: train the teacher alone (student flags are ignored).

    Example:

    >>> run_job_command(["--help"], "The main job.")  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_arguments(parser, default_run_name=default_run_name)
    add_verbose_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = job_config_from_args(args, teacher_only=teacher_only)
    except ValueError as error:
        parser.error(str(error))

    try:
        from ser_keras.training.strategy import TF_CONFIG_VARIABLE, get_strategy

        if os.environ.get(TF_CONFIG_VARIABLE):
            get_strategy()  # a worker's collective runtime starts before the sources' checks run TensorFlow
        check_model_sources(config)
        from ser_keras.experiment.runner import run_distill_job

        outputs = run_seeds(config, args.seeds) if args.seeds else run_distill_job(config)
    except USER_ERRORS as error:
        return report_user_error(parser.prog, error, args.verbose)
    except KeyboardInterrupt:
        logger.warning(
            "Interrupted. Completed epochs are kept in %s; run the same command again to resume "
            "from the last completed epoch.",
            config.output_dir,
        )
        return INTERRUPTED_EXIT_CODE
    print("\n" + outputs.describe())
    return 0


#: `--students` by default, per `--recipe`: the demo's three students that keep the teacher's width and
#: both compact students; the paper's students 6, 4 and 2 (of its 12-layer BERT-base), no compact one.
DEFAULT_STUDENTS = {
    "demo": (ModelConfig.student_layers, ModelConfig.compact_students),
    "paper": ((6, 4, 2), ()),
}


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


def add_data_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Adds the flags of the data and its split (the `DataConfig` fields a job and `evaluate.py` share).

    Returns the "data" argument group, for the job's own data flags.

    Example:

    >>> parser = argparse.ArgumentParser(); _ = add_data_arguments(parser)
    >>> data_config_from_args(parser.parse_args(["--labels", "sad,angry"])).labels
    ('sad', 'angry')
    """
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="demo",
                      help="demo: the shipped synthetic corpus (default); iemocap: --data-dir; manifest: --manifest; "
                           f"{', '.join(name for name in CORPUS_NAMES if name != 'meld')}: the public corpus's "
                           "audio folder as --data-dir; meld: the folder of MELD's three *_sent_emo.csv files as "
                           "--data-dir (text only, its own train/dev/test split)")
    data.add_argument("--data-dir", help="the unpacked IEMOCAP_full_release directory, a public corpus's audio folder, "
                                         "or MELD's CSV folder")
    data.add_argument("--manifest", help="a CSV with path,text,label[,speaker][,split][,utterance_id]")
    data.add_argument("--labels", type=_argument_type(parse_labels), metavar="A,B,...",
                      help="the label set in class order (default: the corpus's labels in its own order: a public "
                           "corpus's documented order; for a manifest, IEMOCAP's four first in angry,happy,sad,neutral "
                           "order, then the others alphabetically)")
    data.add_argument("--label-map", type=_argument_type(parse_label_map), default={}, metavar="OLD=NEW,...",
                      help="rename labels before anything else; two old names mapped to one merge (e.g. exc=happy); "
                           "on IEMOCAP an old name is a label code (fru=angry) or a class name (happy=joy)")
    data.add_argument("--label-subset", choices=LABEL_SUBSETS, default="full",
                      help="a public corpus's classes: all of them, or angry/happy/sad/neutral (default: full)")
    data.add_argument("--split", choices=SPLITS, default="auto",
                      help="auto: the manifest's split column if any row fills it (then every row must), else paper "
                           "(default: %(default)s)")
    data.add_argument("--split-file", help="CSV of utterance_id,split reproducing a published split (selects it)")
    data.add_argument("--split-seed", type=at_least(0), default=0,
                      help="seed of the paper split's random draw, independent of --seed (default: %(default)s)")
    data.add_argument("--protocol", choices=PROTOCOLS, default="single",
                      help="loso: speaker-independent folds, mean and std: IEMOCAP's 5 sessions, or one fold per "
                           "speaker of any other corpus (default: %(default)s)")
    data.add_argument("--speaker-folds", type=at_least(3), metavar="K",
                      help="with --protocol loso outside IEMOCAP: K folds of speakers instead of one per speaker")
    data.add_argument("--strict", action="store_true", help="stop at the first bad clip instead of skipping it")
    data.add_argument("--limit-per-split", type=at_least(1), help="use at most this many utterances per split")
    return data


def data_config_from_args(args: argparse.Namespace, **fields: Any) -> DataConfig:
    """The `DataConfig` of flags added by `add_data_arguments`; `fields` sets the job's other data fields.

    Example:

    >>> parser = argparse.ArgumentParser(); _ = add_data_arguments(parser)
    >>> data_config_from_args(parser.parse_args(["--label-map", "exc=happy"])).label_map
    (('exc', 'happy'),)
    """
    return DataConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        manifest=args.manifest,
        labels=args.labels,
        label_map=tuple(args.label_map.items()),
        label_subset=args.label_subset,
        split=args.split,
        split_file=args.split_file,
        split_seed=args.split_seed,
        protocol=args.protocol,
        speaker_folds=args.speaker_folds,
        strict=args.strict,
        limit_per_split=args.limit_per_split,
        **fields,
    )


def _argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as an argparse type: its `ValueError` becomes argparse's usage error."""

    def argument(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return argument


def add_job_arguments(parser: argparse.ArgumentParser, default_run_name: str = "demo") -> None:
    """Adds one flag per `DistillJobConfig` field to `parser`.

    Example:

    >>> parser = argparse.ArgumentParser()
    >>> add_job_arguments(parser)
    >>> job_config_from_args(parser.parse_args(["--students", "2"])).model.student_layers
    (2,)
    """
    data = add_data_arguments(parser)
    data.add_argument("--sequence-length", type=at_least(3), default=DEFAULT_JOB_SEQUENCE_LENGTH,
                      help="tokens per transcript, [CLS] and [SEP] included; longer ones are cut and counted "
                           "in the log (default: %(default)s)")
    data.add_argument("--max-patches", type=at_least(1), default=DEFAULT_MAX_PATCHES,
                      help="cap on 0.96 s audio patches per clip (default: %(default)s)")
    data.add_argument("--unlabelled-audio", metavar="DIR_OR_CSV",
                      help="more audio without labels (a folder, or a CSV with a path column) for the compact "
                           "students' audio encoder to learn the VGGish teacher's embeddings on")
    data.add_argument("--speaker-normalization", action=argparse.BooleanOptionalAction, default=None,
                      help="standardise each clip's log-mel bands with its speaker's statistics "
                           "(default: the recipe's; demo on, paper off)")
    data.add_argument("--speaker-statistics", choices=SPEAKER_STATISTICS_MODES, default=None,
                      help="where a validation or test speaker's statistics come from: 'enrolment' (its first "
                           "--enrolment-clips clips by utterance id, then not scored; what a deployment can do) "
                           "or 'all-clips' (all of its clips, the scored one included: transductive, rows marked) "
                           "(default: enrolment)")
    data.add_argument("--enrolment-clips", type=at_least(0), default=None, metavar="K",
                      help=f"enrolment clips per validation or test speaker (default: {DEFAULT_ENROLMENT_CLIPS}; "
                           "0: their clips are not normalised)")

    model = parser.add_argument_group("models")
    model.add_argument("--text-preset", default=None,
                       help="teacher BERT: default the offline MiniLM; bert_base_en_uncased for the paper's teacher; "
                            "a Hugging Face handle or a local directory")
    model.add_argument("--teacher-layers", type=at_least(1), help="layers of the teacher's BERT (default: all)")
    model.add_argument("--students", type=parse_students, default=None,
                       help="comma-separated students: layer counts (the first k layers of the teacher's BERT) "
                            "and compact students: compact (narrow BERT 2x128 + compact audio CNN), "
                            "audio-compact (compact audio CNN alone, no transcript needed) "
                            "(default: the recipe's: demo 4,2,1,compact,audio-compact; paper 6,4,2)")
    model.add_argument("--vggish-weights", default=None,
                       help="VGGish checkpoint, SavedModel directory or TF-Hub handle (default: random, with a warning)")
    model.add_argument("--audio-encoder", choices=AUDIO_ENCODERS, default=None,
                       help="vggish: frozen (the paper); vggish-tuned: fine-tuned from the labels; compact: the "
                            "compact CNN trained from the labels (default: vggish with --vggish-weights, else compact)")
    model.add_argument("--modality", choices=MODALITIES, default="multimodal", help="(default: %(default)s)")
    model.add_argument("--pooling", choices=POOLING_MODES, default=None,
                       help="fused-sequence pooling (default: cls, or mean for --modality audio)")
    model.add_argument("--no-baselines", action="store_true", help="skip the students without distillation")
    model.add_argument(
        "--no-audio-statistics", action="store_true",
        help="the paper's fusion head: no utterance statistics (log-mel + MFCC) beside the audio embeddings",
    )

    model.add_argument(
        "--sentence-logits", action="store_true",
        help="the heads of models with text also add linear logits of the mean-pooled text features "
             "(the sentence embedding MiniLM is trained to give) to the fused [CLS] logits (off: the paper's head)",
    )
    model.add_argument("--head-dropout", type=float, default=DEFAULT_HEAD_DROPOUT, metavar="P",
                       help="the fusion head's dropout rate: its attention blocks and before its classifier "
                            "(default: %(default)s, 3M-SER's)")

    training = parser.add_argument_group("training")
    training.add_argument("--recipe", choices=sorted(PRESETS), default="demo",
                          help="training recipe preset (default: %(default)s; paper: the paper's values)")
    training.add_argument("--audio-epochs", type=at_least(0), help="override the audio stage's epochs")
    training.add_argument("--transfer-epochs", type=at_least(0), help="override stage 1 epochs")
    training.add_argument("--finetune-epochs", type=at_least(0), help="override stage 2 epochs (the compact students' too)")
    training.add_argument("--finetune-lr", type=float, metavar="RATE",
                          help="stage 2: the learning rate of the teacher's and the pretrained students' text "
                               "encoder fine-tuning; the compact students keep the recipe's compact_finetune where it has one, as the demo's "
                               "does (default: the recipe's)")
    training.add_argument("--layer-decay", type=float,
                          help="stage 2 (text encoder fine-tuning): layer-wise learning-rate decay, e.g. 0.8 (Adam "
                               "recipes; default: the recipe's, 1 = off)")
    training.add_argument("--warmup-steps", type=at_least(0),
                          help="stage 2: linear learning-rate warm-up over its first N steps (default: the recipe's)")
    training.add_argument("--label-smoothing", type=float, metavar="E",
                          help="smooth the label targets of stages 1 and 2 by E in [0, 1) (default: 0, the paper's)")
    training.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS,
                          help="stages 1 and 2 (not the audio stage): balanced weighs each training example by "
                               "the inverse frequency of its class (default: none, the paper's)")
    training.add_argument("--no-audio-augmentation", action="store_true",
                          help="the audio stage trains on unmasked patches (default: SpecAugment masks)")
    training.add_argument("--selection", choices=SELECTION_METRICS,
                          help="what picks each stage's kept epoch: a validation score, or last: the final epoch, "
                               "nothing chosen on validation (for a validation split too small to choose on, such "
                               "as one speaker of a small corpus) (default: the recipe's, val_acc)")
    training.add_argument("--batch-size", type=at_least(1), help="override the GLOBAL batch size")
    training.add_argument("--alpha", type=float, help="override the KL weight alpha")
    training.add_argument("--temperature", type=float, help="override the temperature T")
    seeds = training.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=at_least(0), default=0,
                       help="seed of weights, dropout and data order; not of the split (--split-seed) (default: 0)")
    seeds.add_argument("--seeds", type=_argument_type(parse_seeds), metavar="S1,S2,...",
                       help="run the whole job once per seed on the same split, each in <run>/seed_<s>/, then "
                            "write the mean ± std over the seeds and the paired KD-minus-no-KD differences in <run>/")

    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", default="saved_models", help="(default: %(default)s)")
    output.add_argument("--run-name", default=default_run_name, help="run directory name (default: %(default)s)")
    output.add_argument("--latency-runs", type=at_least(0), default=50, help="timed batch-1 runs per model (default: 50)")
    output.add_argument("--no-export", action="store_true", help="do not export SavedModels")
    output.add_argument("--export-all", action="store_true",
                        help="export every student (export/<model key>), not only the teacher and the best student")
    output.add_argument("--quick", action="store_true", help="smoke run: 64 clips per split, 2+1 epochs, one student")


def with_finetune_flags(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """The recipe with stage 2's learning rate, layer-wise decay and warm-up replaced where given.

    Reads `args.finetune_lr`, `args.layer_decay` and `args.warmup_steps` (the job's flags; a
    study script with the same flags shares it); a bad value is a `ValueError` naming the flags.

    Example:

    >>> flags = argparse.Namespace(finetune_lr=1e-5, layer_decay=None, warmup_steps=None)
    >>> with_finetune_flags(get_recipe("demo"), flags).finetune.optimizer.learning_rate
    1e-05
    """
    flags = (("--finetune-lr", "learning_rate", args.finetune_lr), ("--layer-decay", "layer_decay", args.layer_decay),
             ("--warmup-steps", "warmup_steps", args.warmup_steps))
    given = [(flag, field, value) for flag, field, value in flags if value is not None]
    if not given:
        return recipe
    try:
        return recipe.with_finetune_optimizer(**{field: value for _, field, value in given})
    except ValueError as error:
        raise ValueError(f"{'/'.join(flag for flag, _, _ in given)}: {error}") from None


def job_config_from_args(args: argparse.Namespace, teacher_only: bool = False) -> DistillJobConfig:
    """Builds the job config from flags added by `add_job_arguments`.

    Args:
        args: the parsed flags.
        teacher_only: the teacher alone (`train_teacher.py`): no layer, compact
            or audio-only student, and no `--unlabelled-audio` (the compact
            students' alone); `--students` is ignored.

    Example:

    >>> parser = argparse.ArgumentParser(); add_job_arguments(parser)
    >>> job_config_from_args(parser.parse_args(["--recipe", "paper"])).recipe.batch_size
    1
    >>> job_config_from_args(parser.parse_args(["--recipe", "paper"])).model.student_layers
    (6, 4, 2)
    >>> job_config_from_args(parser.parse_args([]), teacher_only=True).model.compact_students
    ()
    """
    students = args.students
    if students is None:
        students = DEFAULT_STUDENTS.get(args.recipe, DEFAULT_STUDENTS["demo"])
    unlabelled_audio = args.unlabelled_audio
    if teacher_only:
        if args.students is not None or unlabelled_audio:
            logger.warning("Training the teacher alone: --students and --unlabelled-audio are ignored.")
        students, unlabelled_audio = ((), ()), None
    recipe = get_recipe(args.recipe, seed=args.seed)
    if args.batch_size is not None:
        recipe = dataclasses.replace(recipe, batch_size=args.batch_size)
    if args.speaker_normalization is not None:
        recipe = dataclasses.replace(recipe, speaker_normalization=args.speaker_normalization)
    if args.speaker_statistics is not None:
        recipe = dataclasses.replace(recipe, speaker_statistics=args.speaker_statistics)
    if args.enrolment_clips is not None:
        recipe = dataclasses.replace(recipe, enrolment_clips=args.enrolment_clips)
    if args.audio_epochs is not None:
        recipe = dataclasses.replace(recipe, audio=dataclasses.replace(recipe.audio, epochs=args.audio_epochs))
    if args.transfer_epochs is not None:
        recipe = dataclasses.replace(recipe, transfer=dataclasses.replace(recipe.transfer, epochs=args.transfer_epochs))
    if args.finetune_epochs is not None:
        recipe = recipe.with_finetune_epochs(args.finetune_epochs)
    recipe = with_finetune_flags(recipe, args)
    if args.no_audio_augmentation:
        recipe = dataclasses.replace(recipe, audio_augmentation=False)
    if args.selection is not None:
        recipe = dataclasses.replace(recipe, selection_metric=args.selection)
    if args.label_smoothing is not None:
        recipe = dataclasses.replace(recipe, label_smoothing=args.label_smoothing)
    if args.class_weighting is not None:
        recipe = dataclasses.replace(recipe, class_weighting=args.class_weighting)
    distillation = recipe.distillation
    if args.alpha is not None:
        distillation = dataclasses.replace(distillation, alpha=args.alpha)
    if args.temperature is not None:
        distillation = dataclasses.replace(distillation, temperature=args.temperature)
    recipe = dataclasses.replace(recipe, distillation=distillation)
    config = DistillJobConfig(
        data=data_config_from_args(
            args, sequence_length=args.sequence_length, max_patches=args.max_patches, unlabelled_audio=unlabelled_audio,
        ),
        model=ModelConfig(
            text_preset=args.text_preset,
            teacher_layers=args.teacher_layers,
            student_layers=students[0],
            compact_students=students[1],
            vggish_weights=args.vggish_weights,
            audio_encoder=args.audio_encoder,
            modality=args.modality,
            pooling=args.pooling,
            baselines=not args.no_baselines,
            audio_statistics=not args.no_audio_statistics,
            sentence_logits=args.sentence_logits,
            head_dropout=args.head_dropout,
        ),
        recipe=recipe,
        output_dir=args.output_dir,
        run_name=args.run_name,
        latency_runs=args.latency_runs,
        export=not args.no_export,
        export_all=args.export_all,
    )
    return quick_config(config) if args.quick else config
