"""Ctrl-C (SIGINT) during the main job: a clean stop that keeps the last completed epoch, then a resume.

The job runs as a subprocess of `training_scripts/distill.py` on the tiny preset
of `job_runs.py`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

from job_runs import REPO, job_command, run_job, tiny_preset  # noqa: F401  (tiny_preset: a fixture)

EPOCHS = 4


def default_sigint() -> None:
    """Runs in the child before exec: a shell's background job inherits SIGINT ignored; undo that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_backup(backup_metadata_glob, root, process, min_epoch: int) -> None:
    """Waits until a stage's backup records `min_epoch` completed epochs, while the job still runs."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        for path in root.glob(backup_metadata_glob):
            try:
                if json.loads(path.read_text())["epoch"] >= min_epoch:
                    return
            except (json.JSONDecodeError, OSError):
                pass  # being written
        time.sleep(0.05)
    raise AssertionError("the job ended (or never trained) before it could be interrupted")


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes_from_the_kept_epoch(tiny_preset, tmp_path):  # noqa: F811
    command = job_command(tiny_preset, tmp_path, EPOCHS, "--no-baselines")
    backup = "teachers/*/*/main/teacher/transfer/backup/training_metadata.json"
    with open(tmp_path / "stdout.txt", "w") as stdout, open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr, preexec_fn=default_sigint)
        try:
            wait_for_backup(backup, tmp_path, process, min_epoch=1)
            process.send_signal(signal.SIGINT)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    log = (tmp_path / "stderr.txt").read_text()
    assert returncode == 130, log[-4000:]
    assert "Traceback" not in log
    (metadata_path,) = tmp_path.glob(backup)
    backup_dir = metadata_path.parent
    assert f"the last completed epoch of this stage is kept in {backup_dir}" in log
    assert f"Completed epochs are kept in {tmp_path}; run the same command again to resume" in log

    kept = json.loads(metadata_path.read_text())["epoch"]
    assert 1 <= kept < EPOCHS
    assert (backup_dir / "latest.weights.h5").is_file()
    assert not (backup_dir.parent / "done.json").exists()
    assert not (tmp_path / "tiny" / "results.json").exists()
    interrupted_epochs = re.findall(r"Epoch (\d+)/%d" % EPOCHS, (tmp_path / "stdout.txt").read_text())
    assert interrupted_epochs[0] == "1"

    resumed = run_job(command)
    # The teacher's transfer stage goes on from the kept epoch; then the students start at epoch 1.
    resumed_epochs = [int(epoch) for epoch in re.findall(r"Epoch (\d+)/%d" % EPOCHS, resumed.stdout)]
    assert resumed_epochs[: EPOCHS - kept + 1] == [*range(kept + 1, EPOCHS + 1), 1]
    assert (backup_dir.parent / "done.json").is_file()
    assert not backup_dir.exists()  # removed once the stage completed
    models = json.loads((tmp_path / "tiny" / "results.json").read_text())["models"]
    assert [model["name"] for model in models if model["role"] != "reference"] == [
        "BERT_3-AudioCNN (teacher)", "BERT_1-AudioCNN + KD",
    ]
