"""GGUF reader: config from metadata, dequantisation, and a clear PasoError for every kind of bad file."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.cli import main
from paso_local.converters.gguf_reader import SUPPORTED_ARCHITECTURES, GGUFModelFile, read_config
from paso_local.converters.model import load_model
from paso_local.errors import PasoError


@pytest.fixture
def tiny_llama(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "tiny-llama.gguf", TinySpec(arch="llama", rope_freqs=True))


def test_config_comes_from_the_metadata_not_the_file_name(tmp_path):
    path = write_tiny_model(tmp_path / "llama-3-8b-instruct.gguf", TinySpec(arch="qwen2", n_layer=2))
    config = read_config(path)
    assert config.arch == "qwen2"
    assert (config.n_layer, config.n_embd, config.n_head, config.n_head_kv, config.head_dim) == (
        2,
        64,
        4,
        2,
        16,
    )
    assert config.rope_style == "neox" and config.has_qkv_bias and not config.tied_output
    assert config.vocab_size == 256 + 5 + 3
    with pytest.raises(AttributeError):
        config.n_layer = 3  # frozen


def test_llama_and_qwen3_configs(tmp_path, tiny_llama):
    llama = read_config(tiny_llama)
    assert llama.rope_style == "interleaved" and llama.tied_output and llama.has_rope_freqs
    assert not llama.has_qkv_bias and not llama.has_qk_norm
    qwen3 = read_config(write_tiny_model(tmp_path / "q3.gguf", TinySpec(arch="qwen3", head_dim=32)))
    assert qwen3.has_qk_norm and qwen3.head_dim == 32 and qwen3.n_head * qwen3.head_dim == 128 != qwen3.n_embd


def test_dequantize_matches_gguf_numpy(tmp_path):
    path = write_tiny_model(tmp_path / "q8.gguf", TinySpec(weight_type="Q8_0"))
    model_file = GGUFModelFile(path)
    tensor = next(t for t in gguf.GGUFReader(path).tensors if t.name == "blk.1.ffn_up.weight")
    expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    got = model_file.dequantize("blk.1.ffn_up.weight")
    assert model_file.type_name("blk.1.ffn_up.weight") == "Q8_0"
    assert tuple(got.shape) == (128, 64) and np.array_equal(got.numpy(), expected)
    rows = model_file.dequantize_rows("token_embd.weight", np.array([3, 7]))
    assert np.array_equal(rows.numpy(), model_file.dequantize("token_embd.weight").numpy()[[3, 7]])
    model_file.close()


def test_truncated_file_is_a_paso_error(tmp_path, tiny_llama):
    data = tiny_llama.read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(data[: len(data) - 1000])
    with pytest.raises(PasoError, match="truncated"):
        read_config(truncated)


@pytest.mark.parametrize("cut", [3, 20, 200])
def test_file_cut_inside_the_header_is_a_paso_error(tmp_path, tiny_llama, cut):
    cut_file = tmp_path / "cut.gguf"
    cut_file.write_bytes(tiny_llama.read_bytes()[:cut])
    with pytest.raises(PasoError, match="cut.gguf"):
        read_config(cut_file)


def test_malformed_header_is_a_paso_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    # valid magic and version, then a key/value count far beyond the file and garbage
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", 1, 2**40) + b"\xff" * 64)
    with pytest.raises(PasoError, match="damaged or truncated"):
        read_config(bad)
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(PasoError, match="not a GGUF file"):
        read_config(not_gguf)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(PasoError):
        read_config(empty)


def test_unsupported_architecture_names_it_and_lists_the_supported(tmp_path):
    path = write_tiny_model(tmp_path / "phi.gguf", TinySpec(arch="phi3"))
    with pytest.raises(PasoError) as caught:
        read_config(path)
    message = str(caught.value)
    assert "'phi3'" in message
    assert all(arch in message for arch in SUPPORTED_ARCHITECTURES)


def test_missing_or_misshapen_tensor_is_a_paso_error(tmp_path):
    path = tmp_path / "broken.gguf"
    write_tiny_model(path, TinySpec())
    reader = gguf.GGUFReader(path)
    writer = gguf.GGUFWriter(str(tmp_path / "missing.gguf"), "llama")
    for field in reader.fields.values():
        if field.name.startswith(("GGUF.", "general.architecture")):
            continue
        value = field.contents()
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            writer.add_array(field.name, value)
        else:
            writer.add_key_value(field.name, value, value_type)
    for tensor in reader.tensors:
        if tensor.name != "blk.1.ffn_down.weight":
            writer.add_tensor(tensor.name, np.array(tensor.data), raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(PasoError, match="blk.1.ffn_down.weight is missing"):
        load_model(tmp_path / "missing.gguf")


def test_check_model_cli_on_a_bad_file_prints_error_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    assert main(["check-model", "--model", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "bad.gguf" in err and "Traceback" not in err
    assert main(["check-model", "--model", str(tmp_path / "absent.gguf")]) == 1
    assert "does not exist" in capsys.readouterr().err
