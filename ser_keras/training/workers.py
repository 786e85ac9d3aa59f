"""Which worker writes the shared outputs of a multi-worker job: the chief alone.

Under `MultiWorkerMirroredStrategy` every worker runs the same job, step by
step. If each wrote to the output directory, they would overwrite each other's
checkpoints, caches, TensorBoard events and reports. As the TensorFlow
multi-worker guide prescribes, the chief (task type `"chief"`, or worker 0 when
the cluster has no chief) writes the shared outputs and every other worker
writes to a directory of its own, removed when the job ends.

Workers decide from the files they find whether a stage is done or resumes
from a backup; all of them must find the same files. So a non-chief worker's
directory starts as a copy of the chief's resume state (the stage folders and
the encoder cache), taken before any training step: no worker can finish an
epoch alone, so the chief cannot move that state on while it is copied.

Example:

>>> role = WorkerRole.from_tf_config('{"cluster": {"worker": ["a:1", "b:2"]}, '
...                                  '"task": {"type": "worker", "index": 1}}')
>>> role.is_chief, role.name
(False, 'worker-1')
>>> WorkerRole().is_chief  # no TF_CONFIG: a single worker, the chief
True
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ser_keras.training.strategy import TF_CONFIG_VARIABLE

logger = logging.getLogger(__name__)

#: Where non-chief workers write, under the shared output directory.
WORKERS_FOLDER = ".workers"


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster of `TF_CONFIG` (default: a single worker).

    Args:
        task_type: `"chief"`, `"worker"`, or `None` without a cluster.
        task_index: the task's index among the tasks of its type.
        has_chief: whether the cluster names a `"chief"` task.

    Example:

    >>> WorkerRole("worker", 0, has_chief=False).is_chief
    True
    >>> WorkerRole("worker", 0, has_chief=True).is_chief
    False
    """

    task_type: str | None = None
    task_index: int = 0
    has_chief: bool = False

    @classmethod
    def from_tf_config(cls, tf_config: str | None) -> WorkerRole:
        """Parses a `TF_CONFIG` value (`None` or empty: a single worker).

        Example:

        >>> WorkerRole.from_tf_config(None)
        WorkerRole(task_type=None, task_index=0, has_chief=False)
        """
        if not tf_config:
            return cls()
        try:
            parsed = json.loads(tf_config)
            task = parsed.get("task", {})
            return cls(
                task_type=task.get("type"),
                task_index=int(task.get("index", 0)),
                has_chief=bool(parsed.get("cluster", {}).get("chief")),
            )
        except (ValueError, AttributeError, TypeError) as error:
            raise ValueError(
                f"{TF_CONFIG_VARIABLE} is not valid: {error}. Expected JSON such as "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.'
            ) from error

    @classmethod
    def from_environment(cls) -> WorkerRole:
        """The role that this process's `TF_CONFIG` environment variable gives.

        Example:

        >>> WorkerRole.from_environment().is_chief  # doctest: +SKIP
        True
        """
        return cls.from_tf_config(os.environ.get(TF_CONFIG_VARIABLE))

    @property
    def is_chief(self) -> bool:
        """Whether this worker writes the shared outputs."""
        if self.task_type is None or self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.has_chief

    @property
    def name(self) -> str:
        """`<task type>-<index>`, the name of a non-chief worker's directory."""
        return f"{self.task_type or 'worker'}-{self.task_index}"


@contextlib.contextmanager
def worker_output_dir(
    shared_dir: str,
    role: WorkerRole,
    copied: Sequence[str] = (),
    linked: Sequence[str] = (),
) -> Iterator[str]:
    """The directory this worker writes to: `shared_dir` for the chief, else its own.

    A non-chief worker gets `<shared_dir>/.workers/<role.name>`, emptied, then
    seeded from `shared_dir`: the folders in `copied` are copied, the files of
    the folders in `linked` are hard-linked (use it only for files that are
    replaced, never rewritten in place, such as the encoder cache; copied where
    links are not possible). The directory is removed when the block ends.

    Args:
        shared_dir: the job's output directory.
        role: this worker's role.
        copied: folders relative to `shared_dir` to copy (checkpoints, backups).
        linked: folders relative to `shared_dir` whose files to hard-link.

    Example:

    >>> with worker_output_dir("saved_models", WorkerRole()) as output_dir:
    ...     output_dir
    'saved_models'
    """
    if role.is_chief:
        yield shared_dir
        return
    own_dir = os.path.join(shared_dir, WORKERS_FOLDER, role.name)
    shutil.rmtree(own_dir, ignore_errors=True)
    os.makedirs(own_dir)
    for relative in copied:
        source = os.path.join(shared_dir, relative)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(own_dir, relative))
    for relative in linked:
        source = os.path.join(shared_dir, relative)
        if os.path.isdir(source):
            shutil.copytree(
                source, os.path.join(own_dir, relative), copy_function=_link_or_copy,
                ignore=shutil.ignore_patterns("*.tmp"),  # files being written
            )
    logger.info(
        "Worker %s is not the chief: it writes to %s (removed at the end); the chief writes the outputs in %s.",
        role.name, own_dir, shared_dir,
    )
    try:
        yield own_dir
    finally:
        shutil.rmtree(own_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # other workers may still be using theirs
            os.rmdir(os.path.join(shared_dir, WORKERS_FOLDER))


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
