"""Where paso-local keeps a person's data. `PASO_LOCAL_HOME` overrides every directory (tests always set it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

from paso_local.errors import PasoError

APP_NAME = "paso-local"
HOME_ENV = "PASO_LOCAL_HOME"


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def _directory(kind: str) -> Path:
    override = _home_override()
    if override is not None:
        return override / kind
    finder = {
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "config": platformdirs.user_config_dir,
    }[kind]
    return Path(finder(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Profiles, vectors and conversations: personal data."""
    return _directory("data")


def cache_dir() -> Path:
    """Recomputable things such as model activations."""
    return _directory("cache")


def config_dir() -> Path:
    return _directory("config")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents readable by the owner only (existing parents are left alone)."""
    missing = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    return path


def require_writable_dir(path: Path, what: str, hint: str | None = None) -> Path:
    """Create `path` (owner-only) and check that a file can be written in it: said before any screen opens,
    not after the first answer. `hint` says what to do instead (default: about the data directory)."""
    try:
        ensure_private_dir(path)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise PasoError(
            f"cannot write {what} in {path}: {exc.strerror or exc}; {hint or _data_dir_hint()}"
        ) from exc
    return path


def _data_dir_hint() -> str:
    override = os.environ.get(HOME_ENV)
    if override:
        return f"{HOME_ENV} is {override!r}: point it at a directory you can write"
    return "check the permissions of the directory and its parents"
