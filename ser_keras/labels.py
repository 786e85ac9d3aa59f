"""The emotion label set shared by datasets, models and reports.

Example:

>>> from ser_keras.labels import DEFAULT_LABELS
>>> DEFAULT_LABELS.index("sad")
2
"""

from __future__ import annotations

#: The paper's four IEMOCAP classes (excited is merged into happy by the readers).
DEFAULT_LABELS: tuple[str, ...] = ("angry", "happy", "sad", "neutral")
