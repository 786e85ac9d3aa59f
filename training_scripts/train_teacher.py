"""Trains only the 3M-SER teacher (both stages), scores it and exports it.

    python training_scripts/train_teacher.py                       # demo corpus, offline MiniLM
    python training_scripts/train_teacher.py --dataset iemocap --data-dir /data/IEMOCAP_full_release \\
        --text-preset bert_base_en_uncased --vggish-weights vggish_model.ckpt --recipe paper

Takes the same flags as distill.py (student flags are ignored). The teacher is saved under
<output-dir>/teachers/<hash>/, where distill.py finds and reuses it when its data, encoders and
recipe match.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ser_keras.experiment.cli import run_job_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_job_command(None, __doc__, default_run_name="teacher", teacher_only=True))
