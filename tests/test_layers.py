"""The layers of docs/architecture.md, read from the code's own imports (``ast``, every import of a file, at any depth):

    efm_core            the library: no app, no Streamlit, no Plotly
    app base            state, lesson, background, exports: nothing of the app above them
    app.compute         cached calls into efm_core: no figures, ui, components or pages
    app.figures         arrays -> Plotly: only app.figures
    app.ui              page chrome and bound widgets: no compute, figures, components or pages
    app.components      page pieces: no pages
    app.pages           one page per file: only the layers above, never efm_core

and no import circle among the app's modules. ``app/preload.py`` imports everything once on purpose. No page piece
sits loose in ``app/``: each is in ``app/components/X.py`` beside the cached calls it draws, ``app/compute/X.py``.
Sizes are measured at 120 characters a line (a longer line counts as as many lines as it fills): a page at most 150
lines, a function of the app or the library at most 80.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE_MAY_IMPORT = ("app.components", "app.compute", "app.figures", "app.state", "app.ui", "app.lesson",
                   "app.exports", "app.background")
APP_MODULES = ("app.components", "app.compute", "app.figures", "app.state", "app.ui", "app.lesson", "app.exports",
               "app.background", "app.preload", "app.pages")
# the only modules at the top of app/: the base (state, lesson, background, exports), the page chrome (ui), preload
APP_TOP = {"__init__", "background", "exports", "lesson", "preload", "state", "ui"}
WIDTH, PAGE_LINES, FUNCTION_LINES = 120, 150, 80


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


def _files(where: str, root: Path = ROOT) -> list[Path]:
    """The Python files under the folder ``where`` (relative to ``root``), or the file ``where`` itself."""
    path = root / where
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offending(where: str, banned: tuple[str, ...], root: Path = ROOT) -> dict[str, list[str]]:
    """File (relative to ``root``) -> the imports among ``banned`` of each file of ``where`` that has any."""
    out = {}
    for path in _files(where, root):
        bad = sorted(m for m in imports(path, root) if _within(m, banned))
        if bad:
            out[str(path.relative_to(root))] = bad
    return out


def measured(text: str) -> int:
    """Lines of ``text`` at ``WIDTH`` characters a line: a line of 121 to 240 characters counts as two."""
    return sum(max(1, math.ceil(len(line) / WIDTH)) for line in text.splitlines())


def long_functions(path: Path, limit: int = FUNCTION_LINES) -> dict[str, int]:
    """Function name -> its measured lines (decorators included) for each function of ``path`` over ``limit``."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            size = measured("\n".join(lines[first - 1: node.end_lineno]))
            if size > limit:
                out[node.name] = size
    return out


def test_the_parser_reads_every_kind_of_import(tmp_path):
    pkg = tmp_path / "app" / "pages"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text("import efm_core.sampling\nfrom app import ui\nfrom . import y\n"
                 "def g():\n    from efm_core import Spread\n")
    got = imports(f, tmp_path)
    assert {"efm_core.sampling", "app.ui", "app.pages.y", "efm_core.Spread"} <= got


def test_the_rules_catch_a_broken_layer(tmp_path):
    """A page that imports efm_core, a ui that imports compute, a compute module that imports a figure: all found."""
    for name, text in {"pages/x.py": "from efm_core import generate\n", "ui.py": "from app.compute import exact\n",
                       "compute/y.py": "def f():\n    from app.figures import common\n"}.items():
        (tmp_path / "app" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "app" / name).write_text(text)
    assert _offending("app/pages", ("efm_core",), tmp_path) == {"app/pages/x.py": ["efm_core", "efm_core.generate"]}
    assert _offending("app/ui.py", ("app.compute",), tmp_path) == {"app/ui.py": ["app.compute", "app.compute.exact"]}
    assert _offending("app/compute", ("app.figures",), tmp_path) == {
        "app/compute/y.py": ["app.figures", "app.figures.common"]}


def test_the_measure_counts_a_long_line_as_the_lines_it_fills(tmp_path):
    assert measured("a" * 120) == 1 and measured("a" * 121) == 2 and measured("x\n\n" + "b" * 241) == 5
    f = tmp_path / "f.py"
    f.write_text("@staticmethod\ndef f():\n    return 1\n\n\ndef g():\n    return '" + "c" * 300 + "'\n")
    assert long_functions(f, 3) == {"g": 4}


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


def test_no_page_piece_sits_loose_in_app():
    """The seven loose pieces of old (editor, gallery, tools, training, sweep, nearest, model_picker) are gone, and no
    new one came: the top of app/ holds only the base, the page chrome and preload."""
    assert {p.stem for p in (ROOT / "app").glob("*.py")} == APP_TOP


def test_each_component_sits_beside_its_compute_module():
    components = {p.stem for p in (ROOT / "app" / "components").glob("*.py")} - {"__init__"}
    compute = {p.stem for p in (ROOT / "app" / "compute").glob("*.py")} - {"__init__"}
    assert components and components - compute == set()


def test_pages_are_at_most_150_lines_at_120_characters():
    sizes = {p.name: measured(p.read_text(encoding="utf-8")) for p in _files("app/pages")}
    assert {name: n for name, n in sizes.items() if n > PAGE_LINES} == {}


@pytest.mark.parametrize("folder", ["app", "efm_core"])
def test_functions_are_at_most_80_lines_at_120_characters(folder):
    paths = _files(folder) + ([ROOT / "streamlit_app.py"] if folder == "app" else [])
    too_long = {str(p.relative_to(ROOT)): f for p in paths if (f := long_functions(p))}
    assert too_long == {}


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
