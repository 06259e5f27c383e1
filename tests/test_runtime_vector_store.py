"""Where a profile's vector for a model lives, and which vector `ask`/`chat` pick."""

from __future__ import annotations

import numpy as np
import pytest

from paso_local.errors import PasoError
from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.modelfiles import file_sha256
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.vector_store import (
    choose_vector,
    find_vector,
    read_index,
    record_vector,
    vector_path_for,
)
from paso_local.store.paths import data_dir


def save_profile(name: str) -> None:
    ProfileStore().save(Profile(name=name, answers={item.number: 4 for item in form_items("120")}))


def tiny_vector(path):
    write_control_vector(ControlVector("llama", {1: np.ones(4, dtype=np.float32)}, 4), path)


def test_the_path_is_keyed_by_profile_and_model_content(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF model bytes")
    path = vector_path_for("ana", model)
    assert path == data_dir() / "profiles" / "ana" / "vectors" / f"{file_sha256(model)[:16]}.gguf"
    moved = tmp_path / "elsewhere.gguf"
    moved.write_bytes(b"GGUF model bytes")
    assert vector_path_for("ana", moved) == path  # same content, same vector
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF other bytes")
    assert vector_path_for("ana", other) != path


def test_find_vector_only_once_it_is_written(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF model bytes")
    assert find_vector("ana", model) is None
    tiny_vector(vector_path_for("ana", model))
    assert find_vector("ana", model) == vector_path_for("ana", model)


def test_the_index_records_the_model_file(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF model bytes")
    tiny_vector(vector_path_for("ana", model))
    record_vector("ana", model)
    entry = read_index("ana")[vector_path_for("ana", model).stem]
    assert entry["model_file"] == "model.gguf" and entry["model_sha256"] == file_sha256(model)


def test_bad_profile_names_and_missing_models_are_errors(tmp_path):
    with pytest.raises(PasoError, match="invalid profile name"):
        vector_path_for("../escape", tmp_path)
    with pytest.raises(PasoError, match="does not exist"):
        vector_path_for("ana", tmp_path / "missing.gguf")


def test_choose_vector_says_what_to_run(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF model bytes")
    path, notice = choose_vector("ana", model)
    assert path is None and "paso-local onboard" in notice
    save_profile("ana")
    path, notice = choose_vector("ana", model)
    assert path is None and "paso-local align --profile ana" in notice
    tiny_vector(vector_path_for("ana", model))
    assert choose_vector("ana", model) == (vector_path_for("ana", model), None)
    assert choose_vector("ana", model, no_steer=True) == (None, None)
    assert choose_vector("ana", model, explicit=str(tmp_path / "x.gguf")) == (tmp_path / "x.gguf", None)
