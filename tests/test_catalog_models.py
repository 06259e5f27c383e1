"""`paso-local models`: finding GGUF files where people keep them, and reading their headers quickly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gguf
import numpy as np
import pytest

from paso_local.catalog import list_models
from paso_local.cli import main
from paso_local.errors import PasoError
from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.gguf_header import check_complete, read_header, read_layout
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.vector_store import vector_path_for
from paso_local.store.paths import config_dir


def write_tiny_gguf(
    path: Path, *, arch: str = "llama", layers: int = 2, n_embd: int = 8, file_type: int = 15
) -> Path:
    """A small but well-formed model GGUF: a token list (an array to skip) before the keys we read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"tiny-{arch}")
    writer.add_token_list(["<s>", "</s>", "hello", "world"])
    writer.add_array("tokenizer.ggml.scores", [0.0, 0.5, 1.0, 1.5])
    writer.add_block_count(layers)
    writer.add_embedding_length(n_embd)
    writer.add_context_length(128)
    writer.add_file_type(file_type)
    writer.add_tensor("token_embd.weight", np.zeros((4, n_embd), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fake home directory with models where Ollama, LM Studio, llama.cpp and Hugging Face keep them."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("HF_HOME", "HF_HUB_CACHE", "LLAMA_CACHE", "PASO_LOCAL_MODEL_DIRS"):
        monkeypatch.delenv(name, raising=False)
    blobs = home / ".ollama" / "models" / "blobs"
    digest = "sha256-" + "ab" * 32
    write_tiny_gguf(blobs / digest, arch="qwen2", layers=3)
    (blobs / ("sha256-" + "cd" * 32)).write_text('{"stop": ["<|im_end|>"]}')  # a params blob, not a model
    manifest = (
        home / ".ollama" / "models" / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5" / "0.5b"
    )
    manifest.parent.mkdir(parents=True)
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": digest.replace("-", ":")}]
    manifest.write_text(json.dumps({"layers": layers}))
    write_tiny_gguf(home / ".lmstudio" / "models" / "pub" / "repo" / "model-Q4_K_M.gguf", file_type=15)
    write_tiny_gguf(home / ".cache" / "llama.cpp" / "cached-Q8_0.gguf", file_type=7)
    hub_blob = home / ".cache" / "huggingface" / "hub" / "models--x--y" / "blobs" / "0123"
    write_tiny_gguf(hub_blob, arch="gemma3")
    snapshot = hub_blob.parents[1] / "snapshots" / "rev" / "gemma.gguf"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(hub_blob)
    return home


def by_source(entries):
    return {(e.source, e.name): e for e in entries}


def test_models_are_found_in_the_usual_places(home, smollm2_path):
    entries = list_models("default")
    found = by_source(entries)
    assert entries[0].source == "embedded" and entries[0].name == smollm2_path.name
    assert (
        entries[0].architecture == "llama" and entries[0].quantization == "Q4_1" and entries[0].n_layer == 30
    )
    ollama = found[("ollama", "qwen2.5:0.5b")]
    assert (ollama.architecture, ollama.n_layer, ollama.n_embd, ollama.quantization) == (
        "qwen2",
        3,
        8,
        "Q4_K_M",
    )
    assert found[("lm-studio", "model-Q4_K_M.gguf")].quantization == "Q4_K_M"
    assert found[("llama.cpp", "cached-Q8_0.gguf")].quantization == "Q8_0"
    assert found[("huggingface", "gemma.gguf")].architecture == "gemma3"
    assert len(entries) == 5  # the params blob is not a model
    assert all(e.has_vector is None for e in entries)  # no profile yet


def test_configured_directories_from_the_config_file_and_the_environment(home, tmp_path, monkeypatch):
    from_config = write_tiny_gguf(tmp_path / "mine" / "a.gguf")
    from_env = write_tiny_gguf(tmp_path / "env" / "deep" / "b.gguf")
    write_control_vector(
        ControlVector("llama", {1: np.ones(8, dtype=np.float32)}, 8), tmp_path / "mine" / "cv.gguf"
    )
    config_dir().mkdir(parents=True)
    (config_dir() / "config.json").write_text(json.dumps({"model_dirs": [str(tmp_path / "mine")]}))
    monkeypatch.setenv(
        "PASO_LOCAL_MODEL_DIRS", os.pathsep.join([str(tmp_path / "env"), str(tmp_path / "mine")])
    )
    configured = [e.path for e in list_models(None) if e.source == "configured"]
    assert configured == [str(from_env), str(from_config)]  # each once; the control vector is not a model


def test_a_bad_config_file_is_an_error_naming_it(home):
    config_dir().mkdir(parents=True)
    (config_dir() / "config.json").write_text('{"model_dirs": "/models"}')
    with pytest.raises(PasoError, match='config.json: "model_dirs" must be a list'):
        list_models(None)


def test_whether_the_profile_has_a_vector_for_each_model(home, smollm2_path):
    answers = {item.number: 3 for item in form_items("120")}
    ProfileStore().save(Profile(name="ana", answers=answers))
    assert {e.has_vector for e in list_models("ana")} == {False}
    vector = vector_path_for("ana", smollm2_path)
    write_control_vector(ControlVector("llama", {1: np.ones(576, dtype=np.float32)}, 576), vector)
    entries = list_models("ana")
    assert [e.has_vector for e in entries if e.source == "embedded"] == [True]
    assert [e.has_vector for e in entries if e.source != "embedded"] == [False] * 4


def test_a_damaged_gguf_is_listed_with_the_error(home):
    broken = home / ".cache" / "llama.cpp" / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 8 + b"\x05\x00\x00\x00\x00\x00\x00\x00" + b"\x10")
    entry = {e.name: e for e in list_models(None)}["broken.gguf"]
    assert entry.error and "truncated" in entry.error


def test_read_header_matches_the_gguf_package(smollm2_path):
    mine = read_header(smollm2_path)
    theirs = gguf.GGUFReader(smollm2_path).fields
    for key in (
        "general.architecture",
        "general.name",
        "general.file_type",
        "llama.block_count",
        "llama.embedding_length",
        "tokenizer.chat_template",
        "llama.rope.freq_base",
    ):
        assert mine[key] == pytest.approx(theirs[key].contents()), key


def test_read_header_stops_early_when_it_has_the_wanted_keys(smollm2_path):
    wanted = {"general.architecture", "{arch}.block_count"}
    header = read_header(smollm2_path, wanted)
    assert header["llama.block_count"] == 30
    assert "tokenizer.chat_template" not in header  # written after the tokenizer arrays: never reached


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(PasoError, match="not a GGUF file"):
        read_header(path)


def test_models_command_json_and_table(home, capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["source"] for e in listed} == {"embedded", "ollama", "lm-studio", "llama.cpp", "huggingface"}
    assert set(listed[0]) == {
        "path",
        "name",
        "source",
        "architecture",
        "quantization",
        "size_bytes",
        "n_layer",
        "n_embd",
        "has_vector",
        "error",
    }
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "qwen2.5:0.5b" in table and "Q4_1" in table and "paso-local onboard" in table


def truncated_copy(source: Path, target: Path, keep: float = 0.5) -> Path:
    """The first part of a model file, as an interrupted download leaves it (the header is whole)."""
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def test_a_truncated_model_is_listed_as_damaged_from_its_header(home, smollm2_path):
    cut = truncated_copy(smollm2_path, home / ".cache" / "llama.cpp" / "cut-Q4_1.gguf", keep=0.05)
    entry = {e.name: e for e in list_models(None)}["cut-Q4_1.gguf"]
    assert entry.error and "is damaged" in entry.error and "Get the file again" in entry.error
    assert entry.architecture == "llama" and entry.has_vector is None
    whole = {e.name: e for e in list_models(None)}[smollm2_path.name]
    assert whole.error is None
    with pytest.raises(PasoError, match="is damaged: it is 4.7 MiB but its header describes 93.8 MiB"):
        check_complete(cut)
    check_complete(smollm2_path)


def test_the_tensor_extent_matches_the_gguf_package(tmp_path):
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    _values, end = read_layout(path)
    reader = gguf.GGUFReader(path)
    assert end == max(t.data_offset + t.n_bytes for t in reader.tensors) == path.stat().st_size
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(PasoError, match="is damaged"):
        check_complete(path)


def test_ask_with_a_truncated_model_says_it_is_damaged_before_any_advice_on_vectors(
    tmp_path, capsys, smollm2_path
):
    answers = {item.number: 1 + item.number % 5 for item in form_items("120")}
    ProfileStore().save(Profile(name="default", answers=answers, position=120))
    cut = truncated_copy(smollm2_path, tmp_path / "cut.gguf")
    assert main(["ask", "hello", "--model", str(cut)]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err and "align" not in err and "cannot load" not in err


def test_a_missing_model_directory_is_listed_as_missing(home, tmp_path, monkeypatch, capsys):
    present = tmp_path / "present"
    present.mkdir()
    monkeypatch.setenv("PASO_LOCAL_MODEL_DIRS", os.pathsep.join([str(present), str(tmp_path / "typo")]))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert (
        f"Missing model directories:\n    {tmp_path / 'typo'} (from PASO_LOCAL_MODEL_DIRS) does not exist"
        in out
    )
    assert str(present) not in out.split("Missing model directories:")[1]
    assert main(["models", "--json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "Warning: model directory" in captured.err and "typo" in captured.err
