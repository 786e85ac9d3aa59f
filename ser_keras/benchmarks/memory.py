"""Peak memory of one backend running one model, measured in a fresh subprocess.

What is measured: the process's resident-set high-water mark (`VmHWM` of
`/proc/self/status` on Linux; `ru_maxrss` elsewhere, which on Linux would also
count the parent's memory, inherited through fork and exec) after loading the
model and running it on the given inputs, and the resident set just before loading it
(after importing the runtime). `model_mb` = peak - that baseline: the memory
the model and its runs add to the runtime. A fresh process per measurement
means models measured earlier do not count. On a GPU, the worker also reports
TensorFlow's peak device allocation (`tf.config.experimental.get_memory_info`).

The worker loads what a deployment loads: `keras`/`keras_xla` the export's
`model.keras`, `saved_model` the SavedModel (`serving_tokens`), `tflite_*` the
`.tflite` file with the LiteRT interpreter alone (TensorFlow is not imported).

    python -m ser_keras.benchmarks.memory --backend tflite_int8 --model ser_int8.tflite --inputs clips.npz

Example:

>>> peak_memory("tflite_dynamic", "ser_dynamic.tflite", [clip.inputs for clip in clips])  # doctest: +SKIP
{'peak_rss_mb': 352.1, 'baseline_rss_mb': 41.0, 'model_mb': 311.1}
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

_KERAS_MODEL = os.path.join("assets.extra", "model.keras")


def save_inputs_npz(path: str | os.PathLike, samples: Sequence[Mapping[str, np.ndarray]]) -> None:
    """Writes input dicts to one `.npz` (keys `"<index>/<name>"`).

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "inputs.npz")
    >>> save_inputs_npz(path, [{"x": np.zeros(2)}])
    >>> load_inputs_npz(path)[0]["x"].shape
    (2,)
    """
    arrays = {f"{index}/{name}": value for index, sample in enumerate(samples) for name, value in sample.items()}
    np.savez(path, **arrays)


def load_inputs_npz(path: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """Reads the input dicts written by `save_inputs_npz` (without pickle).

    Example:

    >>> load_inputs_npz("inputs.npz")[0]["token_ids"].shape  # doctest: +SKIP
    (1, 48)
    """
    samples: dict[int, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as stored:
        for key in stored.files:
            index, name = key.split("/", 1)
            samples.setdefault(int(index), {})[name] = stored[key]
    return [samples[index] for index in sorted(samples)]


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (`VmRSS`, `VmHWM`) in MB; `ru_maxrss` where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _runtime(backend: str) -> Callable[[str], Callable]:
    """Imports what `backend` needs and returns its loader: model path -> predict function."""
    if backend.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter

        def load_tflite(path: str):
            runner = Interpreter(model_path=path).get_signature_runner()  # the file's one signature
            return lambda inputs: runner(**inputs)["probabilities"]

        return load_tflite
    if backend == "saved_model":
        from ser_keras.export import load_tokens_signature

        return load_tokens_signature
    import keras

    import ser_keras.models  # noqa: F401  (registers the custom layers)
    import ser_keras.text  # noqa: F401
    from ser_keras.benchmarks.backends import keras_predictor

    def load_keras(path: str):
        model = keras.saving.load_model(os.path.join(path, _KERAS_MODEL), compile=False)
        return keras_predictor(model, jit_compile=backend == "keras_xla")

    return load_keras


def _gpu_peak_mb() -> float | None:
    if "tensorflow" not in sys.modules:
        return None
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def measure_in_process(backend: str, path: str, samples: Sequence[Mapping[str, np.ndarray]]) -> dict[str, float]:
    """Loads and runs the model in this process; returns its memory figures (see the module docstring).

    Example:

    >>> measure_in_process("tflite_fp32", "ser_none.tflite", samples)  # doctest: +SKIP
    """
    load = _runtime(backend)
    baseline = _status_mb("VmRSS")
    predict = load(path)
    for sample in samples:
        np.asarray(predict(sample))
    peak = _status_mb("VmHWM")
    figures = {"peak_rss_mb": peak, "baseline_rss_mb": baseline, "model_mb": peak - baseline}
    gpu_peak = _gpu_peak_mb()
    if gpu_peak is not None:
        figures["gpu_peak_mb"] = gpu_peak
    return figures


def peak_memory(
    backend: str, path: str | os.PathLike, samples: Sequence[Mapping[str, np.ndarray]], timeout_s: float = 600.0
) -> dict[str, float]:
    """Runs `measure_in_process` in a fresh Python process and returns its figures.

    Args:
        backend: a name of `ser_keras.benchmarks.backends.BACKENDS`.
        path: the SavedModel folder (`keras*`, `saved_model`) or the `.tflite` file.
        samples: batch-of-one inputs to run.
        timeout_s: the worker's time limit.

    Raises:
        RuntimeError: the worker failed (its last output lines are in the message).

    Example:

    >>> peak_memory("keras", "export/1", samples[:3])["model_mb"]  # doctest: +SKIP
    """
    with tempfile.TemporaryDirectory(prefix="ser_memory_") as folder:
        inputs = os.path.join(folder, "inputs.npz")
        save_inputs_npz(inputs, samples)
        command = [sys.executable, "-m", __name__, "--backend", backend, "--model", os.fspath(path), "--inputs", inputs]
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=environment)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
        raise RuntimeError(f"The memory worker for {backend} on '{path}' failed:\n{tail}")
    return json.loads(lines[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """The worker: prints one JSON line of memory figures.

    Example:

    >>> main(["--backend", "tflite_fp32", "--model", "m.tflite", "--inputs", "in.npz"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description="Peak memory of one backend running one model.")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--model", required=True, help="SavedModel folder or .tflite file")
    parser.add_argument("--inputs", required=True, help=".npz written by save_inputs_npz")
    args = parser.parse_args(argv)
    print(json.dumps(measure_in_process(args.backend, args.model, load_inputs_npz(args.inputs))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
