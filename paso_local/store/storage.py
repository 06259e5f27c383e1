"""Atomic, owner-only writes for personal data: a crash leaves the old file or the new one, never half of one;
and the read of a JSON object file that says what to do when it is damaged."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paso_local.errors import PasoError
from paso_local.store.paths import ensure_private_dir


@contextmanager
def atomic_output(path: Path, what: str = "") -> Iterator[str]:
    """A temp file name beside `path` for a writer that wants a file name. When the block succeeds the file is
    made owner-only and renamed over `path`; when it fails it is removed and `path` is left as it was."""
    path = Path(path)
    what = what or str(path.name)
    try:
        ensure_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise PasoError(
            f"cannot write {what} to {path}: {exc.strerror or exc}. Check the directory's permissions."
        ) from exc
    try:
        yield tmp
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise PasoError(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json_object(path: Path, *, unreadable: str, not_object: str) -> dict:
    """A JSON file that must hold an object. The messages are templates of `{path}` (and `{exc}` in
    `unreadable`) that say what to do; either failure is a PasoError naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PasoError(unreadable.format(path=path, exc=exc)) from exc
    if not isinstance(data, dict):
        raise PasoError(not_object.format(path=path))
    return data


def write_report(report: Mapping[str, Any], destination: str) -> None:
    """A command's --json report: indented JSON to the file `destination` (written atomically), '-' for stdout."""
    text = json.dumps(report, indent=2) + "\n"
    if destination == "-":
        sys.stdout.write(text)
        return
    atomic_write_text(Path(destination).expanduser(), text)


def check_output_writable(path: Path, *, what: str, example: str) -> None:
    """Fail before a long computation when its --out file cannot be written (the write itself is atomic).
    `what` names the file in the message, `example` is a file name to suggest when `path` is a directory."""
    if path.exists() and path.is_dir():
        raise PasoError(f"--out {path} is a directory; give a file name such as {path / example}")
    try:
        ensure_private_dir(path.parent)
    except OSError as exc:
        raise PasoError(f"cannot create the directory for {path}: {exc.strerror or exc}") from exc
    if not path.parent.is_dir():
        raise PasoError(f"cannot write {what} to {path}: {path.parent} is not a directory")
    if not os.access(path.parent, os.W_OK):
        raise PasoError(f"cannot write {what} to {path}: {path.parent} is not writable")
