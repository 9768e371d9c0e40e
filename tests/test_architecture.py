"""The package's import graph: no circle among efm_core's modules, and the integration layer below the tracer.

Read from the source (``ast``), every import counted, also those inside functions: a circle that only works because
one side imports late is still a circle.
"""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "efm_core"


def _module(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """efm_core module -> the efm_core modules it imports (a package's ``from . import x`` names the submodule)."""
    files = {_module(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            graph[module] |= {t for t in targets if t in files and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles among modules (each found once, as a path that ends where it starts), ``efm_core/__init__``
    left out: it re-exports everything (so every import of ``efm_core.x`` passes through it), never imported inside."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt not in PACKAGES:
                if state.get(nxt) == "open":
                    found.append([*stack[stack.index(nxt):], nxt])
                elif nxt not in state:
                    visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state and node not in PACKAGES:
            visit(node, [node])
    return found


PACKAGES = {"efm_core"}


def test_efm_core_has_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("low", ["efm_core.paths", "efm_core.solvers", "efm_core.fields"])
def test_integration_sits_below_the_tracer_and_the_configs(low):
    """solvers (and what it imports) never imports the tracer, the theorem, the configs or the sampling layer."""
    graph, seen, todo = import_graph(), set(), [low]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert not seen & {"efm_core.lines", "efm_core.theorem", "efm_core.config", "efm_core.sampling"}, seen
