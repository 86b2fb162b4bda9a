"""The package's floors follow the pipeline: a module imports only from the base and from floors before its own;
nothing below the glue imports ``pipeline`` / ``commands``; no cycle between subpackages; no private module is
imported from another package. Imports are read from the source (``ast``), lazy ones inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hf_ambiguity"

#: Floor of every top-level module or subpackage, in the order data flows.
FLOORS = {
    # base: used by everyone
    "__init__": 0, "audio": 0, "config": 0, "distributions": 0, "errors": 0, "files": 0, "labels": 0,
    "provenance": 0, "schema": 0, "splits": 0, "tiny_alm": 0, "distributed": 0,
    # 1 raw release -> rows
    "corpora": 1, "demo": 1,
    # 2 rows -> datasets and the Hub
    "builders": 2, "hub": 2,
    # 3 synthetic annotators
    "alm": 3, "annotate": 3,
    # 4 analysis
    "analysis": 4,
    # 5-6 training data and models
    "augment": 5, "training": 6,
    # 7 simulation study
    "simulate": 7,
    # glue
    "pipeline": 8, "commands": 8, "cli": 8, "__main__": 8,
}
GLUE = {"pipeline", "commands", "cli", "__main__"}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, module: str) -> set[str]:
    """Every ``hf_ambiguity`` module ``path`` imports (absolute or relative, at any depth of the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "hf_ambiguity")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "hf_ambiguity":
                continue
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from pkg import module`
    mods = _modules()
    return {m for m in out if m in mods}


def _unit(module: str) -> str:
    """``hf_ambiguity.annotate.engine`` -> ``annotate``; ``hf_ambiguity`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


EDGES = {m: _imports(p, m) for m, p in _modules().items()}


def test_every_module_has_a_floor():
    assert sorted({_unit(m) for m in EDGES} - set(FLOORS)) == []


@pytest.mark.parametrize("module", sorted(EDGES))
def test_no_import_from_a_later_floor_or_from_the_glue(module):
    unit = _unit(module)
    bad = []
    for target in sorted(EDGES[module]):
        tunit = _unit(target)
        if tunit == unit:
            continue
        if FLOORS[tunit] > FLOORS[unit] or (tunit in GLUE and unit not in GLUE):
            bad.append(f"{module} imports {target} (floor {FLOORS[tunit]} > {FLOORS[unit]})")
    assert bad == []


@pytest.mark.parametrize("module", sorted(EDGES))
def test_no_private_module_of_another_package(module):
    pkg = module.rsplit(".", 1)[0]
    bad = [t for t in EDGES[module] if t.rsplit(".", 1)[-1].startswith("_") and not t.endswith("__init__")
           and t.rsplit(".", 1)[0] != pkg and t != "hf_ambiguity.__main__"]
    assert bad == []


def test_no_cycle_between_subpackages():
    graph: dict[str, set[str]] = {}
    for module, targets in EDGES.items():
        graph.setdefault(_unit(module), set()).update(_unit(t) for t in targets if _unit(t) != _unit(module))
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(path + [node, nxt])
                return True
            if nxt not in state and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if node not in state and visit(node, []):
            break
    assert cycle == []
