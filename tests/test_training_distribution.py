"""Distiller training under tf.distribute: 2 logical CPU devices and 2 local workers.

Both run in subprocesses (tests/training_stand_ins.py): logical devices and
TF_CONFIG must be set before TensorFlow starts.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ser_keras.training import get_strategy

WORKER_SCRIPT = Path(__file__).with_name("training_stand_ins.py")
TIMEOUT_S = 180


def worker_environment(**extra):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment.pop("TF_CONFIG", None)
    environment.update(extra)
    return environment


def run_worker(mode, out_path, environment):
    return subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), mode, str(out_path)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_all(processes):
    """Waits for every worker; on a failure or timeout stops the others and fails."""
    try:
        for process in processes:
            output, _ = process.communicate(timeout=TIMEOUT_S)
            assert process.returncode == 0, output[-4000:]
    except subprocess.TimeoutExpired:
        pytest.fail(f"A worker ran past {TIMEOUT_S} s.")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_without_tf_config_the_strategy_mirrors_over_the_local_devices(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)

    strategy = get_strategy()

    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_two_devices_give_the_weights_of_one_device(tmp_path):
    out_path = tmp_path / "mirrored.npz"

    wait_for_all([run_worker("mirrored", out_path, worker_environment())])

    result = np.load(out_path)
    assert bool(result["mirrored"]) and int(result["num_replicas"]) == 2
    assert np.abs(result["two"] - result["initial"]).max() > 1e-2  # training moved the weights
    assert np.abs(result["two"] - result["one"]).max() < 1e-5
    # The validation loss and the callback's metrics agree too, over the uneven last batch.
    np.testing.assert_allclose(result["two_val_loss"], result["one_val_loss"], rtol=1e-5)
    np.testing.assert_allclose(result["two_val_acc"], result["one_val_acc"])
    # A plain functional model (bool mask input) with MultiReplicaFitMixin trains the same way.
    assert np.abs(result["supervised_two"] - result["supervised_initial"]).max() > 1e-2
    assert np.abs(result["supervised_two"] - result["supervised_one"]).max() < 1e-5


def test_two_local_workers_train_to_the_end_in_sync(tmp_path):
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    tf_configs = [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(2)
    ]
    workers = [
        run_worker("multiworker", tmp_path / f"worker{index}.npz", worker_environment(TF_CONFIG=config))
        for index, config in enumerate(tf_configs)
    ]
    wait_for_all(workers)

    first, second = (np.load(tmp_path / f"worker{index}.npz") for index in range(2))
    assert bool(first["multi_worker"]) and int(first["num_replicas"]) == 2
    np.testing.assert_array_equal(first["workers"], second["workers"])
    assert np.abs(first["workers"] - first["one"]).max() < 1e-5
    assert len(first["val_loss"]) == 2 and np.all(np.isfinite(first["val_loss"]))
    np.testing.assert_allclose(first["val_bacc"], second["val_bacc"])
    # A plain functional model with MultiReplicaFitMixin trains across workers too.
    np.testing.assert_array_equal(first["supervised_workers"], second["supervised_workers"])
    assert np.abs(first["supervised_workers"] - first["supervised_initial"]).max() > 1e-2
