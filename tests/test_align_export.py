"""The exported vector: read back exactly, accepted by llama.cpp through paso_local.llm.runtime."""

from __future__ import annotations

import numpy as np
import pytest

from paso_local.converters.export import build_control_vector
from paso_local.llm.controlvector import read_control_vector, write_control_vector


def make_vector(n_embd: int, n_layer: int, model_path, strength: float = 0.25):
    rng = np.random.default_rng(0)
    unit = {b: rng.normal(size=n_embd).astype(np.float32) for b in (1, 5, n_layer - 1)}
    domains = {
        "A": {"strength": 0.3, "directions": {5: rng.normal(size=n_embd).astype(np.float32)}},
        "N": {"strength": 0.3, "directions": {n_layer - 1: rng.normal(size=n_embd).astype(np.float32)}},
    }
    cv = {
        "vector_kind": "combined",
        "cv_folds": 5,
        "cv_aligned_score_base": 4.1,
        "cv_aligned_score_steered": 3.6,
        "cv_curve": [{"strength": 0.0, "aligned_score": 4.1}, {"strength": 0.25, "aligned_score": 3.6}],
    }
    vector = build_control_vector(
        model_hint="llama",
        n_embd=n_embd,
        n_layer=n_layer,
        directions=unit,
        strength=strength,
        model_path=model_path,
        model_sha256="ab" * 32,
        profile="me",
        form="120",
        usable_answers=100,
        heads_k=24,
        chosen_heads=[(5, 1), (12, 3)],
        placement="L",
        cv=cv,
        domains=domains,
    )
    return vector, unit, domains


def test_file_reads_back_exactly(tmp_path):
    vector, unit, domains = make_vector(16, 8, tmp_path / "model.gguf")
    path = write_control_vector(vector, tmp_path / "v.gguf")
    back = read_control_vector(path)
    assert back.model_hint == "llama" and back.n_embd == 16 and back.layer_count == 7
    assert sorted(back.directions) == [1, 5, 7]
    for b, v in unit.items():
        np.testing.assert_array_equal(back.directions[b], (v * np.float32(0.25)).astype(np.float32))
        assert back.directions[b].dtype == np.float32
    meta = back.metadata
    assert meta == vector.metadata  # every paso.* key, typed scalars and JSON structures alike
    assert meta["strength"] == 0.25 and meta["model_sha256"] == "ab" * 32 and meta["heads_k"] == 24
    assert meta["chosen_heads"] == [[5, 1], [12, 3]]
    assert meta["cv_curve"][1]["aligned_score"] == 3.6
    a = np.asarray(meta["domains"]["A"]["directions"]["5"], dtype=np.float32)
    np.testing.assert_array_equal(a, domains["A"]["directions"][5])
    assert meta["domains"]["N"]["strength"] == 0.3
    assert "0" not in meta["unit_directions"]


@pytest.mark.model
def test_llama_cpp_applies_the_exported_vector(smollm2_path, tmp_path):
    from paso_local.llm.modelfiles import file_sha256
    from paso_local.llm.runtime import Runtime
    from paso_local.llm.steering import Steering

    runtime = Runtime.open(smollm2_path, n_ctx=256, n_threads=2)
    try:
        info = runtime.info
        vector, _, _ = make_vector(info.n_embd, info.n_layer, smollm2_path, strength=2.0)
        meta = dict(vector.metadata, model_sha256=file_sha256(smollm2_path))
        vector = type(vector)(vector.model_hint, vector.directions, vector.n_embd, meta)
        path = write_control_vector(vector, tmp_path / "v.gguf")
        loaded = runtime.load_vector(path)
        assert loaded.warnings == ()  # the sha256 matches the model
        assert sorted(loaded.domains) == ["A", "N"]
        llm = runtime.chat_format.llama
        prompt = runtime.chat_format.encode_chat([{"role": "user", "content": "Describe yourself."}])

        def last_logits() -> np.ndarray:
            llm.reset()
            llm.eval(prompt)
            return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()

        plain = last_logits()
        runtime.set_steering(Steering(strength=1.0))
        steered = last_logits()
        runtime.clear_steering()
        again = last_logits()
    finally:
        runtime.close()
    assert np.abs(steered - plain).max() > 0.1  # llama.cpp took the vector
    np.testing.assert_allclose(again, plain, atol=1e-3)  # and cleared it
