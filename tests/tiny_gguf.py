"""Tiny random-weight GGUF models that llama.cpp loads and runs, written with gguf.GGUFWriter.

A byte-level GPT-2 style vocabulary (256 byte tokens, a few merges, ChatML control tokens) gives llama.cpp a
working tokenizer and chat template, so the same file serves the torch model, llama.cpp and ChatFormat.
Weights are seeded; `weight_type` picks F16 (the default) or Q8_0 for the matrices; norms and biases are F32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "a n"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class TinySpec:
    arch: str = "llama"  # llama | qwen2 | qwen3 (anything else: written as given, for "unsupported" tests)
    n_layer: int = 3
    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int = 16
    n_ff: int = 128
    rope_base: float = 10000.0
    rope_freqs: bool = False  # Llama-3.1 style per-frequency factors
    weight_type: str = (
        "F16"  # F16 | Q8_0 | F32 for the matrices (llama.cpp 0.3.36 on CPU crashes on F32 ones)
    )
    seed: int = 0
    chat_template: str | None = CHATML


def byte_tokens() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (the vocabulary a byte-level BPE starts from)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def vocabulary() -> tuple[list[str], list[int]]:
    tokens = byte_tokens() + [m.replace(" ", "") for m in MERGES] + SPECIALS
    types = [int(gguf.TokenType.NORMAL)] * (len(tokens) - len(SPECIALS)) + [
        int(gguf.TokenType.CONTROL)
    ] * len(SPECIALS)
    return tokens, types


def write_tiny_model(path: Path, spec: TinySpec = TinySpec()) -> Path:
    rng = np.random.default_rng(spec.seed)
    tokens, types = vocabulary()
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), spec.arch)
    writer.add_name(f"tiny-{spec.arch}")
    writer.add_context_length(256)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(spec.rope_base)
    writer.add_rope_dimension_count(spec.head_dim)
    if spec.head_dim * spec.n_head != spec.n_embd:
        writer.add_key_length(spec.head_dim)
        writer.add_value_length(spec.head_dim)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    if spec.chat_template:
        writer.add_chat_template(spec.chat_template)

    def matrix(name: str, rows: int, cols: int, gain: float = 1.0) -> None:
        _add(writer, name, rng.standard_normal((rows, cols)).astype(np.float32) * gain / np.sqrt(cols), spec)

    def norm(name: str, size: int) -> None:
        writer.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32))

    D, E = spec.n_embd, spec.head_dim
    q, kv = spec.n_head * E, spec.n_head_kv * E
    _add(writer, "token_embd.weight", rng.standard_normal((vocab, D)).astype(np.float32), spec)
    for layer in range(spec.n_layer):
        p = f"blk.{layer}."
        norm(p + "attn_norm.weight", D)
        matrix(p + "attn_q.weight", q, D, 2.0)
        matrix(p + "attn_k.weight", kv, D, 2.0)
        matrix(p + "attn_v.weight", kv, D)
        matrix(p + "attn_output.weight", D, q)
        if spec.arch == "qwen2":
            for name, size in (("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv)):
                writer.add_tensor(p + name, (0.5 * rng.standard_normal(size)).astype(np.float32))
        if spec.arch == "qwen3":
            norm(p + "attn_q_norm.weight", E)
            norm(p + "attn_k_norm.weight", E)
        norm(p + "ffn_norm.weight", D)
        matrix(p + "ffn_gate.weight", spec.n_ff, D)
        matrix(p + "ffn_up.weight", spec.n_ff, D)
        matrix(p + "ffn_down.weight", D, spec.n_ff)
    norm("output_norm.weight", D)
    if spec.arch == "qwen2":  # untied head
        matrix("output.weight", vocab, D, 4.0)
    if spec.rope_freqs:
        writer.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, E // 2).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _add(writer: gguf.GGUFWriter, name: str, values: np.ndarray, spec: TinySpec) -> None:
    kind = gguf.GGMLQuantizationType[spec.weight_type]
    if kind == gguf.GGMLQuantizationType.F32:
        writer.add_tensor(name, values)
    elif kind == gguf.GGMLQuantizationType.F16:
        writer.add_tensor(name, values.astype(np.float16))
    else:
        writer.add_tensor(name, gguf.quants.quantize(values, kind), raw_dtype=kind)
