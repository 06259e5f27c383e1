"""Saved chats: one SQLite file in the data directory, readable by the owner only.

The schema version lives in `PRAGMA user_version`; a file from a newer paso-local is refused, never changed.
A compare reply (the last answer regenerated unsteered or at another strength) is stored with `compare_of`
pointing at the reply it sits beside, and is left out of the history the model sees.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.store.paths import data_dir, ensure_private_dir

DB_FILE = "conversations.sqlite3"
SCHEMA_VERSION = 1
TITLE_LENGTH = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    steered INTEGER NOT NULL DEFAULT 0,
    strength REAL,
    compare_of INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: str
    content: str
    steered: bool = False
    strength: float | None = None
    compare_of: int | None = None


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model: str
    updated_at: str
    message_count: int


@dataclass
class Conversation:
    id: int
    title: str
    model: str
    profile: str
    messages: list[StoredMessage] = field(default_factory=list)

    def history(self) -> list[dict]:
        """The chat the model sees: system/user/assistant turns, compare replies left out."""
        return [{"role": m.role, "content": m.content} for m in self.messages if m.compare_of is None]


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def storage_reason(exc: BaseException) -> str:
    """Why a store operation failed, in words a person can act on."""
    if disk_full(exc):
        return "the disk is full. Free some space and try again"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


class ConversationStore:
    """Conversations in `<data>/conversations.sqlite3`. Use from one thread (the app's)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else data_dir() / DB_FILE
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        created = False
        try:
            ensure_private_dir(self.path.parent)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                created = True
            os.chmod(self.path, 0o600)
            db = sqlite3.connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            self._remove_new_file(created)
            raise PasoError(f"cannot open the conversation store {self.path}: {storage_reason(exc)}") from exc
        try:
            self._prepare(db)
        except (sqlite3.Error, PasoError) as exc:
            db.close()
            self._remove_new_file(created)
            if isinstance(exc, PasoError):
                raise
            if created or disk_full(exc):
                verb = "create" if created else "open"
                raise PasoError(
                    f"cannot {verb} the conversation store {self.path}: {storage_reason(exc)}"
                ) from exc
            raise PasoError(
                f"{self.path} is not a readable conversation store ({exc}); move it away to start a new one"
            ) from exc
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Check the schema version and create the tables of a new file."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise PasoError(
                f"{self.path} was written by a newer paso-local (schema {version}, this one reads "
                f"{SCHEMA_VERSION}); upgrade paso-local. The file was left untouched."
            )
        db.execute("PRAGMA foreign_keys = ON")
        if version < SCHEMA_VERSION:
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _remove_new_file(self, created: bool) -> None:
        """A store this call created and could not set up is removed, with its journal: nothing is left behind."""
        if not created:
            return
        for leftover in (self.path, self.path.with_name(self.path.name + "-journal")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass  # best effort: the error about the store itself is what the person needs to see

    def _write(self, what: str, sql: str, values: tuple) -> sqlite3.Cursor:
        """One statement in its own transaction; a failure is a PasoError saying why (a full disk, say)."""
        try:
            with self._db:
                return self._db.execute(sql, values)
        except sqlite3.Error as exc:
            raise PasoError(f"cannot save {what} to {self.path}: {storage_reason(exc)}") from exc

    def create(self, title: str, *, model: str = "", profile: str = "") -> int:
        now = _now()
        cursor = self._write(
            "a new conversation",
            "INSERT INTO conversations (title, model, profile, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (title_from(title) or "New conversation", model, profile, now, now),
        )
        return int(cursor.lastrowid)

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        steered: bool = False,
        strength: float | None = None,
        compare_of: int | None = None,
    ) -> int:
        now = _now()
        what = f"the {role} message of conversation {conversation_id}"
        try:
            with self._db:
                cursor = self._db.execute(
                    "INSERT INTO messages (conversation_id, role, content, steered, strength, compare_of,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, role, content, int(steered), strength, compare_of, now),
                )
                self._db.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
                )
        except sqlite3.IntegrityError as exc:
            raise PasoError(f"cannot save {what}: {exc}") from exc
        except sqlite3.Error as exc:
            raise PasoError(f"cannot save {what} to {self.path}: {storage_reason(exc)}") from exc
        return int(cursor.lastrowid)

    def rename(self, conversation_id: int, title: str) -> None:
        self._write(
            "the new title",
            "UPDATE conversations SET title = ? WHERE id = ?",
            (title_from(title), conversation_id),
        )

    def delete(self, conversation_id: int) -> None:
        self._write(
            f"the deletion of conversation {conversation_id}",
            "DELETE FROM conversations WHERE id = ?",
            (conversation_id,),
        )

    def _read(self, sql: str, values: tuple) -> list[tuple]:
        try:
            return self._db.execute(sql, values).fetchall()
        except sqlite3.Error as exc:
            raise PasoError(f"cannot read the conversation store {self.path}: {storage_reason(exc)}") from exc

    def list(self, limit: int = 200) -> list[ConversationSummary]:
        """Most recently updated first."""
        rows = self._read(
            "SELECT c.id, c.title, c.model, c.updated_at, COUNT(m.id) FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id "
            "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (limit,),
        )
        return [ConversationSummary(*row) for row in rows]

    def load(self, conversation_id: int) -> Conversation:
        rows = self._read(
            "SELECT id, title, model, profile FROM conversations WHERE id = ?", (conversation_id,)
        )
        if not rows:
            raise PasoError(f"no conversation {conversation_id} in {self.path}")
        row = rows[0]
        messages = [
            StoredMessage(
                id=r[0], role=r[1], content=r[2], steered=bool(r[3]), strength=r[4], compare_of=r[5]
            )
            for r in self._read(
                "SELECT id, role, content, steered, strength, compare_of FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]
        return Conversation(id=row[0], title=row[1], model=row[2], profile=row[3], messages=messages)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
