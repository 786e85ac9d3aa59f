"""The command line shared by `training_scripts/distill.py` and `train_teacher.py`.

Example:

>>> run_job_command(["--quick"], description="demo")  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from ser_keras.experiment.job import add_job_arguments, job_config_from_args
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
