"""The house rules of the library's layout (docs/layout.md, "House rules"), read from the source:

- no function longer than :data:`MAX_FUNCTION_LINES` lines, its docstring not counted;
- no import circle among the modules of ``simulator/``, ``metrics/`` and ``ividr/``, imports
  inside functions included (a lazy import hides a circle, it does not remove it);
- no upward import: ``metrics`` imports neither ``simulator`` nor ``ividr``, ``simulator`` does
  not import ``ividr``, and neither imports torch (one documented exception: the replay of the
  released generator's draw, which needs torch's random stream).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("metrics", "simulator", "ividr")
MAX_FUNCTION_LINES = 80
#: Modules below ``ividr`` allowed to import torch, and why.
TORCH_BELOW_IVIDR = {"simulator.replay_divers": "replays the released code's torch draws"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every module of ours, or 'torch', that ``path`` imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES or m.split(".")[0] == "torch"}


def function_lengths(path: Path):
    """(name, lines) of every function, from its ``def`` line to its end, docstring excluded."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines -= first.end_lineno - first.lineno + 1
            yield node.name, lines


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return circles


def test_no_function_is_longer_than_the_limit():
    too_long = [
        f"{name}::{func} ({lines} lines)"
        for name, path in MODULES.items()
        for func, lines in function_lengths(path)
        if lines > MAX_FUNCTION_LINES
    ]
    assert too_long == []


def test_no_import_circle():
    graph = {
        name: {m for m in imported_modules(path) if m in MODULES} - {name}
        for name, path in MODULES.items()
    }
    assert import_circles(graph) == []


@pytest.mark.parametrize(
    ("lower", "forbidden"),
    [("metrics", ("simulator", "ividr", "torch")), ("simulator", ("ividr", "torch"))],
)
def test_no_upward_import_and_no_torch_below_ividr(lower, forbidden):
    upward = [
        f"{name} imports {m}"
        for name, path in MODULES.items()
        if name.split(".")[0] == lower and name not in TORCH_BELOW_IVIDR
        for m in imported_modules(path)
        if m.split(".")[0] in forbidden
    ]
    assert upward == []


def test_the_checks_see_what_they_check(tmp_path):
    # The rules would pass vacuously if the parsing found nothing: they must see a long
    # function, a circle and the one allowed torch import.
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "m.py"
    path.write_text(f'def f():\n    """Doc.\n\n    More."""\n{long_body}\n')
    assert dict(function_lengths(path)) == {"f": MAX_FUNCTION_LINES + 1}
    assert import_circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert "torch" in imported_modules(MODULES["simulator.replay_divers"])
    assert len(MODULES) > 50
