"""The error raised for bad dataset input.

Example:

>>> from ser_keras.data.errors import DatasetError
>>> issubclass(DatasetError, ValueError)
True
"""

from __future__ import annotations


class DatasetError(ValueError):
    """Bad dataset input: a malformed file, row or field, or an inconsistent corpus.

    The message names the file, row or field and says what to change.

    Example:

    >>> raise DatasetError("manifest.csv, line 3: the 'label' field is empty.")
    Traceback (most recent call last):
    ...
    ser_keras.data.errors.DatasetError: manifest.csv, line 3: the 'label' field is empty.
    """
