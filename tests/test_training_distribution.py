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
    # A plain functional model (bool mask input) with MultiReplicaFitMixin and a compiled Keras loss trains
    # the same way over the uneven split (Keras alone weighs the 2 + 1 examples of the last batch unevenly).
    assert np.abs(result["supervised_two"] - result["supervised_initial"]).max() > 1e-2
    assert np.abs(result["supervised_two"] - result["supervised_one"]).max() < 1e-5
    # The compact audio CNN's batch norm: statistics of the global batch, so each replica keeps the same
    # moving statistics and two replicas train as one device.
    assert float(result["compact_two_spread"]) == 0.0
    assert np.abs(result["compact_two"] - result["compact_one"]).max() < 1e-4


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
    # The compact audio CNN ends with the same weights on both workers, batch-norm statistics included
    # (each worker's own copy is what it embeds the clips with).
    np.testing.assert_array_equal(first["compact_workers"], second["compact_workers"])


def test_only_the_chief_writes_to_the_shared_directory():
    from ser_keras.training.workers import WorkerRole

    def role(task_type, index, with_chief=False):
        cluster = {"worker": ["a:1", "b:2"], **({"chief": ["c:3"]} if with_chief else {})}
        return WorkerRole.from_tf_config(json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}}))

    assert [role("worker", 0).is_chief, role("worker", 1).is_chief] == [True, False]
    assert [role("chief", 0, True).is_chief, role("worker", 0, True).is_chief] == [True, False]
    assert WorkerRole.from_tf_config("").is_chief
    with pytest.raises(ValueError, match="TF_CONFIG is not valid"):
        WorkerRole.from_tf_config("{not json")


def test_a_non_chief_worker_starts_from_the_chiefs_resume_state_and_leaves_nothing(tmp_path):
    from ser_keras.training.workers import WorkerRole, worker_output_dir

    shared = tmp_path / "shared"
    (shared / "teachers" / "abc" / "backup").mkdir(parents=True)
    (shared / "teachers" / "abc" / "backup" / "training_metadata.json").write_text('{"epoch": 3}')
    (shared / "teachers" / "other").mkdir()
    (shared / "cache").mkdir()
    (shared / "cache" / "text.npz").write_bytes(b"features")
    (shared / "cache" / "audio.npz.tmp").write_bytes(b"half written")
    stale = shared / ".workers" / "worker-1" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("from a killed run")

    with worker_output_dir(str(shared), WorkerRole(), copied=["teachers/abc"]) as output_dir:
        assert output_dir == str(shared)  # the chief writes in place
    with worker_output_dir(str(shared), WorkerRole("worker", 1), copied=["teachers/abc", "absent"],
                           linked=["cache"]) as output_dir:
        own = Path(output_dir)
        assert own == shared / ".workers" / "worker-1"
        assert sorted(p.relative_to(own).as_posix() for p in own.rglob("*") if p.is_file()) == [
            "cache/text.npz", "teachers/abc/backup/training_metadata.json",
        ]
        # A copy: the worker's writes leave the chief's backup as it was.
        (own / "teachers" / "abc" / "backup" / "training_metadata.json").write_text('{"epoch": 4}')
        assert os.path.samefile(own / "cache" / "text.npz", shared / "cache" / "text.npz")
    assert (shared / "teachers" / "abc" / "backup" / "training_metadata.json").read_text() == '{"epoch": 3}'
    assert not (shared / ".workers").exists()  # nothing left once the last worker is done
