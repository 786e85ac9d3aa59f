"""Trains only the 3M-SER teacher (both stages), scores it and exports it.

    python training_scripts/train_teacher.py                       # demo corpus, offline MiniLM
    python training_scripts/train_teacher.py --dataset iemocap --data-dir /data/IEMOCAP_full_release \\
        --text-preset bert_base_en_uncased --vggish-weights vggish_model.ckpt --recipe paper

Takes the same flags as distill.py (student flags are ignored). The teacher is saved under
<output-dir>/teachers/<hash>/, where distill.py finds and reuses it when its data, encoders and
recipe match.
"""

from __future__ import annotations

import sys

from ser_keras.tensorflow_logs import quiet_tensorflow_logs  # before TensorFlow loads

quiet_tensorflow_logs(sys.argv)

from ser_keras.experiment.cli import run_job_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_job_command(None, __doc__, default_run_name="teacher", teacher_only=True))
