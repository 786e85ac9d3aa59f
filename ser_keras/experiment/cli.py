"""The command line shared by `training_scripts/distill.py` and `train_teacher.py`.

`add_job_arguments` exposes every field of the job's configuration
(`ser_keras.config.DistillJobConfig`) as a flag, `job_config_from_args` turns
parsed flags back into a config, and `run_job_command` runs the job, so the
scripts stay thin.

Example:

>>> run_job_command(["--quick"], description="demo")  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from ser_keras.audio.params import DEFAULT_MAX_PATCHES
from ser_keras.config import (
    AUDIO_ENCODERS,
    COMPACT_STUDENTS,
    DATASETS,
    DEFAULT_JOB_SEQUENCE_LENGTH,
    PRESETS,
    PROTOCOLS,
    SPLITS,
    DataConfig,
    DistillJobConfig,
    ModelConfig,
    get_recipe,
    quick_config,
)
from ser_keras.modalities import MODALITIES, POOLING_MODES
from ser_keras.tensorflow_logs import add_verbose_flag

#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED_EXIT_CODE = 130


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
        config = job_config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    if teacher_only:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, student_layers=()))

    from ser_keras.experiment.data import CorpusModalityError

    try:
        from ser_keras.experiment.runner import run_distill_job

        outputs = run_distill_job(config)
    except CorpusModalityError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        logging.warning(
            "Interrupted. Completed epochs are kept in %s; run the same command again to resume "
            "from the last completed epoch.",
            config.output_dir,
        )
        return INTERRUPTED_EXIT_CODE
    print("\n" + outputs.describe())
    return 0


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
    data.add_argument("--unlabelled-audio", metavar="DIR_OR_CSV",
                      help="more audio without labels (a folder, or a CSV with a path column) for the compact "
                           "students' audio encoder to learn the VGGish teacher's embeddings on")
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
    training.add_argument("--finetune-epochs", type=int, help="override stage 2 epochs (the compact students' too)")
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
        recipe = recipe.with_finetune_epochs(args.finetune_epochs)
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
            unlabelled_audio=args.unlabelled_audio,
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
