"""ser-keras: multimodal speech emotion recognition with knowledge distillation, in Keras 3.

A 3M-SER teacher (BERT text encoder + VGGish audio encoder fused by multi-head
attention) and students whose BERT keeps only its first k layers, trained with
the KL + CE + feature-MSE distillation loss.

Subpackages load on first use, so `import ser_keras` stays fast (TensorFlow is
imported only when something that needs it is touched).

Example:

>>> import ser_keras
>>> patches = ser_keras.audio.waveform_to_examples(waveform, 16000)  # doctest: +SKIP
>>> vggish = ser_keras.vggish.build_vggish()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("audio", "labels", "vggish")

#: Public names re-exported at the package root -> the module that defines them.
_EXPORTS = {
    "DEFAULT_LABELS": "ser_keras.labels",
    "AudioReadError": "ser_keras.audio",
    "load_audio": "ser_keras.audio",
    "waveform_to_examples": "ser_keras.audio",
    "build_vggish": "ser_keras.vggish",
}

__all__ = sorted([*_SUBMODULES, *_EXPORTS])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"ser_keras.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ser_keras' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__
