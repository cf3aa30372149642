"""The flow reads one way: no import cycle between the grader's stages, nor between modules.

Imports are read from the source (what `import` statements name, lazily imported ones too),
never by importing; imports under `if TYPE_CHECKING:` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "grader"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def _imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import module` takes the module; `from pkg import name`, the package
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                     else node.module for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {m: _imports(p, modules) - {m, "grader"} for m, p in paths.items()}


def stage(module: str) -> str:
    """grader.batch.run -> grader.batch; grader.pipeline -> grader.pipeline."""
    return ".".join(module.split(".")[:2])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_cycle_between_stages():
    stages: dict[str, set[str]] = defaultdict(set)
    for module, imported in graph().items():
        stages[stage(module)] |= {stage(m) for m in imported} - {stage(module)}
    assert cycles(stages) == []


def test_no_cycle_between_modules():
    assert cycles(graph()) == []


@pytest.mark.parametrize("low, high", [
    ("grader.ingest", "grader.sandbox"), ("grader.graph", "grader.sandbox"),
    ("grader.checks", "grader.pipeline"), ("grader.reports", "grader.batch"),
    ("grader.result", "grader.reports"), ("grader.pipeline", "grader.batch"),
])
def test_a_stage_never_reaches_a_later_one(low, high):
    edges: dict[str, set[str]] = defaultdict(set)
    for module, imported in graph().items():
        edges[stage(module)] |= {stage(m) for m in imported}
    seen, todo = set(), [low]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    assert high not in seen, f"{low} reaches {high}"


def test_the_walk_sees_real_imports():
    edges = graph()
    assert "grader.result" in edges["grader.reports.gradebook"]
    assert "grader.pipeline" in edges["grader.batch.jobs"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
