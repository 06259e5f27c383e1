"""Recorder and interventions: checked against computations by hand and against llama.cpp's control vector."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.converters.check_model import LlamaLogits, compare
from paso_local.converters.hooks import block_output_steering, head_steering, record_head_inputs
from paso_local.converters.model import load_model, pad_right

TOKENS = [261, 72, 101, 108, 108, 111, 32, 116, 104, 101, 114, 101, 44, 32, 259, 32, 99, 97, 116, 46]


@pytest.fixture(scope="module")
def qwen2_path(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("hooks") / "qwen2.gguf", TinySpec(arch="qwen2", seed=7))


@pytest.fixture(scope="module")
def llama_path(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("hooks") / "llama.gguf", TinySpec(arch="llama", seed=8))


def heads_by_hand(model, h: torch.Tensor, layer: int) -> torch.Tensor:
    """Attention heads of one qwen2 block written out from the weights: [S, H, E] for one row h [S, D]."""
    cfg, f = model.config, model.model_file
    p = f"blk.{layer}."
    x = h / torch.sqrt((h * h).mean(-1, keepdim=True) + cfg.rms_eps) * f.dequantize(p + "attn_norm.weight")
    q = (x @ f.dequantize(p + "attn_q.weight").T + f.dequantize(p + "attn_q.bias")).view(
        -1, cfg.n_head, cfg.head_dim
    )
    k = (x @ f.dequantize(p + "attn_k.weight").T + f.dequantize(p + "attn_k.bias")).view(
        -1, cfg.n_head_kv, cfg.head_dim
    )
    v = (x @ f.dequantize(p + "attn_v.weight").T + f.dequantize(p + "attn_v.bias")).view(
        -1, cfg.n_head_kv, cfg.head_dim
    )
    half = cfg.head_dim // 2
    out = torch.zeros(h.shape[0], cfg.n_head, cfg.head_dim)
    for pos in range(h.shape[0]):
        for i in range(half):  # NeoX RoPE: pairs (i, i + half)
            angle = pos * cfg.rope_base ** (-2 * i / cfg.head_dim)
            c, s = math.cos(angle), math.sin(angle)
            q[pos, :, i], q[pos, :, i + half] = (
                q[pos, :, i] * c - q[pos, :, i + half] * s,
                q[pos, :, i] * s + q[pos, :, i + half] * c,
            )
            k[pos, :, i], k[pos, :, i + half] = (
                k[pos, :, i] * c - k[pos, :, i + half] * s,
                k[pos, :, i] * s + k[pos, :, i + half] * c,
            )
    for head in range(cfg.n_head):
        kv = head // (cfg.n_head // cfg.n_head_kv)
        scores = q[:, head] @ k[:, kv].T / math.sqrt(cfg.head_dim)  # [S, S]
        scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
        out[:, head] = torch.softmax(scores, -1) @ v[:, kv]
    return out


def test_recorder_matches_a_computation_by_hand(qwen2_path):
    model = load_model(qwen2_path)
    tokens = torch.tensor([TOKENS])
    with record_head_inputs(model) as recorded:
        model(tokens)
    assert sorted(recorded) == list(range(model.config.n_layer))
    assert tuple(recorded[0].shape) == (1, model.config.n_head, model.config.head_dim)
    h0 = model.embed(tokens)[0]
    assert torch.allclose(recorded[0][0], heads_by_hand(model, h0, 0)[-1], atol=1e-4)
    h1 = model.run_blocks(model.embed(tokens), 0, 1)[0]
    assert torch.allclose(recorded[1][0], heads_by_hand(model, h1, 1)[-1], atol=1e-4)


def test_recorder_positions_pick_each_rows_last_token_in_a_padded_batch(qwen2_path):
    model = load_model(qwen2_path)
    rows = [TOKENS[:5], TOKENS, TOKENS[4:13]]
    tokens, lengths = pad_right(rows, pad=0)
    last = lengths - 1
    with record_head_inputs(model, layers=[1, 2], positions=last) as batched:
        model.run_blocks(model.embed(tokens))
    assert sorted(batched) == [1, 2]
    for i, row in enumerate(rows):
        with record_head_inputs(model, layers=[2]) as alone:
            model.run_blocks(model.embed(torch.tensor([row])))
        assert torch.allclose(batched[2][i], alone[2][0], atol=1e-4)


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_even_after_an_exception(qwen2_path):
    model = load_model(qwen2_path)
    vectors = {1: torch.ones(model.config.n_embd)}
    displacement = {2: torch.ones(model.config.n_head, model.config.head_dim)}
    for manager in (
        record_head_inputs(model),
        block_output_steering(model, vectors),
        head_steering(model, displacement),
    ):
        with pytest.raises(RuntimeError, match="boom"):
            with manager:
                assert hook_count(model) > 0
                raise RuntimeError("boom")
        assert hook_count(model) == 0
    with pytest.raises(ValueError, match="layer 0"):
        with block_output_steering(model, {0: torch.ones(model.config.n_embd)}):
            pass
    assert hook_count(model) == 0


def test_block_output_steering_equals_llama_cpp_control_vector(llama_path):
    model = load_model(llama_path)
    cfg = model.config
    rng = np.random.default_rng(3)
    buffer = (rng.standard_normal((cfg.n_layer - 1, cfg.n_embd)) * 2.0).astype(np.float32)  # row 0 = block 1
    tokens = torch.tensor([TOKENS])
    plain = model(tokens)[0].double().numpy()
    with block_output_steering(model, {layer + 1: torch.from_numpy(row) for layer, row in enumerate(buffer)}):
        steered = model(tokens)[0].double().numpy()
    with LlamaLogits(llama_path, n_ctx=64, logits_all=True) as llama:
        llama.set_control_vector(buffer)
        expected = llama.all_logits(TOKENS)
        llama.set_control_vector(None)
        unsteered = llama.all_logits(TOKENS)
    assert compare(unsteered, expected).kl_mean > 0.05  # the vector matters...
    agreement = compare(expected, steered)  # ...and torch applies it where llama.cpp does
    assert agreement.kl_max < 1e-3 and agreement.max_abs_logit_diff < 0.1
    assert compare(unsteered, plain).kl_max < 1e-3


def test_block_output_steering_adds_to_the_block_output_at_every_position(qwen2_path):
    model = load_model(qwen2_path)
    vector = torch.linspace(-1, 1, model.config.n_embd)
    h = model.embed(torch.tensor([TOKENS]))
    by_hand = model.run_blocks(model.run_blocks(h, 0, 2) + vector, 2)
    with block_output_steering(model, {1: vector}):
        hooked = model.run_blocks(h)
    assert torch.allclose(hooked, by_hand, atol=1e-5)


def test_head_steering_adds_w_o_times_the_displacement_to_the_attention_output(qwen2_path):
    model = load_model(qwen2_path)
    cfg = model.config
    displacement = torch.zeros(cfg.n_head, cfg.head_dim)
    displacement[1] = torch.linspace(-2, 2, cfg.head_dim)  # one head only
    outputs: list[torch.Tensor] = []
    handle = model.blocks[2].attention.register_forward_hook(lambda m, a, out: outputs.append(out))
    h = model.embed(torch.tensor([TOKENS]))
    model.run_blocks(h)
    with head_steering(model, {2: displacement}):
        model.run_blocks(h)
    handle.remove()
    expected = model.attn_output_weight(2) @ displacement.reshape(-1)  # [D]
    assert torch.allclose(outputs[1] - outputs[0], expected.expand_as(outputs[0]), atol=1e-4)
