"""A compact torch transformer that runs a GGUF model file as llama.cpp does (llama, qwen2, qwen3).

The weights stay quantised in the memory-mapped file. A block's weights are dequantised to float32 when data first
passes through it and kept in a small LRU (`cache_blocks`, default 2), so at most a couple of float32 blocks are
alive at once beyond activations; token embeddings are dequantised per looked-up row and the output head in row
chunks. That is what lets an 8B model convert on a 16 GB laptop.

Batches: causal attention means a row's real positions never see positions after them, so right-padded batches
give, at each row's real positions, the values of running that row alone. No mask is needed; read the results at
each row's own last position.

Shapes: B batch, S sequence, D n_embd, H query heads, K key/value heads, E head_dim, F n_ff, V vocabulary.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from converters.gguf_reader import OUTPUT, OUTPUT_NORM, ROPE_FREQS, TOKEN_EMBD, GGUFModelFile, ModelConfig
from paso_local.errors import PasoError

OUTPUT_CHUNK_BYTES = 64 * 2**20  # float32 rows of the output head dequantised at a time
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.(.+)$")


# --- llama.cpp's CPU numerics -------------------------------------------------------------------------------------
# ggml's CPU matmul never multiplies float32 activations by quantised weights directly: it first rounds the
# activations to the weight type's "vec_dot_type" (8-bit blocks for quantised weights, f16 for f16 weights), and
# attention reads K and V from an f16 cache. Emulating those roundings makes the torch model agree with llama.cpp
# several times more closely than exact float32 does (SmolLM2: about 0.004 mean KL instead of 0.006, and the
# near-tied next tokens that exact float32 gets "wrong"). `llama_numerics=False` gives plain float32.


def round_q8_blocks(x: torch.Tensor, block: int = 32) -> torch.Tensor:
    """Q8_0/Q8_1: blocks of 32 along the last dim, scale amax/127 kept as f16, values rounded half-to-even."""
    blocks = x.unflatten(-1, (-1, block))  # [..., N/32, 32]
    amax = blocks.abs().amax(-1, keepdim=True)
    inv = torch.where(amax > 0, 127.0 / torch.where(amax > 0, amax, 1.0), 0.0)
    scale = (amax / 127.0).half().to(x.dtype)
    return (torch.round(blocks * inv) * scale).flatten(-2)


def round_q8_k(x: torch.Tensor) -> torch.Tensor:
    """Q8_K: blocks of 256, scale -max/127 from the signed value of largest magnitude, float32 scale."""
    blocks = x.unflatten(-1, (-1, 256))  # [..., N/256, 256]
    signed_max = blocks.gather(-1, blocks.abs().argmax(-1, keepdim=True))
    inv = torch.where(signed_max != 0, -127.0 / torch.where(signed_max != 0, signed_max, 1.0), 0.0)
    scale = torch.where(inv != 0, 1.0 / torch.where(inv != 0, inv, 1.0), 0.0)
    return (torch.clamp(torch.round(blocks * inv), max=127.0) * scale).flatten(-2)


def round_f16(x: torch.Tensor) -> torch.Tensor:
    return x.half().to(x.dtype)


def round_bf16(x: torch.Tensor) -> torch.Tensor:
    return x.bfloat16().to(x.dtype)


_Q8_0_WEIGHTS = {"Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4", "Q4_1", "Q5_1"}  # Q8_1 rounds as Q8_0 does
_Q8_K_WEIGHTS = {
    "Q2_K",
    "Q3_K",
    "Q4_K",
    "Q5_K",
    "Q6_K",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ2_S",
    "IQ3_XXS",
    "IQ3_S",
    "IQ1_S",
    "IQ1_M",
    "IQ4_XS",
    "TQ1_0",
    "TQ2_0",
}


def activation_rounding(weight_type: str):  # noqa: ANN201 - returns a tensor function or None
    """How ggml's CPU backend rounds a matmul's activations for weights of this type (None: kept float32)."""
    if weight_type in _Q8_0_WEIGHTS:
        return round_q8_blocks
    if weight_type in _Q8_K_WEIGHTS:
        return round_q8_k
    return {"F16": round_f16, "BF16": round_bf16}.get(weight_type)


class WeightCache:
    """Dequantised weights: per block an LRU of at most `max_blocks` blocks; small global tensors kept."""

    def __init__(self, model_file: GGUFModelFile, *, max_blocks: int, dtype: torch.dtype):
        if max_blocks < 1:
            raise ValueError("max_blocks must be at least 1")
        self._file = model_file
        self._dtype = dtype
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, dict[str, torch.Tensor]] = OrderedDict()
        self._globals: dict[str, torch.Tensor] = {}
        self.block_loads = 0  # how many times a block was dequantised (cache misses)

    def get(self, name: str) -> torch.Tensor:
        match = _BLOCK_TENSOR.match(name)
        if match is None:
            if name not in self._globals:
                self._globals[name] = self._file.dequantize(name, self._dtype)
            return self._globals[name]
        return self.block(int(match.group(1)))[name]

    def block(self, layer: int) -> dict[str, torch.Tensor]:
        if layer in self._blocks:
            self._blocks.move_to_end(layer)
            return self._blocks[layer]
        while len(self._blocks) >= self.max_blocks:  # evict first: never more than max_blocks alive
            self._blocks.popitem(last=False)
        prefix = f"blk.{layer}."
        weights = {
            n: self._file.dequantize(n, self._dtype) for n in self._file.tensor_names if n.startswith(prefix)
        }
        self._blocks[layer] = weights
        self.block_loads += 1
        return weights

    def has(self, name: str) -> bool:
        return self._file.has_tensor(name)

    def type_name(self, name: str) -> str:
        return self._file.type_name(name)

    @property
    def resident_blocks(self) -> list[int]:
        return list(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()
        self._globals.clear()


class Linear(nn.Module):
    """y = x W^T (+ b) with W dequantised through the cache when the data arrives (x rounded as ggml does)."""

    def __init__(self, weights: WeightCache, name: str, *, llama_numerics: bool):
        super().__init__()
        self.weights = weights
        self.weight_name = name
        bias = name.removesuffix(".weight") + ".bias"  # wherever the file has one (qwen2: q, k, v)
        self.bias_name = bias if weights.has(bias) else None
        self.round_input = activation_rounding(weights.type_name(name)) if llama_numerics else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.round_input is not None:
            x = self.round_input(x)
        bias = self.weights.get(self.bias_name) if self.bias_name else None
        return F.linear(x, self.weights.get(self.weight_name), bias)

    def extra_repr(self) -> str:
        return self.weight_name


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * w, over the last dimension."""

    def __init__(self, weights: WeightCache, name: str, eps: float):
        super().__init__()
        self.weights = weights
        self.weight_name = name
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (
            x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weights.get(self.weight_name)
        )


class RotaryEmbedding(nn.Module):
    """RoPE over the first rope_dim dims of each head: interleaved pairs (2i, 2i+1) or NeoX pairs (i, i+R/2).

    Angle of pair i at position p: p * rope_scale * base^(-2i/R) / freq_factor[i] (llama.cpp's rope_freqs)."""

    def __init__(self, config: ModelConfig, freq_factors: torch.Tensor | None):
        super().__init__()
        half = config.rope_dim // 2
        exponents = torch.arange(half, dtype=torch.float64) * 2.0 / config.rope_dim
        inv_freq = config.rope_scale * config.rope_base ** (-exponents)  # [R/2]
        if freq_factors is not None:
            inv_freq = inv_freq / freq_factors.to(torch.float64)
        self.inv_freq = inv_freq
        self.rope_dim = config.rope_dim
        self.style = config.rope_style
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def cos_sin(self, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None or self._cache[0].shape[0] < seq_len:
            angles = torch.outer(
                torch.arange(max(seq_len, 64), dtype=torch.float64), self.inv_freq
            )  # [S, R/2]
            self._cache = (angles.cos().float(), angles.sin().float())
        return self._cache[0][:seq_len], self._cache[1][:seq_len]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, S, H, E]
        cos, sin = self.cos_sin(x.shape[1])
        cos, sin = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)  # [1, S, 1, R/2]
        rot, rest = x[..., : self.rope_dim], x[..., self.rope_dim :]
        if self.style == "interleaved":
            pairs = rot.unflatten(-1, (-1, 2))  # [B, S, H, R/2, 2]
            a, b = pairs[..., 0], pairs[..., 1]
            rotated = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
        else:
            a, b = rot.chunk(2, dim=-1)  # [B, S, H, R/2] each
            rotated = torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)
        return torch.cat((rotated, rest), dim=-1) if rest.shape[-1] else rotated


class Attention(nn.Module):
    """Causal grouped-query self-attention. `wo`'s input is the per-head output, [B, S, H*E] (PAS reads it)."""

    def __init__(self, weights: WeightCache, config: ModelConfig, layer: int, *, llama_numerics: bool):
        super().__init__()
        p, exact = f"blk.{layer}.", llama_numerics
        self.wq = Linear(weights, p + "attn_q.weight", llama_numerics=exact)
        self.wk = Linear(weights, p + "attn_k.weight", llama_numerics=exact)
        self.wv = Linear(weights, p + "attn_v.weight", llama_numerics=exact)
        self.wo = Linear(weights, p + "attn_output.weight", llama_numerics=exact)
        self.q_norm = (
            RMSNorm(weights, p + "attn_q_norm.weight", config.rms_eps) if config.has_qk_norm else None
        )
        self.k_norm = (
            RMSNorm(weights, p + "attn_k_norm.weight", config.rms_eps) if config.has_qk_norm else None
        )
        self.n_head, self.n_head_kv, self.head_dim = config.n_head, config.n_head_kv, config.head_dim
        self.f16_cache = llama_numerics  # llama.cpp keeps K and V in f16 and multiplies in f16

    def forward(self, x: torch.Tensor, rope: RotaryEmbedding) -> torch.Tensor:  # x [B, S, D]
        B, S, _ = x.shape
        q = self.wq(x).view(B, S, self.n_head, self.head_dim)  # [B, S, H, E]
        k = self.wk(x).view(B, S, self.n_head_kv, self.head_dim)  # [B, S, K, E]
        v = self.wv(x).view(B, S, self.n_head_kv, self.head_dim)  # [B, S, K, E]
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rope(q), rope(k)
        n_rep = self.n_head // self.n_head_kv  # query head h reads key/value head h // n_rep, as ggml does
        q = q.transpose(1, 2)  # [B, H, S, E]
        k = k.transpose(1, 2).repeat_interleave(n_rep, dim=1)  # [B, H, S, E]
        v = v.transpose(1, 2).repeat_interleave(n_rep, dim=1)  # [B, H, S, E]
        scale = 1.0 / math.sqrt(self.head_dim)
        if self.f16_cache:
            heads = _attention_f16(q, k, v, scale)
        else:
            heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)  # [B, H, S, E]
        heads = heads.transpose(1, 2).reshape(B, S, self.n_head * self.head_dim)  # [B, S, H*E]
        return self.wo(heads)  # [B, S, D]


def _attention_f16(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Causal attention as ggml's CPU path computes it from an f16 KV cache: Q, K, V and the attention
    probabilities rounded to f16 before each product, sums in float32. [B, H, S, E] -> [B, H, S, E]."""
    scores = round_f16(q) @ round_f16(k).transpose(-1, -2) * scale  # [B, H, S, S]
    S = q.shape[-2]
    future = torch.ones(S, S, dtype=torch.bool, device=q.device).triu(1)
    probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return round_f16(probs) @ round_f16(v)


class FeedForward(nn.Module):
    """SwiGLU: W_down (silu(W_gate x) * W_up x)."""

    def __init__(self, weights: WeightCache, layer: int, *, llama_numerics: bool):
        super().__init__()
        p = f"blk.{layer}."
        self.w_gate = Linear(weights, p + "ffn_gate.weight", llama_numerics=llama_numerics)
        self.w_up = Linear(weights, p + "ffn_up.weight", llama_numerics=llama_numerics)
        self.w_down = Linear(weights, p + "ffn_down.weight", llama_numerics=llama_numerics)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, S, D]
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))  # [B, S, F] -> [B, S, D]


class Block(nn.Module):
    """Pre-norm residual block. Its output (after the FFN residual) is llama.cpp's `l_out-L`, where `direction.L`
    of a control vector is added."""

    def __init__(self, weights: WeightCache, config: ModelConfig, layer: int, *, llama_numerics: bool):
        super().__init__()
        self.layer = layer
        self.attn_norm = RMSNorm(weights, f"blk.{layer}.attn_norm.weight", config.rms_eps)
        self.attention = Attention(weights, config, layer, llama_numerics=llama_numerics)
        self.ffn_norm = RMSNorm(weights, f"blk.{layer}.ffn_norm.weight", config.rms_eps)
        self.feed_forward = FeedForward(weights, layer, llama_numerics=llama_numerics)

    def forward(self, x: torch.Tensor, rope: RotaryEmbedding) -> torch.Tensor:  # [B, S, D] -> [B, S, D]
        h = x + self.attention(self.attn_norm(x), rope)
        return h + self.feed_forward(self.ffn_norm(h))


class OutputHead(nn.Module):
    """logits = x W^T with W [V, D] (output.weight, or token_embd when tied), dequantised in row chunks."""

    def __init__(self, model_file: GGUFModelFile, name: str, dtype: torch.dtype, *, llama_numerics: bool):
        super().__init__()
        self._file = model_file
        self.weight_name = name
        self._dtype = dtype
        n_vocab, n_embd = model_file.shape(name)
        self.n_vocab = n_vocab
        self.chunk_rows = max(1, OUTPUT_CHUNK_BYTES // (4 * n_embd))
        self.round_input = activation_rounding(model_file.type_name(name)) if llama_numerics else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [..., D] -> [..., V]
        if self.round_input is not None:
            x = self.round_input(x)
        out = x.new_empty((*x.shape[:-1], self.n_vocab))
        for start in range(0, self.n_vocab, self.chunk_rows):
            stop = min(start + self.chunk_rows, self.n_vocab)
            rows = self._file.dequantize_rows(self.weight_name, slice(start, stop), self._dtype)  # [rows, D]
            out[..., start:stop] = x @ rows.T
        return out

    def extra_repr(self) -> str:
        return f"{self.weight_name}, {self.chunk_rows} rows per chunk"


class GGUFTransformer(nn.Module):
    """The whole model. Inference only: every entry point runs without autograd."""

    def __init__(
        self, model_file: GGUFModelFile, *, dtype: torch.dtype, cache_blocks: int, llama_numerics: bool
    ):
        super().__init__()
        config = model_file.config
        self.config = config
        self.dtype = dtype
        self.llama_numerics = llama_numerics
        self.model_file = model_file
        self.weights = WeightCache(model_file, max_blocks=cache_blocks, dtype=dtype)
        freq_factors = model_file.dequantize(ROPE_FREQS) if config.has_rope_freqs else None
        self.rope = RotaryEmbedding(config, freq_factors)
        self.blocks = nn.ModuleList(
            Block(self.weights, config, layer, llama_numerics=llama_numerics)
            for layer in range(config.n_layer)
        )
        self.output_norm = RMSNorm(self.weights, OUTPUT_NORM, config.rms_eps)
        head = TOKEN_EMBD if config.tied_output else OUTPUT
        self.output = OutputHead(model_file, head, dtype, llama_numerics=llama_numerics)
        self.eval()

    @torch.no_grad()
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:  # [B, S] -> [B, S, D]
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be [batch, seq], got shape {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.config.vocab_size - 1}")
        unique, inverse = torch.unique(tokens, return_inverse=True)
        rows = self.model_file.dequantize_rows(TOKEN_EMBD, unique.numpy(), self.dtype)  # [U, D]
        return rows[inverse]

    @torch.no_grad()
    def run_blocks(self, h: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Blocks start..stop-1 on h [B, S, D] at positions 0..S-1."""
        stop = self.config.n_layer if stop is None else stop
        if not 0 <= start <= stop <= self.config.n_layer:
            raise ValueError(f"block range {start}..{stop} is outside 0..{self.config.n_layer}")
        for block in self.blocks[start:stop]:
            h = block(h, self.rope)
        return h

    @torch.no_grad()
    def final_logits(self, h: torch.Tensor) -> torch.Tensor:  # [B, S, D] -> [B, S, V]
        return self.output(self.output_norm(h))

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [B, S] -> [B, S, V]
        return self.final_logits(self.run_blocks(self.embed(tokens)))

    def attn_output_weight(self, layer: int) -> torch.Tensor:
        """W_o of a block as float32 [D, H*E] (a Linear weight): maps the concatenated heads to the residual."""
        if not 0 <= layer < self.config.n_layer:
            raise ValueError(f"layer {layer} is outside 0..{self.config.n_layer - 1}")
        return self.model_file.dequantize(f"blk.{layer}.attn_output.weight")

    def close(self) -> None:
        self.weights.clear()
        self.model_file.close()


def load_model(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    cache_blocks: int = 2,
    llama_numerics: bool = True,
) -> GGUFTransformer:
    """Open a GGUF model for torch, checking every tensor's shape against the config first.

    cache_blocks: dequantised blocks kept between passes (memory: one block of an 8B model is ~0.9 GB float32).
    llama_numerics: round activations as llama.cpp's CPU backend does (see above); False for plain float32."""
    if dtype not in (torch.float32, torch.bfloat16, torch.float64):
        raise ValueError(f"dtype {dtype} is not supported; use float32 (exact), float64 or bfloat16")
    model_file = GGUFModelFile(path)
    try:
        check_tensor_shapes(model_file)
        return GGUFTransformer(
            model_file, dtype=dtype, cache_blocks=cache_blocks, llama_numerics=llama_numerics
        )
    except BaseException:
        model_file.close()
        raise


def expected_block_shapes(
    config: ModelConfig,
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(required, optional) tensor shapes of one block, by name suffix, in torch order."""
    D, F_, E = config.n_embd, config.n_ff, config.head_dim
    q, kv = config.n_head * E, config.n_head_kv * E
    required = {
        "attn_norm.weight": (D,),
        "attn_q.weight": (q, D),
        "attn_k.weight": (kv, D),
        "attn_v.weight": (kv, D),
        "attn_output.weight": (D, q),
        "ffn_norm.weight": (D,),
        "ffn_gate.weight": (F_, D),
        "ffn_up.weight": (F_, D),
        "ffn_down.weight": (D, F_),
    }
    optional = {"attn_q.bias": (q,), "attn_k.bias": (kv,), "attn_v.bias": (kv,), "attn_output.bias": (D,)}
    if config.has_qk_norm:
        required.update({"attn_q_norm.weight": (E,), "attn_k_norm.weight": (E,)})
    if config.has_qkv_bias:
        required.update({k: optional[k] for k in ("attn_q.bias", "attn_k.bias", "attn_v.bias")})
    return required, optional


def check_tensor_shapes(model_file: GGUFModelFile) -> None:
    """Every tensor the graph needs is present with the right shape, and none it would silently ignore."""
    config, path = model_file.config, model_file.path
    required, optional = expected_block_shapes(config)
    expected: dict[str, tuple[int, ...]] = {OUTPUT_NORM: (config.n_embd,)}
    if not config.tied_output:
        expected[OUTPUT] = (config.vocab_size, config.n_embd)
    if config.has_rope_freqs:
        expected[ROPE_FREQS] = (config.rope_dim // 2,)
    for layer in range(config.n_layer):
        expected.update({f"blk.{layer}.{suffix}": shape for suffix, shape in required.items()})
    for name, shape in expected.items():
        if not model_file.has_tensor(name):
            raise PasoError(
                f"{path}: tensor {name} is missing; the file is not a complete {config.arch} model"
            )
        if model_file.shape(name) != shape:
            raise PasoError(
                f"{path}: tensor {name} has shape {model_file.shape(name)}, expected {shape} "
                f"from the metadata"
            )
    known = set(expected) | {TOKEN_EMBD}
    for name in model_file.tensor_names:
        if name in known:
            continue
        match = _BLOCK_TENSOR.match(name)
        suffix = match.group(2) if match else None
        if match and int(match.group(1)) < config.n_layer and suffix in optional:
            if model_file.shape(name) != optional[suffix]:
                raise PasoError(
                    f"{path}: tensor {name} has shape {model_file.shape(name)}, expected {optional[suffix]}"
                )
            continue
        raise PasoError(
            f"{path}: tensor {name} is not part of the {config.arch} graph the converter computes; "
            "this model variant is not supported"
        )


def tokens_tensor(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [B, S] token tensor and each row's last real position [B]."""
    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("every row needs at least one token")
    width = max(len(r) for r in rows)
    padded = np.full((len(rows), width), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = row
    return torch.from_numpy(padded), torch.tensor([len(r) - 1 for r in rows], dtype=torch.long)
