"""align's memory projection (hand-computed for a small shape) and its refusal, naming the numbers."""

from __future__ import annotations

import dataclasses

import pytest

import paso_local.converters.align_memory as align_memory
from paso_local.converters.align_memory import (
    BASE_BYTES,
    VOCAB_ENTRY_BYTES,
    check_align_memory,
    gib,
    projected_align_memory,
)
from paso_local.converters.gguf_reader import ModelConfig
from paso_local.errors import PasoError

SMALL = ModelConfig(
    arch="llama",
    name="small",
    n_layer=4,
    n_embd=64,
    n_head=4,
    n_head_kv=2,
    head_dim=16,
    n_ff=128,
    vocab_size=1000,
    rms_eps=1e-5,
    rope_base=1e4,
    rope_dim=16,
    rope_style="neox",
    rope_scale=1.0,
    context_length=256,
    tied_output=True,
    has_qkv_bias=False,
    has_qk_norm=False,
    has_rope_freqs=False,
)


def test_the_projection_adds_up_what_align_holds():
    parts = projected_align_memory(SMALL, 10_000, items=120).parts
    block = (64 * (2 * 64 + 2 * 32) + 3 * 64 * 128) * 4  # q, k, v, o and the three feed-forward matrices
    assert parts == {
        "llama.cpp weights": 10_000,
        "llama.cpp KV cache": 4096 * 4 * 2 * 32 * 2,
        "torch weight cache": 4 * block,  # every block fits the 1 GiB cache
        "torch block in flight": block,
        "torch output head": 1000 * 64 * 4,
        "activations": 120 * (2 * 4 * 64 + 96 * 64) * 4,
        "vocabulary": 1000 * VOCAB_ENTRY_BYTES,
        "runtime": BASE_BYTES,
    }


def test_a_big_output_head_is_counted_as_its_chunk_and_the_cache_at_two_blocks():
    big = dataclasses.replace(
        SMALL, n_layer=80, n_embd=8192, n_head=64, n_head_kv=8, head_dim=128, n_ff=28672, vocab_size=128256
    )
    parts = projected_align_memory(big, 0).parts
    block = (8192 * (2 * 8192 + 2 * 1024) + 3 * 8192 * 28672) * 4
    assert parts["torch weight cache"] == 2 * block
    assert parts["torch output head"] == 64 * 2**20


def test_align_refuses_a_model_bigger_than_the_memory_available(tmp_path, monkeypatch):
    model = tmp_path / "big.gguf"
    model.write_bytes(b"\0" * 1000)
    available = projected_align_memory(SMALL, 1000).total + 1
    monkeypatch.setattr(align_memory, "available_memory_bytes", lambda: available)
    wide = dataclasses.replace(SMALL, n_ff=1_000_000)
    need = gib(projected_align_memory(wide, 1000).total)
    with pytest.raises(
        PasoError,
        match=rf"align on big.gguf needs about {need} .*runtime {gib(BASE_BYTES)}.*{gib(available)} is",
    ):
        check_align_memory(model, wide)
    assert check_align_memory(model, SMALL).total < available  # a model that fits passes
    monkeypatch.setenv("PASO_LOCAL_MEMORY_CHECK", "0")
    check_align_memory(model, wide)  # told to go on anyway
