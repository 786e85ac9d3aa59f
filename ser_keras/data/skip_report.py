"""The skip report: items left out of a dataset, each with the reason.

Bad data never stops a long job: readers, the input pipeline and the encoder
cache add the clips they cannot use (missing, corrupt or empty audio, a
transcript line that is missing, ...) to a `SkipReport` and go on. In strict
mode the first skipped item raises instead.

Example:

>>> report = SkipReport()
>>> report.skip("Ses01F_impro01_F000", "missing audio file", path="Ses01F_impro01_F000.wav")
>>> report.summary(total=10)
'Skipped 1 of 10 items: 1 missing audio file.'
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator

from ser_keras.data.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SkippedItem:
    """One item left out of a dataset.

    Args:
        item_id: the utterance id (or `file:line` for a line that has none).
        reason: a short reason shared by items with the same problem,
            e.g. "missing audio file"; the summary groups by it.
        path: the offending file, when there is one.
        detail: the specific error message, when there is one.

    Example:

    >>> SkippedItem("clip1", "corrupt audio", "clip1.wav").reason
    'corrupt audio'
    """

    item_id: str
    reason: str
    path: str | None = None
    detail: str | None = None


class SkipReport:
    """A thread-safe list of skipped items; each item id is listed once.

    Args:
        strict: raise a `DatasetError` on the first skipped item instead of
            recording it.

    Example:

    >>> report = SkipReport()
    >>> report.skip("clip1", "corrupt audio", detail="not a decodable audio file")
    >>> report.skip("clip1", "corrupt audio")  # the same clip again (next epoch): ignored
    >>> len(report), report.items[0].detail
    (1, 'not a decodable audio file')
    """

    def __init__(self, strict: bool = False):
        self.strict = strict
        self._items: dict[str, SkippedItem] = {}
        self._lock = threading.Lock()

    def skip(
        self, item_id: str, reason: str, path: str | None = None, detail: str | None = None
    ) -> None:
        """Records that `item_id` is left out, or raises in strict mode.

        Raises:
            DatasetError: in strict mode, naming the item, the reason and the file.
        """
        item = SkippedItem(item_id, reason, path, detail)
        if self.strict:
            raise DatasetError(
                f"{_describe(item)}. Fix or remove this item, or run without strict mode "
                "to skip it and list it in the skip report."
            )
        with self._lock:
            if item_id in self._items:
                return
            self._items[item_id] = item
        logger.warning("Skipped %s.", _describe(item))

    @property
    def items(self) -> list[SkippedItem]:
        """The skipped items, in the order they were reported."""
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[SkippedItem]:
        return iter(self.items)

    def __contains__(self, item_id: object) -> bool:
        with self._lock:
            return item_id in self._items

    def counts_by_reason(self) -> dict[str, int]:
        """Number of skipped items per reason, most frequent first."""
        return dict(collections.Counter(item.reason for item in self.items).most_common())

    def summary(self, total: int | None = None) -> str:
        """A one-line summary for the end of a job.

        Args:
            total: the number of items the job started from, if known.

        Example:

        >>> SkipReport().summary(total=5)
        'Skipped 0 of 5 items.'
        """
        of_total = f" of {total}" if total is not None else ""
        head = f"Skipped {len(self)}{of_total} items"
        reasons = ", ".join(
            f"{count} {reason}" for reason, count in self.counts_by_reason().items()
        )
        return f"{head}: {reasons}." if reasons else f"{head}."

    def write_csv(self, path: str | os.PathLike) -> None:
        """Writes the report as CSV with columns `item_id,reason,path,detail`.

        Example:

        >>> SkipReport().write_csv("skipped.csv")  # doctest: +SKIP
        """
        with open(path, "w", newline="", encoding="utf-8") as csv_file:
            writer = csv.writer(csv_file)
            writer.writerow([field.name for field in dataclasses.fields(SkippedItem)])
            for item in self.items:
                writer.writerow([item.item_id, item.reason, item.path or "", item.detail or ""])


def _describe(item: SkippedItem) -> str:
    where = f" ({item.path})" if item.path else ""
    detail = f": {item.detail.rstrip('.')}" if item.detail else ""
    return f"'{item.item_id}'{where}: {item.reason}{detail}"
