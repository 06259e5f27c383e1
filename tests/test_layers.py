"""The layout's arrows: `tui` and `converters` import `paso_local`, never each other, and `paso_local` imports
neither (only its entry point, paso_local/cli.py, dispatches to both, lazily). The two folders install as
paso_local.tui and paso_local.converters (pyproject.toml) and are imported by those names only: a bare `tui` or
`converters` import works from the source tree alone and would load a second copy there. Every import is read
from the source, function-level ones included, so a lazy import cannot hide a backwards arrow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("paso_local", "tui", "converters")  # the source folders, one part each
INSTALLED_AS = {"paso_local.tui": "tui", "paso_local.converters": "converters"}
FORBIDDEN = {"paso_local": {"tui", "converters"}, "tui": {"converters"}, "converters": {"tui"}}
ENTRY_POINT = Path("paso_local/cli.py")  # the command layer: may dispatch to both sides
BY_FOLDER_NAME = "by-folder-name"  # an import of `tui` or `converters` themselves: never allowed


def part_of(module: str) -> str | None:
    """Which part an imported module belongs to (None: not ours)."""
    for prefix, part in INSTALLED_AS.items():
        if module == prefix or module.startswith(prefix + "."):
            return part
    top = module.split(".")[0]
    if top in ("tui", "converters"):
        return BY_FOLDER_NAME
    return "paso_local" if top == "paso_local" else None


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module the source imports, at any depth (relative imports stay inside their part)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(
                f"{node.module}.{alias.name}" for alias in node.names
            )  # `from paso_local import tui`
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def imported_packages(tree: ast.AST) -> set[str]:
    """The parts the source imports from."""
    return {part for part in map(part_of, imported_modules(tree)) if part is not None}


def backwards_arrows() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == ENTRY_POINT:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
            for target in sorted(imported_packages(tree) & (FORBIDDEN[package] | {BY_FOLDER_NAME})):
                found.append(f"{relative} imports {target}")
    return found


def test_no_import_runs_against_the_arrows():
    assert backwards_arrows() == []


def test_tests_and_benchmarks_import_the_installed_names_too():
    found = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == Path(__file__).name:  # this file writes the folder names as examples
                continue
            if BY_FOLDER_NAME in imported_packages(ast.parse(path.read_text(encoding="utf-8"))):
                found.append(str(path.relative_to(ROOT)))
    assert found == []


def test_the_scan_sees_lazy_imports():
    source = "def f():\n    import paso_local.converters.model\n    from paso_local.tui.chat import app\n"
    assert imported_packages(ast.parse(source)) == {"converters", "tui"}
    dynamic = "import importlib\nimportlib.import_module('paso_local.tui.x')"
    assert imported_packages(ast.parse(dynamic)) == {"tui"}
    assert imported_packages(ast.parse("from paso_local import converters, profile")) == {
        "converters",
        "paso_local",
    }


def test_the_scan_refuses_the_folder_names():
    for source in ("import tui.chat", "from converters.model import Model", "from tui import chat"):
        assert imported_packages(ast.parse(source)) == {BY_FOLDER_NAME}


@pytest.mark.parametrize("module", ["paso_local", "paso_local.cli"])
def test_importing_the_core_loads_neither_torch_nor_textual(module):
    script = (
        f"import sys, {module}\n"
        "parts = ('torch', 'textual', 'paso_local.converters', 'paso_local.tui', 'converters', 'tui')\n"
        "print(sorted(m for m in parts if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- no import loops ------------------------------------------------------------------------------------------


def module_files() -> dict[str, Path]:
    """Every module of the three parts by its installed name (a package by its __init__)."""
    modules = {}
    for package in PACKAGES:
        installed = {
            "paso_local": "paso_local",
            "tui": "paso_local.tui",
            "converters": "paso_local.converters",
        }
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT / package).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((installed[package], *parts))] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports, lazy imports included."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        imported = imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found_by_hand():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    """A loop, even through a lazy import, means two modules that cannot be understood apart."""
    assert cycles(import_graph()) == []


# --- the core's folders ---------------------------------------------------------------------------------------

CORE_FOLDERS = ("llm", "person", "store", "evaluation", "assessment")
MAX_MODULES_PER_FOLDER = 20


def test_every_core_folder_is_small_and_says_what_it_holds():
    core = ROOT / "paso_local"
    for folder in (core, *(core / name for name in CORE_FOLDERS)):
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= MAX_MODULES_PER_FOLDER, f"{folder} holds {len(modules)} modules"
        if folder != core:
            assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text())), folder


def test_the_store_is_the_bottom_layer():
    """paso_local.store (paths, storage, config, conversations) imports nothing of the model or the person."""
    graph = import_graph()
    found = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith("paso_local.store")
        for target in targets
        if target.startswith(("paso_local.llm", "paso_local.person"))
    ]
    assert found == []
