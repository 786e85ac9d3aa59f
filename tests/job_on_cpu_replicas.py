"""Runs `training_scripts/distill.py` on one worker with N logical CPU devices (N replicas).

    python tests/job_on_cpu_replicas.py N [distill.py flags...]

The single-worker twin of a job on N workers of one CPU each: the same number
of replicas splits each global batch the same way (and draws the same
per-replica dropout masks), so both must reach the same metrics.
"""

import runpy
import sys
from pathlib import Path

import tensorflow as tf

if __name__ == "__main__":
    replicas = int(sys.argv.pop(1))
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    script = Path(__file__).resolve().parents[1] / "training_scripts" / "distill.py"
    sys.argv[0] = str(script)
    runpy.run_path(str(script), run_name="__main__")
