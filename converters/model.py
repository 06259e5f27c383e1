"""A compact torch transformer that runs a GGUF model file as llama.cpp does (llama, qwen2, qwen3).

Memory: the weights stay quantised in the memory-mapped file. A block's weights are dequantised to float32
when data first passes through it and kept in a small LRU (`cache_blocks`, default 2), so at most a couple of
float32 blocks are alive beyond activations; token embeddings are dequantised per looked-up row and the output
head in row chunks (or once, when it takes at most OUTPUT_KEEP_BYTES in the compute dtype). That is what
lets an 8B model convert on a 16 GB laptop.

Batches: causal attention means a row's real positions never see the positions after them, so a right-padded
batch gives, at each row's real positions, the values of running that row alone. No mask is needed; read each
row at its own last real position.

Numerics: plain float32 on the exactly dequantised weights. llama.cpp's CPU backend rounds activations to 8
bits before every quantised matmul and keeps K/V in f16, so the two never agree bit for bit. Emulating those
roundings reproduces single llama.cpp ops to 1e-7, yet not the whole model: the roundings are discontinuous,
so the tiny remaining differences (ggml's own exp, summation order) flip roundings downstream and the
next-token KL ends up no lower than plain float32's (measured on SmolLM2 and Qwen2.5-0.5B). Simple float32 it
is.

Shapes: B batch, S sequence, D n_embd, H query heads, K key/value heads, E head_dim, F n_ff, V vocabulary.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from paso_local.converters.gguf_reader import (
    OUTPUT,
    OUTPUT_NORM,
    ROPE_FREQS,
    TOKEN_EMBD,
    GGUFModelFile,
    ModelConfig,
    open_model_file,
)
from paso_local.errors import PasoError

OUTPUT_CHUNK_BYTES = 64 * 2**20  # float32 rows of the output head dequantised at a time
OUTPUT_KEEP_BYTES = 320 * 2**20  # an output head up to this size (in the compute dtype) is dequantised once
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.(.+)$")


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

    def forget(self, layer: int) -> None:
        """Drop a block's dequantised weights (a pass that reads each block once has no use for them after)."""
        self._blocks.pop(layer, None)

    def has(self, name: str) -> bool:
        return self._file.has_tensor(name)

    @property
    def resident_blocks(self) -> list[int]:
        return list(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()
        self._globals.clear()


class Linear(nn.Module):
    """y = x W^T (+ b), W dequantised through the cache when the data arrives."""

    def __init__(self, weights: WeightCache, name: str):
        super().__init__()
        self.weights = weights
        self.weight_name = name
        bias = name.removesuffix(".weight") + ".bias"  # wherever the file has one (qwen2: q, k, v)
        self.bias_name = bias if weights.has(bias) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.weights.get(self.bias_name) if self.bias_name else None
        return F.linear(x, self.weights.get(self.weight_name), bias)

    def extra_repr(self) -> str:
        return self.weight_name


KeysValues = tuple[torch.Tensor, torch.Tensor]  # [B, K, S, E] each, after RoPE


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
        self._rotation_cache: torch.Tensor | None = None

    def cos_sin(self, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None or self._cache[0].shape[0] < seq_len:
            angles = torch.outer(
                torch.arange(max(seq_len, 64), dtype=torch.float64), self.inv_freq
            )  # [S, R/2]
            self._cache = (angles.cos().float(), angles.sin().float())
        return self._cache[0][:seq_len], self._cache[1][:seq_len]

    def _rotation(self, stop: int) -> torch.Tensor:
        """e^(i * angle) as complex64 [1, S, 1, R/2] for positions 0..S-1 with S >= stop (the longest asked
        is kept: every block asks the same)."""
        if self._rotation_cache is None or self._rotation_cache.shape[1] < stop:
            cos, sin = self.cos_sin(stop)
            self._rotation_cache = torch.complex(cos, sin)[None, :, None, :]
        return self._rotation_cache

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:  # x [B, S, H, E]
        """x's positions are offset..offset+S-1."""
        # Each pair (a, b) rotates as the complex number a + ib times e^(i angle): one complex multiply in
        # float32, about 3x faster on CPU than the real-valued form (and the same to 1e-6).
        rotation = self._rotation(offset + x.shape[1])[:, offset : offset + x.shape[1]]
        rot, rest = x[..., : self.rope_dim].float(), x[..., self.rope_dim :]
        if self.style == "interleaved":
            pairs = torch.view_as_complex(rot.unflatten(-1, (-1, 2)).contiguous())  # [B, S, H, R/2]
            rotated = torch.view_as_real(pairs * rotation).flatten(-2)
        else:
            a, b = rot.chunk(2, dim=-1)  # [B, S, H, R/2] each
            turned = torch.complex(a, b) * rotation
            rotated = torch.cat((turned.real, turned.imag), dim=-1)
        rotated = rotated.to(x.dtype)
        return torch.cat((rotated, rest), dim=-1) if rest.shape[-1] else rotated


def rows_of(prefix: torch.Tensor, rows: int) -> torch.Tensor:
    """A prefix's keys or values [R, K, P, E] for `rows` rows: R = 1 shared by all, else repeated in turn."""
    if prefix.shape[0] == 1:
        return prefix.expand(rows, -1, -1, -1)
    if rows % prefix.shape[0]:
        raise ValueError(f"{rows} rows cannot continue {prefix.shape[0]} prefixes in turn")
    return prefix.repeat(rows // prefix.shape[0], 1, 1, 1)


class Attention(nn.Module):
    """Causal grouped-query self-attention. `wo`'s input is the per-head output [B, S, H*E] (PAS reads it)."""

    def __init__(self, weights: WeightCache, config: ModelConfig, layer: int):
        super().__init__()
        p = f"blk.{layer}."
        self.wq = Linear(weights, p + "attn_q.weight")
        self.wk = Linear(weights, p + "attn_k.weight")
        self.wv = Linear(weights, p + "attn_v.weight")
        self.wo = Linear(weights, p + "attn_output.weight")
        self.q_norm = (
            RMSNorm(weights, p + "attn_q_norm.weight", config.rms_eps) if config.has_qk_norm else None
        )
        self.k_norm = (
            RMSNorm(weights, p + "attn_k_norm.weight", config.rms_eps) if config.has_qk_norm else None
        )
        self.n_head, self.n_head_kv, self.head_dim = config.n_head, config.n_head_kv, config.head_dim

    def forward(
        self,
        x: torch.Tensor,
        rope: RotaryEmbedding,
        prefix: KeysValues | None = None,
        keep: list[KeysValues] | None = None,
    ) -> torch.Tensor:  # x [B, S, D]
        """`prefix`: keys and values [1, K, P, E] of P positions that every row continues, or [R, K, P, E] with
        R dividing B, row r continuing prefix r mod R (x then sits at positions P..P+S-1 and attends to them);
        `keep` receives this call's own keys and values."""
        B, S, _ = x.shape
        offset = 0 if prefix is None else prefix[0].shape[2]
        q = self.wq(x).view(B, S, self.n_head, self.head_dim)  # [B, S, H, E]
        k = self.wk(x).view(B, S, self.n_head_kv, self.head_dim)  # [B, S, K, E]
        v = self.wv(x).view(B, S, self.n_head_kv, self.head_dim)  # [B, S, K, E]
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rope(q, offset), rope(k, offset)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H or K, S, E]
        if keep is not None:
            keep.append((k, v))
        mask = None
        if prefix is not None:
            k = torch.cat((rows_of(prefix[0], B), k), dim=2)  # [B, K, P+S, E]
            v = torch.cat((rows_of(prefix[1], B), v), dim=2)
            mask = torch.ones(S, offset + S, dtype=torch.bool).tril(offset)  # row i sees j <= P + i
        n_rep = self.n_head // self.n_head_kv  # query head h reads key/value head h // n_rep, as ggml does
        k = k.repeat_interleave(n_rep, dim=1)  # [B, H, P+S, E] (P = 0 without a prefix)
        v = v.repeat_interleave(n_rep, dim=1)
        heads = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None, scale=1.0 / math.sqrt(self.head_dim)
        )
        heads = heads.transpose(1, 2).reshape(B, S, self.n_head * self.head_dim)  # [B, S, H*E]
        return self.wo(heads)  # [B, S, D]


class FeedForward(nn.Module):
    """SwiGLU: W_down (silu(W_gate x) * W_up x)."""

    def __init__(self, weights: WeightCache, layer: int):
        super().__init__()
        p = f"blk.{layer}."
        self.w_gate = Linear(weights, p + "ffn_gate.weight")
        self.w_up = Linear(weights, p + "ffn_up.weight")
        self.w_down = Linear(weights, p + "ffn_down.weight")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, S, D]
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))  # [B, S, F] -> [B, S, D]


class Block(nn.Module):
    """Pre-norm residual block. Its output (after the FFN residual) is llama.cpp's `l_out-L`, where
    `direction.L` of a control vector is added."""

    def __init__(self, weights: WeightCache, config: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn_norm = RMSNorm(weights, f"blk.{layer}.attn_norm.weight", config.rms_eps)
        self.attention = Attention(weights, config, layer)
        self.ffn_norm = RMSNorm(weights, f"blk.{layer}.ffn_norm.weight", config.rms_eps)
        self.feed_forward = FeedForward(weights, layer)

    def forward(
        self,
        x: torch.Tensor,
        rope: RotaryEmbedding,
        prefix: KeysValues | None = None,
        keep: list[KeysValues] | None = None,
    ) -> torch.Tensor:  # [B, S, D] -> [B, S, D]; prefix / keep: see Attention
        h = x + self.attention(self.attn_norm(x), rope, prefix, keep)
        return h + self.feed_forward(self.ffn_norm(h))


class OutputHead(nn.Module):
    """logits = x W^T with W [V, D] (output.weight, or token_embd when tied), dequantised in row chunks."""

    def __init__(self, model_file: GGUFModelFile, name: str, dtype: torch.dtype):
        super().__init__()
        self._file = model_file
        self.weight_name = name
        self._dtype = dtype
        n_vocab, n_embd = model_file.shape(name)
        self.n_vocab, self.n_embd = n_vocab, n_embd
        self._itemsize = torch.empty((), dtype=dtype).element_size()
        self._kept: torch.Tensor | None = None
        self.chunk_rows = max(1, OUTPUT_CHUNK_BYTES // (4 * n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [..., D] -> [..., V]
        if self._kept is not None:
            return x @ self._kept.T
        if self.n_vocab * self.n_embd * self._itemsize <= OUTPUT_KEEP_BYTES:
            # small enough to keep: dequantised once instead of on every call (align calls it per pass)
            self._kept = self._file.dequantize_rows(self.weight_name, slice(0, self.n_vocab), self._dtype)
            return x @ self._kept.T
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

    def __init__(self, model_file: GGUFModelFile, *, dtype: torch.dtype, cache_blocks: int):
        super().__init__()
        config = model_file.config
        self.config = config
        self.dtype = dtype
        self.model_file = model_file
        self.weights = WeightCache(model_file, max_blocks=cache_blocks, dtype=dtype)
        freq_factors = model_file.dequantize(ROPE_FREQS) if config.has_rope_freqs else None
        self.rope = RotaryEmbedding(config, freq_factors)
        self.blocks = nn.ModuleList(Block(self.weights, config, layer) for layer in range(config.n_layer))
        self.output_norm = RMSNorm(self.weights, OUTPUT_NORM, config.rms_eps)
        head = TOKEN_EMBD if config.tied_output else OUTPUT
        self.output = OutputHead(model_file, head, dtype)
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
    def run_block_after_prefix(
        self, block: int, prefix: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Block `block` on rows h [B, S, D] that continue the P positions of prefix [1, P, D] (every row) or
        [R, P, D] (row r continues prefix row r mod R): the prefix is computed once, not per row. Returns both
        outputs; h's positions are P..P+S-1."""
        kept: list[KeysValues] = []
        prefix_out = self.blocks[block](prefix, self.rope, keep=kept)
        return prefix_out, self.blocks[block](h, self.rope, prefix=kept[0])

    @torch.no_grad()
    def final_logits(self, h: torch.Tensor) -> torch.Tensor:  # [B, S, D] -> [B, S, V]
        return self.output(self.output_norm(h))

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [B, S] -> [B, S, V]
        return self.final_logits(self.run_blocks(self.embed(tokens)))

    def attn_output_weight(self, layer: int) -> torch.Tensor:
        """W_o of a block, float32 [D, H*E] like a Linear weight: maps concatenated heads to the residual."""
        if not 0 <= layer < self.config.n_layer:
            raise ValueError(f"layer {layer} is outside 0..{self.config.n_layer - 1}")
        return self.model_file.dequantize(f"blk.{layer}.attn_output.weight")

    def close(self) -> None:
        self.weights.clear()
        self.output._kept = None
        self.model_file.close()


def fast_dtype() -> torch.dtype:
    """bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX), else float32: on an AVX2-only CPU
    torch's bfloat16 matmul measured 8x slower than float32 (8 against 62 GFLOPS, one core)."""
    native = (
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return torch.bfloat16 if native else torch.float32


def load_model(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    cache_blocks: int = 2,
) -> GGUFTransformer:
    """Open a GGUF model for torch, checking every tensor's shape against the config first.

    cache_blocks: dequantised blocks kept between passes (one block of an 8B model is ~0.9 GB in float32)."""
    if dtype not in (torch.float32, torch.bfloat16, torch.float64):
        raise ValueError(f"dtype {dtype} is not supported; use float32 (exact), float64 or bfloat16")
    model_file = open_model_file(path)
    try:
        check_tensor_shapes(model_file)
        return GGUFTransformer(model_file, dtype=dtype, cache_blocks=cache_blocks)
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


def pad_right(sequences: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token batch [B, S] (int64) and the rows' lengths [B]; a row's last real position is its
    length - 1 (causal: pads never affect real positions)."""
    if not sequences or any(len(s) == 0 for s in sequences):
        raise ValueError("every row needs at least one token")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), int(lengths.max())), pad, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return tokens, lengths
