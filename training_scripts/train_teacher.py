"""Trains only the 3M-SER teacher (both stages), scores it and exports it.

    python training_scripts/train_teacher.py                       # demo corpus, offline MiniLM
    python training_scripts/train_teacher.py --dataset iemocap --data-dir /data/IEMOCAP_full_release \\
        --text-preset bert_base_en_uncased --vggish-weights vggish_model.ckpt --recipe paper

Takes the same flags as distill.py (student flags are ignored). The teacher is saved under
<output-dir>/teachers/<hash>/, where distill.py finds and reuses it when its data, encoders and
recipe match.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ser_keras.experiment.job import add_job_arguments, job_config_from_args

    add_job_arguments(parser, default_run_name="teacher")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = job_config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, student_layers=()))

    from ser_keras.experiment import run_distill_job

    try:
        outputs = run_distill_job(config)
    except KeyboardInterrupt:
        logging.warning("Interrupted; run the same command again to resume from the last epoch.")
        return 130
    print("\n" + outputs.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
