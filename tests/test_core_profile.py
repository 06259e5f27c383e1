"""Profile store: atomic owner-only writes, resume, refusal of damaged, foreign and newer files."""

import json
import os
import stat

import pytest

from paso_local.errors import PasoError
from paso_local.person.profile import SCHEMA_VERSION, Profile, ProfileStore
from paso_local.store.storage import atomic_write_text


def test_save_and_load_round_trip(paso_home):
    store = ProfileStore()
    profile = Profile(name="alice")
    profile.answer(1, 4)
    profile.answer(2, None)
    profile.position = 2
    path = store.save(profile)
    assert path == paso_home / "data" / "profiles" / "alice" / "profile.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((paso_home / "data").stat().st_mode) == 0o700
    loaded = store.load("alice")
    assert loaded.answers == {1: 4} and loaded.skipped == {2} and loaded.position == 2
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_resume_after_every_answer():
    store = ProfileStore()
    profile = Profile(name="bob")
    for n, value in [(1, 5), (2, 1), (3, 3)]:
        profile.answer(n, value)
        profile.position += 1
        store.save(profile)
        assert store.load("bob").answers[n] == value
    assert store.load("bob").position == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"hello": "world"}), "not a paso-local profile"),
        (
            json.dumps({"schema": "paso-local/profile", "schema_version": 99, "name": "x"}),
            "schema version 99",
        ),
        (
            json.dumps(
                {
                    "schema": "paso-local/profile",
                    "schema_version": 1,
                    "name": "x",
                    "form": "120",
                    "answers": {"1": 9},
                }
            ),
            "damaged profile",
        ),
    ],
)
def test_bad_files_refused_and_never_overwritten(paso_home, content, message):
    store = ProfileStore()
    path = store.path("carol")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(PasoError, match=message) as info:
        store.load("carol")
    assert str(path) in str(info.value)
    with pytest.raises(PasoError):
        store.save(Profile(name="carol"))
    assert path.read_text() == content


def test_missing_profile_says_what_to_run():
    with pytest.raises(PasoError, match="paso-local onboard --profile nobody"):
        ProfileStore().load("nobody")


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65])
def test_invalid_profile_names(name):
    with pytest.raises(PasoError, match="invalid profile name"):
        ProfileStore().path(name)


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(PasoError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind
