"""The installed layout: tui/ and converters/ go into site-packages as paso_local.tui and paso_local.converters,
never as top-level `tui` and `converters`, with every module, style sheet and data file."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except (
    ModuleNotFoundError
):  # Python 3.10, the declared minimum: pytest depends on tomli there (tomllib's source)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
INSTALLED_AS = {"paso_local": "paso_local", "tui": "paso_local.tui", "converters": "paso_local.converters"}
# The distributions whose import name is not their own name; every other one imports as it is called.
DISTRIBUTION_OF = {"llama_cpp": "llama-cpp-python"}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def normalized(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels() -> set[str]:
    """The top-level modules the three parts import, at any depth (lazy imports included)."""
    names = set()
    for folder in INSTALLED_AS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names


def source_packages() -> set[str]:
    """Every folder of Python modules in the three parts, by the name it installs as."""
    names = set()
    for folder, installed in INSTALLED_AS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            names.add(".".join((installed, *relative)))
    return names


def test_every_third_party_import_is_a_declared_dependency():
    """An undeclared one works here only because something else installed it (as rich came with textual)."""
    declared = {
        normalized(re.match(r"[A-Za-z0-9._-]+", spec).group())
        for spec in pyproject()["project"]["dependencies"]
    }
    ours = set(INSTALLED_AS) | set(sys.stdlib_module_names)
    third_party = imported_top_levels() - ours
    assert {"numpy", "rich", "llama_cpp"} <= third_party  # the scan sees them
    undeclared = sorted(m for m in third_party if normalized(DISTRIBUTION_OF.get(m, m)) not in declared)
    assert undeclared == [], f"imported but not in pyproject.toml's dependencies: {undeclared}"


def test_pyproject_lists_every_package_and_maps_the_two_folders():
    setuptools = pyproject()["tool"]["setuptools"]
    assert set(setuptools["packages"]) == source_packages() | {"paso_local.data"}
    assert setuptools["package-dir"] == {"paso_local.tui": "tui", "paso_local.converters": "converters"}


@pytest.mark.slow
def test_the_wheel_holds_the_parts_under_paso_local_and_they_import_from_it(tmp_path):
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path),
    ]
    done = subprocess.run([*build, str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("paso_local-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {name.split("/")[0] for name in names} == {"paso_local", wheel.name.split("-py")[0] + ".dist-info"}
    for folder, installed in INSTALLED_AS.items():
        for source in (ROOT / folder).rglob("*"):
            if (
                source.suffix in (".py", ".tcss", ".csv", ".json", ".gguf")
                and "__pycache__" not in source.parts
            ):
                inside = source.relative_to(ROOT / folder).as_posix()
                assert f"{installed.replace('.', '/')}/{inside}" in names
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)]
    assert subprocess.run(install, capture_output=True, timeout=300).returncode == 0
    script = (
        "import paso_local.tui.chat.app as app, paso_local.converters.export as export, paso_local.person.inventory as i\n"
        "print(app.__file__); print(export.__file__); print(len(i.form_items('300')))"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    assert ran.returncode == 0, ran.stderr
    app_file, export_file, count = ran.stdout.split()
    assert app_file.startswith(str(target)) and export_file.startswith(str(target)) and count == "300"
