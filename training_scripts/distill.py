"""The main job: train (or reuse) the teacher, distil the students, report and export.

    python training_scripts/distill.py                 # the shipped demo corpus, offline
    python training_scripts/distill.py --quick         # a smoke run in a few minutes
    python training_scripts/distill.py --dataset iemocap --data-dir /data/IEMOCAP_full_release \\
        --text-preset bert_base_en_uncased --students 6,4,2 --vggish-weights vggish_model.ckpt \\
        --recipe paper --run-name iemocap_paper

Outputs go to saved_models/<run-name>/ (results table, confusion matrices, TensorBoard logs,
exported SavedModels); the paths are printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ser_keras.experiment.job import add_job_arguments, job_config_from_args

    add_job_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = job_config_from_args(args)
    except ValueError as error:
        parser.error(str(error))

    from ser_keras.experiment import run_distill_job

    try:
        outputs = run_distill_job(config)
    except KeyboardInterrupt:
        logging.warning(
            "Interrupted. Completed epochs are kept in %s; run the same command again to resume.",
            config.run_dir,
        )
        return 130
    print("\n" + outputs.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
