"""Loads `.keras` files with plain `keras.saving.load_model` in a fresh Python process and runs them.

    python tests/load_keras_in_fresh_process.py INPUTS.npz OUTPUTS.npz ITEM [ITEM ...]

Each ITEM is either a module to import (`ser_keras.models`) or a `.keras` file to
load, in the order given: a file loads with only the modules named before it
imported (and no `custom_objects`), as a user who imports them would load it.
Each model runs on the arrays of `INPUTS.npz` that it takes (by input name).

`OUTPUTS.npz` gets, per file stem: `<stem>/<output>` for each output (`<stem>/output`
for a single tensor), `<stem>/weights` (every weight, flattened and concatenated,
in `model.weights` order) and `<stem>/ser_keras_modules` (the `ser_keras`
subpackages imported when the file was loaded).
"""

import importlib
import sys
from pathlib import Path

import numpy as np


def _ser_keras_subpackages() -> list[str]:
    return sorted({name.split(".")[1] for name in sys.modules if name.startswith("ser_keras.")})


def model_outputs(model, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs `model` on the arrays it takes (all of them for a model without a functional input,
    such as the Distiller); returns `{output name: array}` (`"output"` for a single tensor)."""
    try:
        names = list(model.input)  # a functional model with dict inputs
    except AttributeError:  # never called: a subclassed model
        names = list(arrays)
    results = model({name: arrays[name] for name in names}, training=False)
    results = results if isinstance(results, dict) else {"output": results}
    return {key: np.asarray(value) for key, value in results.items()}


def flat_weights(model) -> np.ndarray:
    """Every weight of `model`, flattened and concatenated in `model.weights` order."""
    return np.concatenate([np.ravel(weight) for weight in model.get_weights()])


def main(inputs_path: str, outputs_path: str, *items: str) -> None:
    import keras

    with np.load(inputs_path) as stored:
        inputs = {key: stored[key] for key in stored.files}
    outputs = {}
    for item in items:
        if not item.endswith(".keras"):
            importlib.import_module(item)
            continue
        stem = Path(item).stem
        outputs[f"{stem}/ser_keras_modules"] = np.array(_ser_keras_subpackages(), dtype=str)
        model = keras.saving.load_model(item)
        for key, value in model_outputs(model, inputs).items():
            outputs[f"{stem}/{key}"] = value
        outputs[f"{stem}/weights"] = flat_weights(model)
    np.savez(outputs_path, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
