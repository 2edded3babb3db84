"""The layering of DESIGN.md stays true: imports run one way between packages, and no two
modules import each other (directly or around a circle), counting imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import transferkit

ROOT = Path(transferkit.__file__).parent

#: From the top down: a package may import itself and the packages of lower groups only.
LAYERS = [
    {"__main__"},
    {"cli"},
    {"api", "sklearn", "testing", "__init__"},
    {"runs"},
    {"search", "explanation", "report", "shipping"},
    {"strategies", "adaptation", "pretraining", "transferability"},
    {"training", "evaluation"},
    {"features"},
    {"data"},
    {"zoo"},
    {"progress", "timing", "threads"},
    {"distributed"},
    {"store", "registry"},
    {"config"},
    {"serving"},
    {"runtime"},  # imports no torch: numpy, Pillow, onnxruntime, tokenizers only
    {"errors", "version"},
]
RANK = {name: i for i, group in enumerate(LAYERS) for name in group}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    return mods


def _imports(path: Path, mods: dict[str, Path]) -> set[str]:
    """Every transferkit module ``path`` imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("transferkit.")}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("transferkit")
        ):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in mods else node.module)
    return {m for m in out if m in mods}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _modules()}
    assert packages <= set(RANK), packages - set(RANK)


def test_imports_run_one_way_between_packages():
    mods = _modules()
    wrong = []
    for name, path in mods.items():
        src = _package(name)
        for target in _imports(path, mods):
            dst = _package(target)
            if dst != src and RANK[dst] <= RANK[src]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_the_cli():
    mods = _modules()
    users = [
        n
        for n, p in mods.items()
        if _package(n) not in ("cli", "__main__")
        and any(_package(t) == "cli" for t in _imports(p, mods))
    ]
    assert not users


def test_no_import_circles_between_modules():
    mods = _modules()
    graph = {n: _imports(p, mods) - {n} for n, p in mods.items()}
    # a package's __init__ that re-exports its modules, imported by one of them, is a circle too
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, circles
