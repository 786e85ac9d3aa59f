"""Serving exported models: `EmotionRecognizer`, streaming timelines and the `ser-predict` CLI.

Names load on first use, so that `ser-predict --help` and usage errors answer
without importing TensorFlow.

Example:

>>> from ser_keras.serving import EmotionRecognizer
>>> recognizer = EmotionRecognizer.load("saved_models/demo/export/student")  # doctest: +SKIP
>>> recognizer.predict("clip.wav", text="Oh, wonderful.").label  # doctest: +SKIP
'happy'
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names -> the module that defines them.
_EXPORTS = {
    "ModelPathError": "ser_keras.export.layout",
    "EmotionRecognizer": "ser_keras.serving.recognizer",
    "Prediction": "ser_keras.serving.recognizer",
    "ServingInputError": "ser_keras.serving.recognizer",
    "to_waveform": "ser_keras.serving.recognizer",
    "TimelineEntry": "ser_keras.serving.streaming",
    "TranscriptSegment": "ser_keras.serving.streaming",
    "emotion_timeline": "ser_keras.serving.streaming",
    "plot_timeline": "ser_keras.serving.streaming",
    "read_transcript_segments": "ser_keras.serving.streaming",
    "sliding_windows": "ser_keras.serving.streaming",
    "write_timeline": "ser_keras.serving.streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ser_keras.serving' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__
