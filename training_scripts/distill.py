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

import sys

from ser_keras.tensorflow_logs import quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)

from ser_keras.experiment.cli import run_job_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_job_command(None, __doc__))
