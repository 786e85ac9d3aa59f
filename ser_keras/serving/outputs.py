"""Writing predictions as CSV or JSON, to a file (atomically) or to standard output.

Example:

>>> write_csv([{"path": "a.wav", "label": "sad"}], ["path", "label"], None)
path,label
a.wav,sad
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ser_keras.export.atomic import atomic_write

#: Output formats by file extension.
FORMATS_BY_SUFFIX = {".csv": "csv", ".json": "json"}


def output_format(path: str | os.PathLike | None, default: str) -> str:
    """The format of an output path from its extension (`default` for standard output).

    Raises:
        ValueError: an extension other than .csv or .json.

    Example:

    >>> output_format("timeline.json", "csv"), output_format(None, "csv")
    ('json', 'csv')
    """
    if path is None:
        return default
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS_BY_SUFFIX:
        raise ValueError(f"Output file '{path}' must end in .csv or .json.")
    return FORMATS_BY_SUFFIX[suffix]


@contextlib.contextmanager
def _open_output(destination: str | os.PathLike | None, **open_kwargs) -> Iterator[IO[str]]:
    if destination is None:
        yield sys.stdout
        sys.stdout.flush()
    else:
        with atomic_write(destination, "w", **open_kwargs) as stream:
            yield stream


def write_csv(
    rows: Sequence[Mapping[str, Any]],
    fieldnames: Sequence[str],
    destination: str | os.PathLike | None,
) -> None:
    """Writes rows as CSV with a header; `destination=None` writes to standard output.

    Example:

    >>> write_csv([{"a": 1}], ["a"], "/tmp/out.csv")  # doctest: +SKIP
    """
    with _open_output(destination, newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(fieldnames), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_json(value: Any, destination: str | os.PathLike | None) -> None:
    """Writes indented JSON; `destination=None` writes to standard output.

    Example:

    >>> write_json({"label": "sad"}, None)
    {
      "label": "sad"
    }
    """
    with _open_output(destination) as stream:
        stream.write(json.dumps(value, indent=2) + "\n")
