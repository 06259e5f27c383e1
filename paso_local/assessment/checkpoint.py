"""An assessment's checkpoint directory: the run's settings (run.json), the judge's validation, the replies of
methods that are not personal, and one file per subject, each written atomically (owner-only: the replies
are about a person) as soon as it is complete. `--resume` reads back what is there and does the rest; a
directory made with other settings is refused rather than mixed."""

from __future__ import annotations

from pathlib import Path

from paso_local.errors import PasoError
from paso_local.store.storage import atomic_write_json, read_json_object

RUN_FILE = "run.json"


class Checkpoint:
    def __init__(self, directory: Path, config: dict, *, resume: bool):
        self.directory = directory
        run_file = directory / RUN_FILE
        if run_file.is_file():
            if not resume:
                raise PasoError(
                    f"{directory} already holds an assessment; pass --resume to continue it, or --out DIR "
                    "for a new one"
                )
            stored = self._read(run_file)
            differing = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            if differing:
                raise PasoError(
                    f"{directory} holds an assessment with other settings ({', '.join(differing)}); "
                    "resume it with the same options, or give --out DIR for a new one"
                )
        else:
            atomic_write_json(run_file, config)

    def load(self, name: str) -> dict | None:
        path = self.directory / f"{name}.json"
        return self._read(path) if path.is_file() else None

    def save(self, name: str, value: dict) -> None:
        atomic_write_json(self.directory / f"{name}.json", value)

    @staticmethod
    def _read(path: Path) -> dict:
        return read_json_object(
            path,
            unreadable="{path} is damaged ({exc}); delete it and run again with --resume",
            not_object="{path} is not an assessment checkpoint; delete it and run again with --resume",
        )
