"""Quieting TensorFlow's C++ log lines in the command-line programs (not for library users).

TensorFlow writes harmless lines to standard error on every start (no CUDA
driver found, CPU instruction sets, absl initialisation), which bury a job's own
log. Some come from absl before TensorFlow's own log level applies, so
`quiet_tensorflow_logs` imports TensorFlow with the process' standard error
sent to /dev/null, and sets `TF_CPP_MIN_LOG_LEVEL` for the lines after that.
The programs call it first thing; `--verbose` keeps TensorFlow's own
behaviour. A user who sets `TF_CPP_MIN_LOG_LEVEL` themselves always wins.
Importing this module does not import TensorFlow.

Example:

>>> quiet_tensorflow_logs(["--quick"], environ={})
True
>>> quiet_tensorflow_logs(["--verbose"], environ={})
False
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence

#: `TF_CPP_MIN_LOG_LEVEL` without `--verbose`: 3 hides INFO, WARNING and ERROR lines; real
#: failures still reach the user as Python exceptions.
QUIET_LEVEL = "3"
VERBOSE_FLAG = "--verbose"


def quiet_tensorflow_logs(argv: Sequence[str], environ: MutableMapping[str, str] | None = None) -> bool:
    """Hides TensorFlow's C++ log lines unless `argv` has `--verbose`; returns whether it did.

    Call it before the first `import tensorflow` of the process; it imports
    TensorFlow itself (a Python error in that import still reaches the user).

    Example:

    >>> quiet_tensorflow_logs(["--model", "m", "a.wav"], environ={"TF_CPP_MIN_LOG_LEVEL": "0"})
    False
    """
    environ = os.environ if environ is None else environ
    if VERBOSE_FLAG in argv or "TF_CPP_MIN_LOG_LEVEL" in environ:
        return False
    environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LEVEL
    if environ is os.environ and "tensorflow" not in sys.modules:
        _import_tensorflow_without_stderr()
    return True


def _import_tensorflow_without_stderr() -> None:
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def add_verbose_flag(parser) -> None:
    """Adds the `--verbose` flag that `quiet_tensorflow_logs` reads to an `argparse` parser.

    Example:

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_verbose_flag(parser)
    >>> parser.parse_args(["--verbose"]).verbose
    True
    """
    parser.add_argument(
        VERBOSE_FLAG, action="store_true",
        help="keep TensorFlow's own log lines on standard error (hidden by default)",
    )
