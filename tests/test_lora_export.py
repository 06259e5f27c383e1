"""LoRA adapters: the llama.cpp LoRA GGUF loads in llama.cpp, a zero adapter changes nothing (exactly), a
non-zero one changes the output, and torch-with-LoRA agrees with llama.cpp-with-LoRA on SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paso_local.converters.lora import (
    LoraAdapter,
    LoraConfig,
    answer_logprobs,
    open_training_model,
    prepare_inputs,
    readout_tokens,
)
from paso_local.converters.lora_export import read_lora_gguf, write_lora_gguf
from paso_local.errors import PasoError
from paso_local.llm.lora_adapter import apply_lora
from paso_local.llm.readout import OptionTokens
from paso_local.person.inventory import form_items


@pytest.fixture(scope="module")
def setup(smollm2_path):
    from paso_local.llm.runtime import Runtime

    runtime = Runtime.open(smollm2_path, n_ctx=512, n_threads=2)
    options = OptionTokens.from_chat_format(runtime.chat_format)
    model = open_training_model(smollm2_path)
    items = form_items("120")[:2]
    inputs = prepare_inputs(model, runtime.chat_format, items, options)
    prompts = [readout_tokens(runtime.chat_format, item, options) for item in items]
    yield runtime, model, inputs, prompts
    runtime.close()


def llama_logprobs(runtime, tokens: list[int]) -> np.ndarray:
    runtime.reset()
    runtime.eval_tokens(tokens, after=0)
    logits = runtime.last_logits().astype(np.float64)
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def random_adapter(model, std: float) -> LoraAdapter:
    adapter = LoraAdapter.create(model, LoraConfig(rank=4, alpha=8.0), seed=1)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name in adapter.names:
            b = adapter.pair(name).lora_b
            b.copy_(torch.randn(b.shape, generator=generator) * std)
    return adapter


def kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    return float((np.exp(p_log) * (p_log - q_log)).sum())


def test_two_position_forward_matches_the_whole_model(setup):
    """The last block at the readout positions only, on frozen keys/values, equals running the whole model."""
    _, model, inputs, prompts = setup
    adapter = random_adapter(model, 0.3)
    with torch.no_grad(), adapter.attached(model):
        first, after = answer_logprobs(model, inputs, [0, 1])
        for row, tokens in enumerate(prompts):
            full = torch.log_softmax(model(torch.tensor([tokens])).double()[0], dim=-1)
            assert float((full[-2] - first[row]).abs().max()) < 1e-3
            assert float((full[-1] - after[row]).abs().max()) < 1e-3


def test_only_the_supported_placement_is_accepted(setup):
    _, model, _, _ = setup
    with pytest.raises(ValueError, match="last block"):
        LoraAdapter.create(model, LoraConfig(first_layer=3))
    with pytest.raises(ValueError, match="attn_k"):
        LoraAdapter.create(model, LoraConfig(targets=("attn_q", "attn_k")))


def test_file_layout_round_trips(tmp_path, setup):
    _, model, _, _ = setup
    adapter = random_adapter(model, 0.1)
    path = write_lora_gguf(
        adapter.tensors(), tmp_path / "a.gguf", architecture="llama", alpha=8.0, metadata={"method": "dpo"}
    )
    import gguf

    reader = gguf.GGUFReader(path)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["adapter.type"].contents() == "lora"
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}  # ggml order (ne)
    assert shapes["blk.29.attn_q.weight.lora_a"] == (576, 4)  # ne = [in, rank]
    assert shapes["blk.29.attn_q.weight.lora_b"] == (4, 576)  # ne = [rank, out]
    assert shapes["blk.29.ffn_down.weight.lora_a"] == (1536, 4)
    assert shapes["blk.29.ffn_up.weight.lora_b"] == (4, 1536)
    assert len(shapes) == 5 * 2  # the last block's q, o, gate, up, down
    tensors, alpha, metadata = read_lora_gguf(path)
    assert alpha == 8.0 and metadata["method"] == "dpo"
    for name, (a, b) in adapter.tensors().items():
        np.testing.assert_array_equal(tensors[name][0], a)
        np.testing.assert_array_equal(tensors[name][1], b)


def test_zero_adapter_leaves_llama_cpp_unchanged(tmp_path, setup):
    runtime, model, _, prompts = setup
    zero = LoraAdapter.create(model, LoraConfig(rank=4, alpha=8.0), seed=0)
    assert all(not b.any() for _, b in zero.tensors().values())
    path = write_lora_gguf(zero.tensors(), tmp_path / "zero.gguf", architecture="llama", alpha=8.0)
    before = [llama_logprobs(runtime, p) for p in prompts]
    with apply_lora(runtime, path) as handle:
        assert handle.applied
        during = [llama_logprobs(runtime, p) for p in prompts]
    for b, d in zip(before, during, strict=True):
        np.testing.assert_array_equal(b, d)


def test_adapter_changes_llama_cpp_like_torch(tmp_path, setup):
    runtime, model, inputs, prompts = setup
    adapter = random_adapter(model, 0.3)
    path = write_lora_gguf(adapter.tensors(), tmp_path / "lora.gguf", architecture="llama", alpha=8.0)
    with torch.no_grad():
        _, torch_base = answer_logprobs(model, inputs, [0, 1])
        with adapter.attached(model):
            _, torch_lora = answer_logprobs(model, inputs, [0, 1])
    base = [llama_logprobs(runtime, p) for p in prompts]
    with apply_lora(runtime, path):
        lora = [llama_logprobs(runtime, p) for p in prompts]
    after = [llama_logprobs(runtime, p) for p in prompts]
    for i in range(2):
        effect = kl(lora[i], base[i])  # what the adapter does in llama.cpp
        assert effect > 0.01
        # torch with the same adapter lands on llama.cpp's adapted distribution, far closer than the adapter
        # moves it (the remaining gap is the converter's own float32-vs-ggml difference, as without LoRA)
        gap = kl(lora[i], torch_lora[i].numpy())
        assert gap < 0.25 * effect
        assert gap < 3 * kl(base[i], torch_base[i].numpy()) + 2e-3
        top = np.argsort(-base[i])[:50]
        llama_shift = (lora[i] - base[i])[top]
        torch_shift = (torch_lora[i] - torch_base[i]).numpy()[top]
        assert np.corrcoef(llama_shift, torch_shift)[0, 1] > 0.8
        np.testing.assert_array_equal(after[i], base[i])  # cleared: back to the base model exactly


def test_wrong_architecture_is_refused(tmp_path, setup):
    runtime, model, _, _ = setup
    adapter = random_adapter(model, 0.1)
    path = write_lora_gguf(adapter.tensors(), tmp_path / "qwen.gguf", architecture="qwen2", alpha=8.0)
    with pytest.raises(PasoError, match="refused the LoRA adapter"):
        apply_lora(runtime, path)


def test_ask_applies_an_adapter_and_refuses_a_missing_one(tmp_path, setup):
    """The path a person who chose DPO/PPO takes: `paso-local ask --adapter FILE` (chat has the same option)."""
    import json
    import subprocess
    import sys

    _, model, _, _ = setup
    path = write_lora_gguf(
        random_adapter(model, 2.0).tensors(), tmp_path / "lora.gguf", architecture="llama", alpha=8.0
    )
    common = ["-m", "paso_local", "ask", "Name a colour.", "--no-steer", "--json", "--max-tokens", "12"]
    common += ["--threads", "1", "--n-ctx", "512"]
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, *common, *extra], capture_output=True, text=True, timeout=300
    )
    plain, adapted = run(), run("--adapter", str(path))
    assert plain.returncode == 0 and adapted.returncode == 0, adapted.stderr
    plain_out, adapted_out = json.loads(plain.stdout), json.loads(adapted.stdout)
    assert adapted_out["adapter"] == str(path)
    assert adapted_out["text"] != plain_out["text"]  # fixed sampling seed: only the adapter changes it
    missing = run("--adapter", str(tmp_path / "nope.gguf"))
    assert missing.returncode == 1
    assert "nope.gguf does not exist" in missing.stderr and "Traceback" not in missing.stderr
