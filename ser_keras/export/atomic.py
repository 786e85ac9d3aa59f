"""Atomic file and folder writes, re-exported for the export modules (they live in `ser_keras.atomic`).

Example:

>>> from ser_keras.export.atomic import atomic_write
>>> import ser_keras.atomic
>>> atomic_write is ser_keras.atomic.atomic_write
True
"""

from ser_keras.atomic import atomic_directory, atomic_path, atomic_write

__all__ = ["atomic_directory", "atomic_path", "atomic_write"]
