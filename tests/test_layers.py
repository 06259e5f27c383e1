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


def from_module(node: ast.ImportFrom, package: str) -> str | None:
    """The module a `from ... import` reads, a relative one resolved against `package` (the importing module's
    package; None when it cannot be resolved)."""
    if node.level == 0:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(tree: ast.AST, package: str = "") -> set[str]:
    """Every module the source imports, at any depth; relative imports are resolved against `package`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (module := from_module(node, package)):
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from paso_local import tui`
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


def package_of(name: str, path: Path) -> str:
    """The package a module's relative imports start from: itself for a package's __init__."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports: lazy, TYPE_CHECKING and relative imports included."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = imported_modules(tree, package_of(name, path))
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


def loop_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One import loop inside a strongly connected component, from its first module back to it (for the
    failure message: the imports to follow, not just the modules involved)."""
    start, inside = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for child in sorted(graph[node] & inside):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                frontier.append(child)
    raise ValueError(f"{component} is not a loop of {graph}")


def test_cycles_are_found_by_hand():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert loop_through(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_relative_imports():
    lazy = "def f():\n    from paso_local.llm.runtime import Runtime\n"
    assert "paso_local.llm.runtime" in imported_modules(ast.parse(lazy))
    relative = "from . import runtime\nfrom .steering import Steering\nfrom ..store import paths\n"
    assert imported_modules(ast.parse(relative), "paso_local.llm") >= {
        "paso_local.llm.runtime",
        "paso_local.llm.steering",
        "paso_local.store.paths",
    }
    assert package_of("paso_local.llm", ROOT / "paso_local/llm/__init__.py") == "paso_local.llm"
    assert package_of("paso_local.llm.runtime", ROOT / "paso_local/llm/runtime.py") == "paso_local.llm"


def test_no_module_imports_itself_back():
    """A loop, even through a lazy import, means two modules that cannot be understood apart."""
    graph = import_graph()
    loops = [" -> ".join(loop_through(graph, component)) for component in cycles(graph)]
    assert loops == [], "import loops:\n" + "\n".join(loops)


def test_no_module_forwards_names_it_does_not_use():
    """A name is imported from the module that defines it: a module that imports a name only to list it in
    __all__ (which silences ruff's unused-import check) is a second address for it. A package's __init__ may
    present its package's entry points."""
    found = []
    for name, path in sorted(module_files().items()):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for forwarded in sorted(forwarded_names(tree)):
            found.append(f"{name} forwards {forwarded}")
    assert found == []


def forwarded_names(tree: ast.Module) -> set[str]:
    """The names a module imports at its top level and uses nowhere but in __all__."""
    imported = {
        alias.asname or alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    body = [node for node in tree.body if not is_all_assignment(node)]
    used = {node.id for part in body for node in ast.walk(part) if isinstance(node, ast.Name)}
    return imported - used - {"annotations"}


def is_all_assignment(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
    )


def test_a_forwarded_name_is_found_by_hand():
    source = "from a import b, c\n__all__ = ['b', 'd']\ndef d():\n    return c\n"
    assert forwarded_names(ast.parse(source)) == {"b"}


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
