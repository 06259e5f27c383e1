"""NaN and infinity never reach llama.cpp: strengths, vector files and buffers are refused with a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paso_local.cli import main
from paso_local.errors import PasoError
from paso_local.llm.controlvector import ControlVector, read_control_vector, write_control_vector
from paso_local.llm.steering import Steering


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_strength_is_refused(value):
    with pytest.raises(PasoError, match="not a finite number"):
        Steering(enabled=True, strength=value)
    with pytest.raises(PasoError, match="E strength"):
        Steering(enabled=True, strength=1.0, domain_strengths={"E": value})


def test_a_vector_file_holding_nan_is_refused_at_load_naming_the_tensor(tmp_path):
    path = tmp_path / "v.gguf"
    directions = {1: np.ones(8, dtype=np.float32), 2: np.full(8, 2.0, dtype=np.float32)}
    write_control_vector(ControlVector("llama", directions, 8, {"model_file": "test"}), path)
    data = bytearray(path.read_bytes())  # the writer refuses nothing here: patch one float in the file
    start = data.rfind(np.full(8, 2.0, dtype=np.float32).tobytes())  # direction.2's data
    assert start > 0
    data[start + 5 * 4 : start + 6 * 4] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(PasoError, match=r"direction\.\d.*nan.*element 5") as caught:
        read_control_vector(path)
    assert str(path) in str(caught.value)


def test_assess_strength_nan_is_refused_before_any_model_work(capsys, two_subjects):
    code = main(["assess", "--subjects", str(two_subjects), "--strength", "nan", "--methods", "base"])
    err = capsys.readouterr().err
    assert code == 1 and "finite" in err and "Traceback" not in err
