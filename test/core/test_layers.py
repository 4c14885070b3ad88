"""The core's import layering: no cycle, and no module importing a layer above its own.

Every import counts, including those inside functions (a lazy import hides a cycle, it does
not remove it). Units are the top-level modules and subpackages of ``tir_tracker_core``;
``__main__`` modules are entry points and sit above everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tir_tracker_core

ROOT = Path(tir_tracker_core.__file__).parent

# Lowest first. A unit may import units of lower layers only (not its own layer's siblings).
LAYERS: list[set[str]] = [
    {"errors"},
    {"config", "registry"},
    {"geometry", "frames", "data", "progress"},  # maths, frame normalisation, readers, bars
    {"models"},
    {"checkpoint"},  # atomic safetensors + JSON; rebuilds models
    {"backends", "specs"},  # inference engines; the SPEC grammar and model loading
    {"tracking", "training"},  # the runtime; supervised training (never the runtime)
    {"api", "distill", "pseudolabel", "draw"},  # the tracker builder; distillation on top
    # of training; labels from tracking (takes a tracker factory, never builds one);
    # pictures of tracks
    {"eval"},
    {"cli"},
]
LEVEL = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _module(path: Path) -> tuple[str, str]:
    """(dotted module name below the package, its package) for a file of the core."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _imports(source: str, package: str) -> set[str]:
    """Dotted names (below ``tir_tracker_core``) that ``source``, a module of ``package``,
    imports anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif (isinstance(node, ast.ImportFrom)
              and (node.module or "").startswith("tir_tracker_core.")):
            found.add(node.module.removeprefix("tir_tracker_core."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("tir_tracker_core.") for a in node.names
                      if a.name.startswith("tir_tracker_core.")}
    return found


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path.name == "__main__.py":
            continue
        name, _ = _module(path)
        if not name:  # the package's own __init__
            continue
        unit = name.split(".")[0]
        for target in _imports(path.read_text(encoding="utf-8"), _module(path)[1]):
            other = target.split(".")[0]
            if other and other != unit:
                graph.setdefault(unit, set()).add(other)
    return graph


def test_every_unit_has_a_layer():
    units = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.glob("*")
             if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
             or (p.is_dir() and (p / "__init__.py").exists())}
    assert units - set(LEVEL) == set(), "give new modules a layer in LAYERS"


def test_no_module_imports_a_layer_above_or_beside_its_own():
    bad = [f"{a} -> {b}" for a, targets in sorted(_unit_graph().items()) for b in sorted(targets)
           if LEVEL[b] >= LEVEL[a]]
    assert bad == []


def test_forbidden_edges_of_the_refactor_are_gone():
    graph = _unit_graph()
    for a, b in [("backends", "tracking"), ("backends", "api"), ("training", "distill"),
                 ("training", "api"), ("training", "tracking"), ("specs", "api"),
                 ("specs", "eval")]:
        assert b not in graph.get(a, set()), f"{a} imports {b}"


def test_the_checker_sees_imports_inside_functions():
    """How cycles used to hide: a lazy import is still an import."""
    source = "def f():\n    from ..api import load_tracker\n    from . import export\n"
    assert _imports(source, "backends") == {"api", "backends"}
    assert _imports("import tir_tracker_core.eval.runner\n", "") == {"eval.runner"}
