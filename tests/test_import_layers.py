"""The package's import graph goes only down the layers of docs/ARCHITECTURE.md.

Every `ser_keras` subpackage and top-level module has a layer below; an import of a
`ser_keras` name (at module level or inside a function) may name its own layer or a lower one,
and the graph between subpackages has no cycle. A new subpackage or module fails until it is
given a layer here and in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ser_keras"

#: docs/ARCHITECTURE.md: benchmarks -> experiment -> serving / export -> models ->
#: vggish / data / training / text (with config) -> audio (with the single-file utilities).
LAYERS = {
    "benchmarks": 6,
    "experiment": 5,
    "serving": 4,
    "export": 4,
    "models": 3,
    "vggish": 2,
    "data": 2,
    "training": 2,
    "text": 2,
    "config": 2,
    "audio": 1,
    "atomic": 1,
    "keras_internals": 1,
    "labels": 1,
    "latency": 1,
    "modalities": 1,
    "probes": 1,
    "reporting": 1,
    "tensorflow_logs": 1,
    "transcripts": 1,
}


def _unit(path: Path) -> str:
    """The subpackage or top-level module a file belongs to (`ser_keras/<unit>/...`)."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        units.update(module.split(".")[1] for module in modules if module.startswith("ser_keras."))
    return units


def _import_graph() -> dict[str, set[str]]:
    graph = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        if unit == "__init__":
            continue
        graph[unit].update(_imported_units(path) - {unit})
    return graph


def test_every_unit_of_the_package_has_a_layer():
    units = {_unit(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units - set(LAYERS) == set(), "give these a layer here and in docs/ARCHITECTURE.md"
    assert set(LAYERS) - units == set(), "these are gone: remove them from LAYERS"


def test_no_unit_imports_a_higher_layer():
    upward = sorted(
        f"{unit} (layer {LAYERS[unit]}) imports {target} (layer {LAYERS[target]})"
        for unit, targets in _import_graph().items()
        for target in targets
        if LAYERS[target] > LAYERS[unit]
    )
    assert upward == []


def test_the_import_graph_has_no_cycle():
    graph = _import_graph()
    finished: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert unit not in path, "import cycle: " + " -> ".join((*path, unit))
        if unit in finished:
            return
        for target in sorted(graph.get(unit, ())):
            visit(target, (*path, unit))
        finished.add(unit)

    for unit in sorted(graph):
        visit(unit, ())
