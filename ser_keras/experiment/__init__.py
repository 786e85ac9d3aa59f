"""Jobs: the configuration, data folds, two-stage trainer and the distillation job runner.

Example:

>>> from ser_keras.experiment import DistillJobConfig, run_distill_job
>>> outputs = run_distill_job(DistillJobConfig())  # doctest: +SKIP
"""

from ser_keras.experiment.job import (
    DataConfig,
    DistillJobConfig,
    ModelConfig,
    add_job_arguments,
    job_config_from_args,
    quick_config,
)
from ser_keras.experiment.runner import JobOutputs, run_distill_job
from ser_keras.experiment.trainer import FoldData, FoldTrainer, TrainedModel

__all__ = [
    "DataConfig",
    "DistillJobConfig",
    "FoldData",
    "FoldTrainer",
    "JobOutputs",
    "ModelConfig",
    "TrainedModel",
    "add_job_arguments",
    "job_config_from_args",
    "quick_config",
    "run_distill_job",
]
