"""Running a TFLite model's `serving_tokens` signature with the LiteRT interpreter.

Example:

>>> model = TFLiteModel("export/ser/tflite/1/ser_int8.tflite")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ser_keras.export.layout import TOKENS_SIGNATURE, ModelPathError

LITERT_INSTALL_COMMAND = "pip install ai-edge-litert"


class TFLiteModel:
    """A TFLite model's `serving_tokens` signature, run with the LiteRT interpreter.

    Inputs of any batch size, sequence length and patch count: the signature
    runner resizes the input tensors on each call.

    Args:
        model: a `.tflite` path or the flatbuffer bytes.
        num_threads: interpreter threads (`None`: LiteRT's default).

    Example:

    >>> model = TFLiteModel("export/ser/tflite/1/ser_int8.tflite")  # doctest: +SKIP
    >>> model(inputs)["label_id"]  # doctest: +SKIP
    array([2], dtype=int32)
    """

    def __init__(self, model: str | os.PathLike | bytes, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise ImportError(
                f"Running TFLite models needs the LiteRT interpreter: {LITERT_INSTALL_COMMAND}."
            ) from error
        if isinstance(model, bytes):
            interpreter = Interpreter(model_content=model, num_threads=num_threads)
            self.size_bytes = len(model)
        else:
            path = Path(model)
            if not path.is_file():
                raise ModelPathError(path, "no such TFLite file.")
            try:
                interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            except ValueError as error:
                raise ModelPathError(path, f"not a readable TFLite model ({error}).") from error
            self.size_bytes = path.stat().st_size
        signatures = interpreter.get_signature_list()
        if TOKENS_SIGNATURE not in signatures:
            raise ValueError(
                f"The TFLite model has no '{TOKENS_SIGNATURE}' signature (it has "
                f"{sorted(signatures)}); convert it with tflite_export/convert.py."
            )
        self.input_names: list[str] = list(signatures[TOKENS_SIGNATURE]["inputs"])
        self._runner = interpreter.get_signature_runner(TOKENS_SIGNATURE)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the model on a dict of input arrays; returns its outputs by name."""
        missing = sorted(set(self.input_names) - set(inputs))
        if missing:
            raise ValueError(f"The TFLite model needs the inputs {missing}.")
        return self._runner(**{name: np.asarray(inputs[name]) for name in self.input_names})
