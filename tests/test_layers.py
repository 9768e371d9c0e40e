"""The layers of docs/architecture.md, read from the code's own imports (``ast``, every import of a file, at any depth):

    efm_core            the library: no app, no Streamlit, no Plotly
    app base            state, lesson, background, exports: nothing of the app above them
    app.compute         cached calls into efm_core: no figures, ui, components or pages
    app.figures         arrays -> Plotly: only app.figures
    app.ui              page chrome and bound widgets: no compute, figures, components or pages
    app.components      page pieces: no pages
    app.pages           one page per file: only the layers above, never efm_core

and no import circle among the app's modules. ``app/preload.py`` imports everything once on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE_MAY_IMPORT = ("app.components", "app.compute", "app.figures", "app.state", "app.ui", "app.lesson", "app.exports",
                   "app.background")
APP_MODULES = ("app.components", "app.compute", "app.figures", "app.state", "app.ui", "app.lesson", "app.exports",
               "app.background", "app.preload", "app.pages")


def _module(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` (under ``root``) imports, at any depth (``from app import ui`` counts as ``app.ui``);
    relative imports resolved."""
    found: set[str] = set()
    name = _module(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offending(folder: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in _files(folder):
        bad = sorted(m for m in imports(path) if _within(m, banned))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def test_the_parser_reads_every_kind_of_import(tmp_path):
    pkg = tmp_path / "app" / "pages"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text("import efm_core.sampling\nfrom app import ui\nfrom . import y\ndef g():\n    from efm_core import Spread\n")
    got = imports(f, tmp_path)
    assert {"efm_core.sampling", "app.ui", "app.pages.y", "efm_core.Spread"} <= got


def test_efm_core_imports_no_app_streamlit_or_plotly():
    assert _offending("efm_core", ("app", "streamlit", "plotly", "streamlit_app")) == {}


@pytest.mark.parametrize("name", ["state", "lesson", "background", "exports"])
def test_the_app_base_imports_nothing_of_the_app_above_it(name):
    above = ("app.compute", "app.figures", "app.ui", "app.components", "app.pages", "app.preload")
    bad = sorted(m for m in imports(ROOT / "app" / f"{name}.py") if _within(m, above))
    assert bad == []


def test_compute_imports_no_figures_ui_components_or_pages():
    assert _offending("app/compute", ("app.figures", "app.ui", "app.components", "app.pages", "plotly")) == {}


def test_figures_import_only_figures():
    banned = tuple(m for m in APP_MODULES if m != "app.figures") + ("streamlit", "efm_core")
    assert _offending("app/figures", banned) == {}


def test_ui_imports_nothing_above_it():
    assert _offending("app/ui.py", ("app.compute", "app.figures", "app.components", "app.pages")) == {}


def test_components_import_no_pages():
    assert _offending("app/components", ("app.pages", "app.preload")) == {}


def test_pages_import_only_the_layers_above_and_no_efm_core():
    out = {}
    for path in _files("app/pages"):
        bad = sorted(m for m in imports(path) if m.split(".")[0] in ("app", "efm_core")
                     and not _within(m, PAGE_MAY_IMPORT) and m != "app")
        if bad:
            out[path.name] = bad
    assert out == {}


def test_no_import_circle_in_the_app():
    modules = {_module(p): p for p in _files("app") if p.name != "preload.py"}
    graph = {m: {d for d in imports(p) if d in modules and d != m} for m, p in modules.items()}
    for m in graph:  # a package's __init__ is imported with each of its modules: not an edge of its own
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import circle: " + " -> ".join([*path[path.index(d):], d])
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
