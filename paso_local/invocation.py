"""How the person started paso-local, so that the commands it suggests work when typed as shown.

From the project folder, without the virtualenv activated, `paso-local` is not on PATH: the program then
suggests `.venv/bin/paso-local align` instead of `paso-local align`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

NAME = "paso-local"


def command_name(argv0: str | None = None, *, cwd: Path | None = None) -> str:
    """`paso-local` when that name on PATH is this program (or it was not started by its script, as with
    `python -m paso_local`); otherwise the path it was started by, relative to the current folder."""
    started = argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "")
    script = Path(started)
    if script.name != NAME:
        return NAME
    found = shutil.which(NAME)
    try:
        if found and os.path.samefile(found, script):
            return NAME
    except OSError:
        return NAME
    here = (cwd or Path.cwd()).resolve()
    absolute = script if script.is_absolute() else here / script
    try:
        return str(Path(os.path.normpath(absolute)).relative_to(here))
    except ValueError:
        return str(absolute)


def with_command_name(text: str) -> str:
    """`text` with its suggested `paso-local ...` commands written the way this program can be started."""
    name = command_name()
    if name == NAME:
        return text
    return text.replace(f"`{NAME} ", f"`{name} ").replace(f"`{NAME}`", f"`{name}`")
