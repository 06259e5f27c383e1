"""The SQLite conversation store: owner-only, versioned, history without compare replies."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from paso_local.errors import PasoError
from paso_local.store.conversations import DB_FILE, SCHEMA_VERSION, ConversationStore, title_from
from paso_local.store.paths import data_dir


def test_a_conversation_round_trips_and_compare_replies_stay_out_of_the_history():
    with ConversationStore() as store:
        cid = store.create("What should I cook tonight, given that it is cold and late?", model="m.gguf")
        store.add_message(cid, "user", "What should I cook?")
        reply = store.add_message(cid, "assistant", "Soup.", steered=True, strength=1.2)
        store.add_message(cid, "assistant", "Pasta.", steered=False, compare_of=reply)
    with ConversationStore() as store:
        saved = store.load(cid)
        assert saved.title == "What should I cook tonight, given that it is cold and late?"
        assert [(m.role, m.content, m.steered, m.strength, m.compare_of) for m in saved.messages] == [
            ("user", "What should I cook?", False, None, None),
            ("assistant", "Soup.", True, 1.2, None),
            ("assistant", "Pasta.", False, None, reply),
        ]
        assert saved.history() == [
            {"role": "user", "content": "What should I cook?"},
            {"role": "assistant", "content": "Soup."},
        ]
        assert [(s.id, s.message_count) for s in store.list()] == [(cid, 3)]


def test_the_file_is_owner_only_and_carries_its_schema_version():
    ConversationStore().close()
    path = data_dir() / DB_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_left_alone():
    path = data_dir() / DB_FILE
    ConversationStore().close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(PasoError, match="newer paso-local"):
        ConversationStore()
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_an_error_naming_it():
    path = data_dir() / DB_FILE
    path.parent.mkdir(parents=True)
    path.write_text("not a database at all, just text " * 20)
    with pytest.raises(PasoError, match=f"{DB_FILE} is not a readable conversation store"):
        ConversationStore()


def test_deleting_a_conversation_removes_its_messages():
    with ConversationStore() as store:
        cid = store.create("x")
        store.add_message(cid, "user", "hello")
        store.delete(cid)
        assert store.list() == []
        with pytest.raises(PasoError, match=f"no conversation {cid}"):
            store.load(cid)
        with pytest.raises(PasoError, match="cannot save"):
            store.add_message(cid, "user", "orphan")


def test_titles_are_one_short_line():
    assert title_from("  two\nlines  ") == "two lines"
    assert len(title_from("word " * 40)) == 60 and title_from("word " * 40).endswith("…")


def test_a_full_disk_on_first_start_says_so_and_leaves_nothing_behind(monkeypatch):
    real_connect = sqlite3.connect

    def connect_to_a_full_disk(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA max_page_count = 1")  # SQLite's own SQLITE_FULL once the file must grow
        return db

    monkeypatch.setattr(sqlite3, "connect", connect_to_a_full_disk)
    with pytest.raises(PasoError) as caught:
        ConversationStore()
    message = str(caught.value)
    assert "cannot create the conversation store" in message and "the disk is full" in message
    assert "move it away" not in message and "not a readable" not in message
    assert list((data_dir()).iterdir()) == []  # no 0-byte store, no journal


def test_a_write_to_a_full_store_is_an_error_saying_the_disk_is_full():
    with ConversationStore() as store:
        cid = store.create("x")
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(
            PasoError, match="cannot save the assistant message of conversation .* the disk is full"
        ):
            store.add_message(cid, "assistant", "word " * 3000)
        with pytest.raises(PasoError, match="cannot save a new conversation .* the disk is full"):
            for _ in range(200):
                store.create("title " * 50)
