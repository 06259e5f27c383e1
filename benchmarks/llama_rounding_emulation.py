"""How much of the torch / llama.cpp gap (`paso-local check-model`) is llama.cpp's own rounding?

llama.cpp's CPU matmuls round each activation row to 8 bits per block of 32 (q8_0 / q8_1, with q8_1's block
sums for Q4_1 weights; q8_K blocks of 256 for k-quants) before the integer dot products, and its attention
(flash attention off) reads f16 keys and values and rounds the scores' inputs to f16. This script emulates that
in the torch model (monkeypatched, for this measurement only) and prints top-1 agreement, mean KL and the max
logit difference against llama.cpp, plain and emulated, per prompt too.

    .venv/bin/python benchmarks/llama_rounding_emulation.py [--model PATH] [--prompts 20]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

import paso_local.converters.model as M
from paso_local.converters.check_model import (
    LlamaLogits,
    _torch_logits,
    compare,
    prompt_tokens,
    token_batches,
)
from paso_local.llm.chat_format import ChatFormat
from paso_local.llm.modelfiles import resolve_model

BLOCK_TYPES_Q8_0 = ("Q4_0", "Q5_0", "Q8_0")


def q8_blocks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ggml's quantize_row_q8_0/q8_1: per 32 values, d = amax / 127 and q = round(x / d)."""
    blocks = x.unflatten(-1, (-1, 32))
    amax = blocks.abs().amax(-1, keepdim=True)
    inverse = torch.where(amax > 0, 127.0 / torch.where(amax > 0, amax, 1.0), 0.0)
    return torch.round(blocks * inverse), amax / 127.0


def q8_k(x: torch.Tensor) -> torch.Tensor:
    """ggml's quantize_row_q8_K (blocks of 256, scale from the signed max), dequantised."""
    blocks = x.unflatten(-1, (-1, 256))
    signed_max = blocks.gather(-1, blocks.abs().argmax(-1, keepdim=True))
    inverse = torch.where(signed_max != 0, -127.0 / torch.where(signed_max != 0, signed_max, 1.0), 0.0)
    scale = torch.where(inverse != 0, 1.0 / torch.where(inverse != 0, inverse, 1.0), 0.0)
    return (torch.clamp(torch.round(blocks * inverse), max=127.0) * scale).flatten(-2)


_MINS: dict[str, torch.Tensor] = {}


def q4_1_mins(model_file, name: str) -> torch.Tensor:
    """The per-block minimum m of a Q4_1 tensor [out, blocks] (bytes 2-3 of each 20-byte block, f16)."""
    if name not in _MINS:
        raw = np.asarray(model_file._tensor(name).data)
        blocks = raw.reshape(raw.shape[0], raw.shape[1] // 20, 20)
        _MINS[name] = torch.from_numpy(blocks[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32))
    return _MINS[name]


def emulated_matmul(model_file, name: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    kind = model_file.type_name(name)
    if kind == "Q4_1":  # q4_1 x q8_1: sum(d_w d_x q_w q_x) + m_w * s_x, with s_x = d_x sum(q_x) in f16
        mins = q4_1_mins(model_file, name)
        q, d = q8_blocks(x)
        xq = (q * d.half().float()).flatten(-2)
        s = (d[..., 0] * q.sum(-1)).half().float()
        return xq @ (weight - mins.repeat_interleave(32, -1)).T + s @ mins.T
    if kind in BLOCK_TYPES_Q8_0:
        q, d = q8_blocks(x)
        return (q * d.half().float()).flatten(-2) @ weight.T
    if kind.endswith("_K"):
        return q8_k(x) @ weight.T
    if kind == "F16":
        return x.half().float() @ weight.T
    return x @ weight.T


def linear(self, x):
    y = emulated_matmul(self.weights._file, self.weight_name, x, self.weights.get(self.weight_name))
    return y + self.weights.get(self.bias_name) if self.bias_name else y


def output_head(self, x):
    weight = self._file.dequantize_rows(self.weight_name, slice(0, self.n_vocab), torch.float32)
    return emulated_matmul(self._file, self.weight_name, x, weight)


def attention(self, x, rope, prefix=None, keep=None):
    B, S, _ = x.shape
    q = self.wq(x).view(B, S, self.n_head, self.head_dim)
    k = self.wk(x).view(B, S, self.n_head_kv, self.head_dim)
    v = self.wv(x).view(B, S, self.n_head_kv, self.head_dim)
    if self.q_norm is not None:
        q, k = self.q_norm(q), self.k_norm(k)
    q, k = rope(q), rope(k)
    n_rep = self.n_head // self.n_head_kv
    q = q.transpose(1, 2)
    k = k.transpose(1, 2).repeat_interleave(n_rep, 1)
    v = v.transpose(1, 2).repeat_interleave(n_rep, 1)
    scores = (q.half().float() @ k.half().float().transpose(-1, -2)) / math.sqrt(self.head_dim)
    scores = scores.masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), float("-inf"))
    weights = torch.softmax(scores, -1).half().float()
    return self.wo((weights @ v.half().float()).transpose(1, 2).reshape(B, S, -1))


def kl(reference: np.ndarray, candidate: np.ndarray) -> float:
    lr = reference - np.logaddexp.reduce(reference)
    lc = candidate - np.logaddexp.reduce(candidate)
    return float(np.sum(np.exp(lr) * (lr - lc)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--prompts", type=int, default=20)
    args = parser.parse_args()
    path = resolve_model(args.model)
    chat_format = ChatFormat.from_model(path)
    prompts = prompt_tokens(chat_format, args.prompts)
    chat_format.close()
    with LlamaLogits(path, n_ctx=512) as llama:
        reference = np.stack([llama.last_logits(p) for p in prompts])
    batches = token_batches(prompts, 2048)
    model = M.load_model(path, cache_blocks=4)
    plain, _ = _torch_logits(model, prompts, batches, lambda n: None)
    M.Linear.forward, M.OutputHead.forward, M.Attention.forward = linear, output_head, attention
    emulated, _ = _torch_logits(model, prompts, batches, lambda n: None)
    print("| torch | top-1 agreement | mean KL | max abs logit diff |\n|---|---|---|---|")
    for label, logits in (("plain float32", plain), ("llama.cpp rounding emulated", emulated)):
        a = compare(reference, logits)
        print(f"| {label} | {a.top1_agreement:.3f} | {a.kl_mean:.5f} | {a.max_abs_logit_diff:.3f} |")
    print("\nper prompt: tokens, KL plain / emulated, top-1 llama.cpp / plain / emulated")
    for i, p in enumerate(prompts):
        tops = (int(reference[i].argmax()), int(plain[i].argmax()), int(emulated[i].argmax()))
        print(
            f"{i:3d} {len(p):4d}  {kl(reference[i], plain[i]):.4f} / {kl(reference[i], emulated[i]):.4f}  {tops}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
