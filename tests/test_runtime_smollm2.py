"""The runtime on the real embedded SmolLM2 through llama.cpp: steering, clearing, validation, streaming."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paso_local.errors import PasoError
from paso_local.llm import controlvector
from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.generation import Sampling
from paso_local.llm.modelfiles import file_sha256
from paso_local.llm.runtime import Runtime
from paso_local.llm.steering import UNSTEERED, Steering

pytestmark = pytest.mark.model

N_EMBD, N_LAYER = 576, 30
QUESTION = [{"role": "user", "content": "Describe yourself in one sentence."}]
SHORT = Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=16)
PER_LAYER_NORM = (
    8.0  # about a tenth of SmolLM2's residual norm in the middle blocks: changes words, not grammar
)


def random_vector(
    seed: int = 0, norm: float = PER_LAYER_NORM, n_embd: int = N_EMBD, layers=range(1, N_LAYER)
):
    rng = np.random.default_rng(seed)
    directions = {}
    for layer in layers:
        v = rng.standard_normal(n_embd)
        directions[layer] = (v / np.linalg.norm(v) * norm).astype(np.float32)
    return directions


@pytest.fixture(scope="module")
def runtime(smollm2_path):
    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as rt:
        yield rt


@pytest.fixture
def vector_file(tmp_path, smollm2_path):
    path = tmp_path / "random.gguf"
    meta = {"model_file": smollm2_path.name, "model_sha256": file_sha256(smollm2_path)}
    write_control_vector(ControlVector("llama", random_vector(), N_EMBD, meta), path)
    return path


def reply(rt: Runtime, steering: Steering | None = None, sampling: Sampling = SHORT) -> str:
    return rt.stream_chat(QUESTION, sampling=sampling, steering=steering).collect()


def test_model_info_comes_from_the_file(runtime, smollm2_path):
    info = runtime.info
    assert (info.architecture, info.n_embd, info.n_layer, info.n_ctx) == ("llama", N_EMBD, N_LAYER, 512)
    assert info.path == smollm2_path.resolve()


def test_a_vector_changes_the_greedy_reply_and_clearing_restores_it_exactly(runtime, vector_file):
    runtime.clear_steering()
    plain = reply(runtime)
    runtime.load_vector(vector_file)
    steered = reply(runtime, Steering())
    assert runtime.steered
    assert steered != plain
    runtime.clear_steering()
    assert not runtime.steered
    assert reply(runtime) == plain
    assert reply(runtime, Steering()) == steered  # and back again: nothing left over from the unsteered cache


def test_changing_steering_drops_the_kv_cache(smollm2_path, vector_file):
    """A change of steering with the same prompt must give what a fresh context gives."""
    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as fresh:
        fresh.load_vector(vector_file)
        fresh_steered = reply(fresh, Steering(strength=0.5))
    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as rt:
        rt.load_vector(vector_file)
        reply(rt, UNSTEERED)  # the prompt is now in the KV cache, computed unsteered
        assert reply(rt, Steering(strength=0.5)) == fresh_steered


def test_without_the_reset_the_old_steering_would_leak(smollm2_path, vector_file, monkeypatch):
    """What the reset guards against: llama.cpp keeps the cache, and the runtime reuses the cached prompt's
    whole chunks (so the prompt is longer than one PREFILL_CHUNK here)."""
    question = [{"role": "user", "content": "Describe yourself in one sentence. " * 30}]

    def answer(rt: Runtime, steering: Steering) -> str:
        return rt.stream_chat(question, sampling=SHORT, steering=steering).collect()

    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as fresh:
        fresh.load_vector(vector_file)
        fresh_steered = answer(fresh, Steering())
    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as rt:
        rt.load_vector(vector_file)
        answer(rt, UNSTEERED)
        monkeypatch.setattr(rt._llm, "reset", lambda: None)
        assert answer(rt, Steering()) != fresh_steered


def test_strength_scales_the_vector(runtime, vector_file):
    runtime.load_vector(vector_file)
    assert reply(runtime, Steering(strength=0.0)) == reply(runtime, UNSTEERED)
    assert reply(runtime, Steering(strength=1.0)) != reply(runtime, Steering(strength=0.5))
    runtime.clear_steering()


def test_the_full_buffer_goes_to_llama_set_adapter_cvec(runtime, vector_file, monkeypatch):
    import llama_cpp

    calls = []
    real = llama_cpp.llama_set_adapter_cvec

    def recording(ctx, data, length, n_embd, il_start, il_end):
        calls.append((data is None, length, n_embd, il_start, il_end))
        return real(ctx, data, length, n_embd, il_start, il_end)

    monkeypatch.setattr(llama_cpp, "llama_set_adapter_cvec", recording)
    runtime.clear_steering()
    # a vector steering only blocks 5..7 still goes over as the whole (n_layer - 1) x n_embd buffer
    path = vector_file.parent / "partial.gguf"
    write_control_vector(ControlVector("llama", random_vector(layers=range(5, 8)), N_EMBD), path)
    runtime.load_vector(path)
    runtime.set_steering(Steering())
    runtime.clear_steering()
    assert calls == [(False, (N_LAYER - 1) * N_EMBD, N_EMBD, 1, N_LAYER - 1), (True, 0, N_EMBD, -1, -1)]


def test_older_llama_cpp_python_names_are_used_when_the_new_one_is_missing(runtime, vector_file, monkeypatch):
    import llama_cpp

    used = []
    older = llama_cpp.llama_set_adapter_cvec

    def llama_apply_adapter_cvec(*args):
        used.append("llama_apply_adapter_cvec")
        return older(*args)

    monkeypatch.delattr(llama_cpp, "llama_set_adapter_cvec")
    monkeypatch.setattr(llama_cpp, "llama_apply_adapter_cvec", llama_apply_adapter_cvec)
    runtime.load_vector(vector_file)
    runtime.set_steering(Steering(strength=0.7))
    runtime.clear_steering()
    assert used == ["llama_apply_adapter_cvec", "llama_apply_adapter_cvec"]


def test_a_refused_vector_is_an_error(runtime, vector_file, monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_set_adapter_cvec", lambda *args: -1)
    runtime.load_vector(vector_file)
    with pytest.raises(PasoError, match="llama_set_adapter_cvec returned -1"):
        runtime.set_steering(Steering())


def test_a_vector_for_another_embedding_size_names_both_models(runtime, tmp_path):
    path = tmp_path / "qwen.gguf"
    meta = {"model_file": "qwen2.5-0.5b-instruct-q5_0.gguf"}
    write_control_vector(
        ControlVector("qwen2", random_vector(n_embd=896, layers=range(1, 24)), 896, meta), path
    )
    with pytest.raises(PasoError) as error:
        runtime.load_vector(path)
    message = str(error.value)
    assert "qwen2.5-0.5b-instruct-q5_0.gguf (qwen2)" in message and "n_embd 896" in message
    assert "SmolLM2-135M-Instruct.Q4_1.gguf (llama, n_embd 576, 30 layers)" in message


def test_a_vector_for_a_deeper_model_names_both_models(runtime, tmp_path):
    path = tmp_path / "deep.gguf"
    write_control_vector(ControlVector("llama", random_vector(layers=range(1, 40)), N_EMBD), path)
    with pytest.raises(PasoError, match=r"a llama model \(steers up to block 39\).*30 layers"):
        runtime.load_vector(path)


def test_the_same_shape_from_another_model_file_is_a_warning(runtime, tmp_path, vector_file):
    path = tmp_path / "other.gguf"
    meta = {"model_file": "my-finetune.gguf", "model_sha256": "0" * 64}
    write_control_vector(ControlVector("llama", random_vector(), N_EMBD, meta), path)
    loaded = runtime.load_vector(path)
    assert len(loaded.warnings) == 1 and "my-finetune.gguf" in loaded.warnings[0]
    assert runtime.load_vector(vector_file).warnings == ()


def test_stop_ends_the_reply_after_the_current_token(runtime):
    runtime.clear_steering()
    stop = threading.Event()
    generation = runtime.stream_chat(QUESTION, sampling=Sampling(max_tokens=100), stop=stop)
    pieces = []
    for piece in generation:
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert generation.stats.finish_reason == "cancelled"
    assert generation.stats.tokens == 3


def test_max_tokens_and_stats(runtime):
    generation = runtime.stream_chat(
        QUESTION, sampling=Sampling(temperature=0.0, max_tokens=5), steering=UNSTEERED
    )
    generation.collect()
    stats = generation.stats
    assert (stats.tokens, stats.finish_reason, stats.steered) == (5, "length", False)
    assert stats.tokens_per_second > 0
    assert stats.context_used == stats.prompt_tokens + 4  # the last token is sampled, not yet evaluated
    assert stats.context_size == 512


def test_sampling_is_seeded(runtime):
    sampling = Sampling(temperature=0.9, max_tokens=12, seed=7)
    assert reply(runtime, UNSTEERED, sampling) == reply(runtime, UNSTEERED, sampling)


def test_a_long_history_is_trimmed_from_the_oldest_turn(runtime):
    long_turn = "word " * 150
    history = [{"role": "system", "content": "Be brief."}]
    for _ in range(4):
        history += [{"role": "user", "content": long_turn}, {"role": "assistant", "content": "ok"}]
    history.append({"role": "user", "content": "Last question?"})
    kept = runtime.fit_messages(history, reserve=64)
    assert kept[0]["role"] == "system" and kept[-1]["content"] == "Last question?"
    assert [m["role"] for m in kept[1:]] == ["user", "assistant"] * ((len(kept) - 2) // 2) + ["user"]
    assert len(kept) < len(history) and runtime.count_tokens(kept) <= 512 - 64
    with pytest.raises(PasoError, match="does not fit the 512-token context"):
        runtime.fit_messages([{"role": "user", "content": "word " * 600}], reserve=64)


def test_per_domain_strengths_scale_their_part_of_the_vector(runtime, tmp_path):
    a, n = random_vector(seed=1), random_vector(seed=2)
    combined = {layer: (0.5 * a[layer] + 2.0 * n[layer]).astype(np.float32) for layer in a}
    domains = {
        "A": {"strength": 0.5, "directions": {str(k): v.tolist() for k, v in a.items()}},
        "N": {"strength": 2.0, "directions": {str(k): v.tolist() for k, v in n.items()}},
    }
    path = tmp_path / "domains.gguf"
    write_control_vector(ControlVector("llama", combined, N_EMBD, {"domains": domains}), path)
    loaded = runtime.load_vector(path)
    assert sorted(loaded.domains) == ["A", "N"]
    only_n = loaded.composed(Steering(strength=1.5, domain_strengths={"A": 0.0, "N": 1.0}))
    for layer in a:
        np.testing.assert_allclose(only_n.directions[layer], 1.5 * 2.0 * n[layer], rtol=1e-5, atol=1e-5)
    unchanged = loaded.composed(Steering(domain_strengths={"A": 1.0, "N": 1.0}))
    for layer in a:
        np.testing.assert_array_equal(unchanged.directions[layer], combined[layer])
    assert reply(runtime, Steering(domain_strengths={"A": 0.0, "N": 0.0})) == reply(runtime, UNSTEERED)


def test_damaged_domain_metadata_is_an_error(runtime, tmp_path, monkeypatch):
    path = tmp_path / "bad-domains.gguf"
    bad = {"A": {"strength": 1.0, "directions": {"3": [0.0, 1.0]}}}
    vector = ControlVector("llama", random_vector(), N_EMBD, {"domains": bad})
    with pytest.raises(PasoError, match=r"domains\['A'\]: layer 3 has shape \(2,\)"):
        write_control_vector(vector, path)  # the writer enforces the reader's rules
    assert not path.exists()
    monkeypatch.setattr(
        controlvector, "domain_vectors", lambda *_: {}
    )  # so the damaged file is made without them
    write_control_vector(vector, path)
    monkeypatch.undo()
    with pytest.raises(PasoError, match=r"domains\['A'\]: layer 3 has shape \(2,\)"):
        runtime.load_vector(path)


def test_steering_without_a_vector_is_an_error(smollm2_path):
    with Runtime.open(smollm2_path, n_ctx=256, n_threads=1) as rt:
        with pytest.raises(PasoError, match="no control vector is loaded"):
            rt.set_steering(Steering())


def test_close_frees_the_model_and_is_idempotent(smollm2_path):
    rt = Runtime.open(smollm2_path, n_ctx=256, n_threads=1)
    rt.close()
    rt.close()
    assert rt._llm is None


def test_a_missing_or_broken_model_file_is_an_error(tmp_path):
    with pytest.raises(PasoError, match="does not exist"):
        Runtime.open(tmp_path / "none.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(PasoError, match="llama.cpp cannot load"):
        Runtime.open(broken)
