"""NaN and infinity never reach llama.cpp: strengths, LoRA scales, vector files (their directions and their domain
parts) and buffers are refused with an error that names the option or the file, the value and what to do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paso_local.cli import main
from paso_local.errors import PasoError
from paso_local.llm.controlvector import (
    ControlVector,
    domain_vectors,
    read_control_vector,
    write_control_vector,
)
from paso_local.llm.lora_adapter import LoraHandle
from paso_local.llm.runtime import Runtime
from paso_local.llm.steering import Steering

NON_FINITE = [math.nan, math.inf, -math.inf]
N_EMBD = 64  # tests/tiny_gguf.py's model: 3 layers, so blocks 1..2 steer


def finite_vector(path, *, domain_strength: float = 2.5):
    """A valid vector file of two blocks with one domain part (strength `domain_strength`)."""
    directions = {1: np.ones(N_EMBD, dtype=np.float32), 2: np.full(N_EMBD, 2.0, dtype=np.float32)}
    domains = {"E": {"strength": domain_strength, "directions": {"1": [0.5] * N_EMBD}}}
    write_control_vector(
        ControlVector("llama", directions, N_EMBD, {"model_file": "t", "domains": domains}), path
    )
    return path


def vector_with(path, value: float, element: int = 5):
    """A vector file whose direction.2 holds `value` at `element`: the writer refuses it, so a float is patched."""
    finite_vector(path)
    data = bytearray(path.read_bytes())
    start = data.rfind(np.full(N_EMBD, 2.0, dtype=np.float32).tobytes())  # direction.2's data
    assert start > 0
    data[start + element * 4 : start + (element + 1) * 4] = np.float32(value).tobytes()
    path.write_bytes(bytes(data))
    return path


# --- strengths and scales -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_non_finite_strength_is_refused(value):
    with pytest.raises(PasoError, match="not a finite number"):
        Steering(enabled=True, strength=value)
    with pytest.raises(PasoError, match="E strength"):
        Steering(enabled=True, strength=1.0, domain_strengths={"E": value})


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_non_finite_lora_scale_is_refused_before_the_adapter_loads(tmp_path, value):
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")  # never read: the scale is refused first, so model and context are unused
    with pytest.raises(PasoError, match=r"adapter\.gguf: scale .* is not a finite number"):
        LoraHandle(None, None, adapter, value, on_change=lambda: None)


def test_assess_strength_nan_is_refused_before_any_model_work(capsys, two_subjects):
    code = main(["assess", "--subjects", str(two_subjects), "--strength", "nan", "--methods", "base"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Error: ") and "--strength" in err and "nan" in err
    assert "Traceback" not in err


# --- vector files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_vector_file_holding_one_non_finite_value_is_refused_at_load_naming_the_tensor(tmp_path, value):
    path = vector_with(tmp_path / "v.gguf", value)
    with pytest.raises(PasoError, match=rf"tensor 'direction\.2' holds {value} at element 5") as caught:
        read_control_vector(path)
    assert str(path) in str(caught.value) and "paso-local align" in str(caught.value)


def test_a_domain_part_holding_nan_is_refused_at_load_naming_the_domain(tmp_path):
    path = finite_vector(tmp_path / "v.gguf")
    data = path.read_bytes()
    assert data.count(b'"strength": 2.5') == 1
    path.write_bytes(
        data.replace(b'"strength": 2.5', b'"strength": NaN')
    )  # same length: the GGUF stays whole
    vector = read_control_vector(path)  # the directions themselves are finite
    with pytest.raises(PasoError, match=r"domains\['E'\]: strength nan is not a finite number") as caught:
        domain_vectors(vector, path)
    assert str(path) in str(caught.value)


def test_the_writer_refuses_what_the_reader_would(tmp_path):
    path = tmp_path / "v.gguf"
    with pytest.raises(PasoError, match=r"domains\['E'\]: strength inf"):
        finite_vector(path, domain_strength=math.inf)
    assert not path.exists()
    with pytest.raises(PasoError, match=r"layer 2 holds nan at element 3"):
        ControlVector("llama", {2: np.array([0, 0, 0, np.nan], dtype=np.float32)}, 4)


def test_ask_with_a_vector_holding_nan_is_an_error_naming_the_file(tmp_path, capsys, tiny_chat_model):
    path = vector_with(tmp_path / "damaged.gguf", math.nan)
    code = main(
        [
            "ask",
            "hi",
            "--model",
            str(tiny_chat_model),
            "--vector",
            str(path),
            "--threads",
            "1",
            "--n-ctx",
            "256",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.startswith("Error: ")
    assert str(path) in err and "direction.2" in err and "Traceback" not in err


def test_assess_refuses_a_damaged_vector_before_any_model_work(
    tmp_path, capsys, tiny_chat_model, two_subjects
):
    path = vector_with(tmp_path / "damaged.gguf", math.inf)
    run = tmp_path / "run"
    argv = ["--subjects", str(two_subjects), "--model", str(tiny_chat_model), "--methods", "base"]
    code = main(["assess", *argv, "--vector", f"fixed={path}", "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Error: ") and str(path) in err and "direction.2" in err
    assert "Traceback" not in err and not run.exists()  # refused before the checkpoints, let alone the models


# --- the door into llama.cpp ----------------------------------------------------------------------------------


@pytest.fixture
def tiny_runtime(tiny_chat_model):
    with Runtime.open(tiny_chat_model, n_ctx=256, n_threads=1) as runtime:
        yield runtime


@pytest.mark.parametrize("value", NON_FINITE)
def test_no_non_finite_buffer_reaches_llama_cpp(tiny_runtime, value):
    buffer = np.zeros((tiny_runtime.info.n_layer - 1, N_EMBD), dtype=np.float32)
    buffer[1, 7] = value
    with pytest.raises(PasoError, match="NaN or infinite"):
        tiny_runtime.set_vector_buffer(buffer)
    with pytest.raises(PasoError, match="NaN or infinite"):
        tiny_runtime.set_vector_directions({2: buffer[1]})
    with pytest.raises(PasoError, match="nothing was applied"):
        tiny_runtime._apply(buffer)  # the last door, behind every public one
    assert not tiny_runtime.steered


def test_a_finite_vector_still_steers(tmp_path, tiny_runtime):
    tiny_runtime.load_vector(finite_vector(tmp_path / "v.gguf"))
    tiny_runtime.set_steering(Steering(enabled=True, strength=1.5, domain_strengths={"E": 0.5}))
    assert tiny_runtime.steered
