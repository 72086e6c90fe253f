"""The app's layers, read from every import statement (module level and inside functions): no import circles, and
every arrow points down: pages -> ui -> core, and inside core from a package to one below it. bench and tests may
import the app and tools/ (the helpers they share), never each other."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from support import ROOT

PACKAGES = ("core", "ui", "pages", "bench", "tests", "tools")
# core's packages, lowest first: a module may import only from a lower rank (or its own package)
CORE_RANKS = {
    "core.errors": 0, "core.fmt": 0, "core.atomic": 0, "core.optimizers": 0, "core.locks": 0, "core.zips": 0,
    "core.config": 1,
    "core.data": 2, "core.models": 2,
    "core.training": 3, "core.lessons": 3, "core.attribution": 3,
    "core.transfer": 4,
    "core.runs": 5,
    "core.figures": 6,  # figures by concept: they may read a concept's constants, no concept reads a figure
}
# layer -> layers it must never import
FORBIDDEN = {
    "core": {"ui", "pages", "bench", "tests", "tools", "streamlit", "support"},
    "ui": {"pages", "bench", "tests", "tools", "support"},
    "pages": {"bench", "tests", "tools", "support"},
    "streamlit_app": {"pages", "bench", "tests", "tools", "support"},
    "tools": {"ui", "pages", "bench", "tests", "support"},
    "bench": {"tests", "support"},
    "tests": {"bench"},
}


def modules() -> dict[str, Path]:
    found = {"streamlit_app": ROOT / "streamlit_app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports (with each `from x import y`, also x.y, which may be a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (support.py is the tests' module `support`)."""
    mods = modules()
    names = {**{m: m for m in mods}, "support": "tests.support"}
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for name in imports(path):
            target = names.get(name)
            if target and target != mod:
                edges[mod].add(target)
    return edges


def layer(module: str) -> str:
    return module.split(".")[0]


def core_package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_circles():
    edges = graph()
    circles, done, stack = [], set(), []

    def visit(node: str) -> None:
        if node in stack:
            circles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            visit(nxt)
        stack.pop()
        done.add(node)

    for node in sorted(modules()):
        visit(node)
    assert circles == []


def test_every_layer_imports_only_what_lies_below_it():
    wrong = []
    for path in modules().values():
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        banned = FORBIDDEN.get(layer(mod), set())
        for name in imports(path):
            if layer(name) in banned:
                wrong.append(f"{mod} imports {name}")
    assert wrong == []


def test_inside_core_every_arrow_points_down():
    up = []
    for mod, targets in graph().items():
        if layer(mod) != "core":
            continue
        assert core_package(mod) in CORE_RANKS, f"{mod}: give its package a rank in CORE_RANKS"
        for target in targets:
            a, b = core_package(mod), core_package(target)
            if a != b and CORE_RANKS[b] >= CORE_RANKS[a]:
                up.append(f"{mod} -> {target}")
    assert up == []


def test_core_packages_have_empty_inits():
    """A package's __init__.py is empty: every name is imported from the module that defines it."""
    inits = [p for p in (ROOT / "core").rglob("__init__.py") if p.read_text().strip()]
    assert inits == []
