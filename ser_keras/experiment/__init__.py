"""Jobs: the command-line flags, data folds, two-stage trainer and the distillation job runner.

The job's configuration (`DistillJobConfig`) lives in `ser_keras.config`, with the recipe.

Example:

>>> from ser_keras.config import DistillJobConfig
>>> from ser_keras.experiment import run_distill_job
>>> outputs = run_distill_job(DistillJobConfig())  # doctest: +SKIP
"""

from ser_keras.experiment.cli import add_job_arguments, job_config_from_args, parse_students
from ser_keras.experiment.runner import JobOutputs, run_distill_job
from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel

__all__ = [
    "FoldData",
    "FoldTrainer",
    "JobOutputs",
    "TrainedModel",
    "add_job_arguments",
    "job_config_from_args",
    "parse_students",
    "run_distill_job",
]
