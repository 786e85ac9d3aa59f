"""Writing files and folders atomically: a temporary sibling first, renamed when complete.

A crash, a kill, an exception or a bad input half way through leaves nothing at
the destination but what was there before (and no temporary file behind, except
after a kill), never a truncated result. `os.replace` is atomic on one file
system, and the temporary file lies in the destination's own folder.

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

#: Marks temporary files and folders (before the destination's suffixes).
PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary file path beside `path`, renamed to `path` when the block succeeds.

    For writers that take a path rather than a stream. The temporary name ends
    with `path`'s suffixes, so writers that check them accept it (Keras'
    `save_weights` wants `.weights.h5`). On an exception the temporary file is
    removed and `path` keeps its previous content.

    Args:
        path: the destination file (its folder is created when missing).

    Example:

    >>> with atomic_path("runs/x/best.weights.h5") as temporary:  # doctest: +SKIP
    ...     model.save_weights(temporary)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffixes)]
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=PARTIAL_SUFFIX + suffixes, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


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
    with atomic_path(path) as temporary, open(temporary, mode, **open_kwargs) as stream:
        yield stream


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
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent))
    try:
        yield temporary
        os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
