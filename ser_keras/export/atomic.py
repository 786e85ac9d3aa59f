"""Writing files and folders atomically: a temporary sibling first, renamed when complete.

A crash, an exception or a bad input half way through leaves nothing at the
destination (and no temporary file behind), never a truncated result.

Example:

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> with atomic_write(os.path.join(folder, "out.json")) as stream:
...     _ = stream.write("{}")
>>> sorted(os.listdir(folder))
['out.json']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Opens a temporary file beside `path`, renamed to `path` when the block succeeds.

    Args:
        path: the destination file (its folder is created when missing).
        mode: `"w"` (text, UTF-8 unless `encoding` is given) or `"wb"`.
        **open_kwargs: passed to `open` (e.g. `newline=""` for CSV).

    Example:

    >>> with atomic_write("/tmp/prediction.json") as stream:  # doctest: +SKIP
    ...     stream.write('{"label": "sad"}')
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}.")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **open_kwargs) as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty temporary folder beside `path`, renamed to `path` when the block succeeds.

    Raises:
        FileExistsError: `path` already exists (nothing is overwritten).

    Example:

    >>> with atomic_directory("/tmp/export/1") as folder:  # doctest: +SKIP
    ...     (folder / "saved_model.pb").write_bytes(b"...")
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"'{path}' already exists; choose another path or remove it first.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield temporary
        os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
