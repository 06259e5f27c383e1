"""A person's questionnaire answers, stored as versioned JSON in the user data directory.

Layout: `<data>/profiles/<name>/profile.json` (owner-only, written atomically after every answer).
A file that is not a paso-local profile, or one from a newer schema, is refused and never overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.person.inventory import FORMS, form_items, item
from paso_local.person.scoring import Scores, score_answers
from paso_local.store.paths import data_dir
from paso_local.store.storage import atomic_write_json

SCHEMA = "paso-local/profile"
SCHEMA_VERSION = 1
DEFAULT_PROFILE = "default"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def validate_profile_name(name: str) -> str:
    if not _NAME_PATTERN.match(name or ""):
        raise PasoError(
            f"invalid profile name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


@dataclass
class Profile:
    name: str
    form: str = "120"
    answers: dict[int, int] = field(default_factory=dict)  # 300-form item number -> 1..5
    skipped: set[int] = field(default_factory=set)  # asked, deliberately left unanswered
    position: int = 0  # index into the form's items of the next question to show
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    completed_at: str | None = None
    source: str = "questionnaire"

    @property
    def items(self):
        return form_items(self.form)

    @property
    def complete(self) -> bool:
        return self.completed_at is not None

    def stale_import_notice(self) -> str | None:
        """Set when an earlier paso-local imported this profile from a PAPI-style JSON list: it read the file's
        keyed scores (6 - the chosen option on minus-keyed items) as chosen options, so the minus-keyed
        answers stored here are reversed. Imports now record their orientation ("import:f.json (keyed)")."""
        name = self.source.removeprefix("import:")
        if not self.source.startswith("import:") or not name.lower().endswith(".json"):
            return None
        reversed_items = sum(1 for n in self.usable_answers() if not item(n).plus_keyed)
        return (
            f"profile {self.name!r} was imported from {name} by an earlier paso-local that read the file's keyed "
            f"scores as the options chosen, so its {reversed_items} minus-keyed answers are reversed. Import it "
            f"again: paso-local onboard --import {name} --index N --replace --profile {self.name}"
        )

    def usable_answers(self) -> dict[int, int]:
        """Answers to the profile's own form (1..5 only)."""
        numbers = {i.number for i in self.items}
        return {n: a for n, a in self.answers.items() if n in numbers and 1 <= a <= 5}

    def scores(self) -> Scores:
        return score_answers(self.answers, self.form)

    def answer(self, number: int, value: int | None) -> None:
        """Record an answer (1..5) or a skip (None) for item `number`."""
        if value is None:
            self.answers.pop(number, None)
            self.skipped.add(number)
        else:
            if not 1 <= value <= 5:
                raise PasoError(f"answer to item {number} must be 1..5, got {value}")
            self.answers[number] = value
            self.skipped.discard(number)
        self.updated_at = now_iso()

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "form": self.form,
            "answers": {str(k): v for k, v in sorted(self.answers.items())},
            "skipped": sorted(self.skipped),
            "position": self.position,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: object, path: Path) -> Profile:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise PasoError(
                f'{path} is not a paso-local profile (no "schema": "{SCHEMA}"). '
                "It was left untouched; move it away or choose another --profile."
            )
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise PasoError(
                f"{path} has profile schema version {version!r}; this paso-local reads version {SCHEMA_VERSION}. "
                "Upgrade paso-local (or use the version that wrote it). The file was left untouched."
            )
        try:
            return cls._from_fields(data)
        except ValueError as exc:  # raised below with the field and the value at fault
            raise PasoError(
                f"{path} is a damaged profile: {exc}. It was left untouched; fix it by hand or move it "
                "away and onboard again."
            ) from exc

    @classmethod
    def _from_fields(cls, data: dict) -> Profile:
        form, name = data.get("form"), data.get("name")
        if not isinstance(form, (str, int)) or str(form) not in FORMS:
            raise ValueError(f'"form" is {form!r}; expected one of {", ".join(map(repr, FORMS))}')
        if not isinstance(name, str):
            raise ValueError(f'"name" is {name!r}; expected the profile\'s name as a string')
        return cls(
            name=name,
            form=str(form),
            answers=_stored_answers(data.get("answers")),
            skipped={_whole_number(x, '"skipped"', 1, 300) for x in _list(data, "skipped")},
            position=_whole_number(data.get("position", 0), '"position"', 0, 300),
            created_at=str(data.get("created_at") or now_iso()),
            updated_at=str(data.get("updated_at") or now_iso()),
            completed_at=data.get("completed_at"),
            source=str(data.get("source", "questionnaire")),
        )


def _whole_number(value: object, field_name: str, low: int, high: int) -> int:
    """`value` as an int in low..high (an integral float or a digit string counts); ValueError saying why not."""
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ValueError(f"{field_name} is {value!r}; it must be a whole number {low}..{high}")
    return number


def _list(data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f'"{key}" is {value!r:.40}; expected a list of item numbers')
    return value


def _stored_answers(raw: object) -> dict[int, int]:
    """`"answers": {"12": 4, ...}`: item numbers 1..300 to answers 1..5."""
    if not isinstance(raw, dict):
        raise ValueError(f'"answers" is {raw!r:.40}; expected an object of item number -> answer 1..5')
    return {
        _whole_number(key, '"answers" key', 1, 300): _whole_number(value, f'"answers"[{key!r}]', 1, 5)
        for key, value in raw.items()
    }


class ProfileStore:
    """Profiles under `<data>/profiles/`. Every method resolves paths at call time (PASO_LOCAL_HOME may change)."""

    def __init__(self, root: Path | None = None):
        self._root = root

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else data_dir() / "profiles"

    def profile_dir(self, name: str) -> Path:
        return self.root / validate_profile_name(name)

    def path(self, name: str) -> Path:
        return self.profile_dir(name) / "profile.json"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/profile.json"))

    def load(self, name: str) -> Profile:
        path = self.path(name)
        if not path.exists():
            raise PasoError(
                f"no profile named {name!r} (looked for {path}). Run `paso-local onboard --profile {name}` first."
            )
        return self._read(path)

    def load_or_none(self, name: str) -> Profile | None:
        return self.load(name) if self.exists(name) else None

    def _read(self, path: Path) -> Profile:
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PasoError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PasoError(
                f"{path} is not valid JSON ({exc}). It was left untouched; move it away to start over."
            ) from exc
        return Profile.from_json(data, path)

    def save(self, profile: Profile) -> Path:
        """Write atomically. Refuses to replace a file that is not a readable profile of ours."""
        path = self.path(profile.name)
        if path.exists():
            self._read(path)  # raises on a foreign, damaged or newer file: never overwrite it
        atomic_write_json(path, profile.to_json())
        return path
