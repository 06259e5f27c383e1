"""The layout's arrows: `tui` and `converters` import `paso_local`, never each other, and `paso_local` imports
neither (only its entry point, paso_local/cli.py, dispatches to both, lazily). Every import is read from the
source, function-level ones included, so a lazy import cannot hide a backwards arrow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("paso_local", "tui", "converters")
FORBIDDEN = {"paso_local": {"tui", "converters"}, "tui": {"converters"}, "converters": {"tui"}}
ENTRY_POINT = Path("paso_local/cli.py")  # the command layer: may dispatch to both sides


def imported_packages(tree: ast.AST) -> set[str]:
    """The top-level package of every import in the module, at any depth (relative imports stay inside)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value.split(".")[0])
    return names


def backwards_arrows() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == ENTRY_POINT:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
            for target in sorted(imported_packages(tree) & FORBIDDEN[package]):
                found.append(f"{relative} imports {target}")
    return found


def test_no_import_runs_against_the_arrows():
    assert backwards_arrows() == []


def test_the_scan_sees_lazy_imports():
    source = "def f():\n    import converters.model\n    from tui.chat import app\n"
    assert imported_packages(ast.parse(source)) == {"converters", "tui"}
    assert imported_packages(ast.parse("import importlib\nimportlib.import_module('tui.x')")) >= {"tui"}


@pytest.mark.parametrize("module", ["paso_local", "paso_local.cli"])
def test_importing_the_core_loads_neither_torch_nor_textual(module):
    script = (
        f"import sys, {module}\n"
        "print(sorted(m for m in ('torch', 'textual', 'converters', 'tui') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
