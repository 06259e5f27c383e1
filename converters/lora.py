"""LoRA adapters on the GGUF model's own linear layers, and the answer log-probabilities DPO and PPO train on.

A LoRA pair on a weight W [out, in] adds `scale * B (A x)` to W x, with A [rank, in], B [out, rank] and
scale = alpha / rank: the form llama.cpp applies (`blk.N.<name>.weight.lora_a` / `.lora_b`, see lora_export).
B starts at zero, so a fresh adapter leaves the model unchanged. Adapters are attached through forward hooks
on paso_local.converters.model's `Linear` modules (model.py is not modified) and removed afterwards.

Where: the LAST block only, on attn_q, attn_output, ffn_gate, ffn_up and ffn_down (not attn_k / attn_v). Then
everything below the last block, and the last block's keys and values at every prompt position, are those of
the frozen model, computed once per model (no grad); the readout positions' outputs depend only on the last
block's computation AT those positions. So training runs one block at two positions per item instead of the
whole model over ~100 tokens: about 50x less work, what makes per-person training affordable on 2 CPU cores.
llama.cpp applies the same adapter at every position; at the readout positions the result is the same.

Readout (paso_local.llm.readout): each item's prompt is followed by "(", so one forward pass gives P1 (next token
after the prompt, at position -2) and P2 (after "(", position -1). The log-probability of an answer value v is
log(P1(direct tokens of v) + P1("(" tokens) * P2(letter tokens of v)): what eval's median reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from paso_local.llm.readout import OptionTokens
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT, Turn, item_messages

# attn_k / attn_v are left out: then the frozen keys and values of the prompt stay valid (see the module doc)
TARGETS = ("attn_q", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class LoraConfig:
    """Which weights get a LoRA pair and how big: blocks first_layer..n_layer-1, the `targets` of each."""

    rank: int = 4
    alpha: float = 8.0
    first_layer: int | None = None  # None: the last block (the only placement training supports)
    targets: tuple[str, ...] = TARGETS

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class LoraLinear(nn.Module):
    """One LoRA pair: delta(x) = scale * (x A^T) B^T. A is Kaiming-uniform (seeded), B zero."""

    def __init__(self, n_in: int, n_out: int, rank: int, scale: float, generator: torch.Generator):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)  # kaiming_uniform_(a=sqrt(5)) as torch.nn.Linear / PEFT use
        self.lora_a = nn.Parameter((torch.rand(rank, n_in, generator=generator) * 2 - 1) * bound)
        self.lora_b = nn.Parameter(torch.zeros(n_out, rank))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.lora_a.T) @ self.lora_b.T * self.scale


class LoraAdapter(nn.Module):
    """LoRA pairs keyed by the GGUF weight name (e.g. "blk.22.attn_q.weight")."""

    def __init__(self, pairs: dict[str, LoraLinear], config: LoraConfig):
        super().__init__()
        self.config = config
        self.names = sorted(pairs)
        self.pairs = nn.ModuleDict({_key(n): pairs[n] for n in self.names})

    @classmethod
    def create(cls, model: Any, config: LoraConfig, seed: int = 0) -> LoraAdapter:
        """A zero-effect adapter for `model` (a paso_local.converters.model.GGUFTransformer)."""
        n_layer = model.config.n_layer
        if config.first_layer is None:
            config = replace(config, first_layer=n_layer - 1)
        if config.first_layer != n_layer - 1 or {"attn_k", "attn_v"} & set(config.targets):
            raise ValueError("LoRA training supports the last block only, without attn_k / attn_v")
        if config.rank < 1:
            raise ValueError("rank must be at least 1")
        generator = torch.Generator().manual_seed(seed)
        pairs = {}
        for name in target_linears(model, config):
            n_out, n_in = model.model_file.shape(name)
            pairs[name] = LoraLinear(n_in, n_out, config.rank, config.scale, generator)
        return cls(pairs, config)

    def pair(self, name: str) -> LoraLinear:
        return self.pairs[_key(name)]

    def tensors(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{weight name: (A [rank, in], B [out, rank])} as float32 numpy arrays."""
        return {
            n: (
                self.pair(n).lora_a.detach().float().numpy().copy(),
                self.pair(n).lora_b.detach().float().numpy().copy(),
            )
            for n in self.names
        }

    @contextmanager
    def attached(self, model: Any) -> Iterator[LoraAdapter]:
        """While inside, every targeted Linear of `model` outputs W x + scale B A x."""
        handles = []
        try:
            for name, linear in target_linears(model, self.config).items():
                lora = self.pair(name)

                def hook(
                    _module: Any, inputs: tuple, output: torch.Tensor, lora: LoraLinear = lora
                ) -> torch.Tensor:
                    return output + lora(inputs[0])

                handles.append(linear.register_forward_hook(hook))
            yield self
        finally:
            for handle in handles:
                handle.remove()


def open_training_model(path: Any) -> Any:
    """paso_local.converters.model's GGUFTransformer with every block's weights kept dequantised (nothing re-dequantised
    during training)."""
    from paso_local.converters.gguf_reader import read_config
    from paso_local.converters.model import load_model

    return load_model(path, cache_blocks=read_config(path).n_layer)


def _key(name: str) -> str:
    return name.replace(".", "__")


def target_linears(model: Any, config: LoraConfig) -> dict[str, nn.Module]:
    """The paso_local.converters.model `Linear` modules LoRA goes on, by GGUF weight name."""
    out = {}
    for block in model.blocks[config.first_layer :]:
        for module in block.modules():
            name = getattr(module, "weight_name", None)
            if name is None or not hasattr(module, "bias_name"):
                continue  # RMSNorm also has weight_name; only Linear has bias_name
            suffix = name.split(".")[2]
            if suffix in config.targets:
                out[name] = module
    return out


@dataclass
class AnswerInputs:
    """Everything the last block needs to produce each item's two readout positions (the answer position and
    the one after "("), from the frozen model: the residual entering the block at those positions and the
    block's keys and values at every prompt position. Valid because LoRA there leaves K and V alone."""

    item_numbers: list[int]
    lengths: torch.Tensor  # [N] readout prompt lengths (the prompt ends with "(")
    query_hidden: torch.Tensor  # [N, 2, D] residual entering the last block at positions length-2, length-1
    keys: torch.Tensor  # [N, K, S, E] after RoPE (and k_norm), right-padded
    values: torch.Tensor  # [N, K, S, E]
    first_layer: int
    output_weight: torch.Tensor = field(repr=False)  # [V, D] output head (dequantised once)

    def rows(self, numbers: Sequence[int]) -> list[int]:
        index = {n: r for r, n in enumerate(self.item_numbers)}
        return [index[n] for n in numbers]

    def subset(self, rows: Sequence[int]) -> AnswerInputs:
        r = torch.as_tensor(list(rows), dtype=torch.long)
        return AnswerInputs(
            [self.item_numbers[i] for i in rows],
            self.lengths[r],
            self.query_hidden[r],
            self.keys[r],
            self.values[r],
            self.first_layer,
            self.output_weight,
        )


def readout_tokens(
    chat_format: Any,
    item: Item,
    options: OptionTokens,
    system_prompt: str = SYSTEM_PROMPT,
    turns: Sequence[Turn] = (),
) -> list[int]:
    """The item's question (after earlier `turns`, if any) in the model's chat template, then "(": the tokens
    eval reads the answer from."""
    return list(chat_format.encode_chat(item_messages(item, system_prompt, turns))) + [options.paren_token]


def _rope_at(rope: Any, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """paso_local.converters.model's RoPE for x [B, P, H, E] at explicit positions [B, P] (not 0..P-1)."""
    cos, sin = rope.cos_sin(int(positions.max()) + 1)
    cos, sin = cos[positions][:, :, None, :].to(x.dtype), sin[positions][:, :, None, :].to(x.dtype)
    rot, rest = x[..., : rope.rope_dim], x[..., rope.rope_dim :]
    if rope.style == "interleaved":
        pairs = rot.unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    else:
        a, b = rot.chunk(2, dim=-1)
        rotated = torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return torch.cat((rotated, rest), dim=-1) if rest.shape[-1] else rotated


def _keys_values(attention: Any, rope: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's K and V [B, K, S, E] for the normed input x [B, S, D] at positions 0..S-1."""
    B, S, _ = x.shape
    k = attention.wk(x).view(B, S, attention.n_head_kv, attention.head_dim)
    v = attention.wv(x).view(B, S, attention.n_head_kv, attention.head_dim)
    if attention.k_norm is not None:
        k = attention.k_norm(k)
    return rope(k).transpose(1, 2), v.transpose(1, 2)


def prepare_inputs(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    options: OptionTokens,
    *,
    batch_size: int = 16,
    system_prompt: str = SYSTEM_PROMPT,
) -> AnswerInputs:
    """Blocks 0..n_layer-2 once (no grad) on every item's readout prompt; keep what the last block needs."""
    prompts = [readout_tokens(chat_format, item, options, system_prompt) for item in items]
    return inputs_for_prompts(
        model, prompts, [item.number for item in items], chat_format.eos_token_id, batch_size
    )


def inputs_for_prompts(
    model: Any,
    prompts: Sequence[Sequence[int]],
    labels: Sequence[int],
    pad_token: int,
    batch_size: int = 16,
    on_batch: Any = None,
) -> AnswerInputs:
    """`prepare_inputs` for any readout prompts (each ending in "("), labelled by `labels`; `on_batch(n)` is
    called after each batch of n prompts (progress)."""
    from paso_local.converters.activations import pad_right
    from paso_local.converters.gguf_reader import TOKEN_EMBD

    last = model.config.n_layer - 1
    block = model.blocks[last]
    tokens, lengths = pad_right([list(p) for p in prompts], pad_token)
    queries, keys, values = [], [], []
    with torch.no_grad():  # not inference_mode: cached weights must stay usable by autograd later
        for start in range(0, len(prompts), batch_size):
            n = lengths[start : start + batch_size]
            h = model.run_blocks(model.embed(tokens[start : start + batch_size, : int(n.max())]), 0, last)
            rows = torch.arange(h.shape[0])
            queries.append(torch.stack([h[rows, n - 2], h[rows, n - 1]], dim=1))
            k, v = _keys_values(block.attention, model.rope, block.attn_norm(h))
            keys.append(_pad_positions(k, tokens.shape[1]))
            values.append(_pad_positions(v, tokens.shape[1]))
            if on_batch is not None:
                on_batch(h.shape[0])
    head = (
        model.weights.get(TOKEN_EMBD)
        if model.config.tied_output
        else model.model_file.dequantize(model.output.weight_name)
    )
    return AnswerInputs(
        item_numbers=list(labels),
        lengths=lengths,
        query_hidden=torch.cat(queries),
        keys=torch.cat(keys),
        values=torch.cat(values),
        first_layer=last,
        output_weight=head.clone(),
    )


def _pad_positions(x: torch.Tensor, width: int) -> torch.Tensor:
    """[B, K, S, E] right-padded with zeros to S = width (a batch is run only as wide as its longest prompt)."""
    return torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[2]))


def answer_logprobs(
    model: Any, inputs: AnswerInputs, rows: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """log-softmax [B, V] at the answer position and after "(" for `rows`: the last block at those two
    positions only (with whatever adapter is attached; gradients flow when enabled), attending to the frozen
    keys and values of the whole prompt."""
    rows_t = torch.as_tensor(list(rows), dtype=torch.long)
    lengths = inputs.lengths[rows_t]
    width = int(lengths.max())
    x = inputs.query_hidden[rows_t]  # [B, 2, D]
    keys, values = inputs.keys[rows_t, :, :width], inputs.values[rows_t, :, :width]  # [B, K, S, E]
    block = model.blocks[inputs.first_layer]
    att = block.attention
    B = x.shape[0]
    positions = torch.stack([lengths - 2, lengths - 1], dim=1)  # [B, 2]
    q = att.wq(block.attn_norm(x)).view(B, 2, att.n_head, att.head_dim)
    if att.q_norm is not None:
        q = att.q_norm(q)
    q = _rope_at(model.rope, q, positions).transpose(1, 2)  # [B, H, 2, E]
    n_rep = att.n_head // att.n_head_kv
    keys = keys.repeat_interleave(n_rep, dim=1)  # [B, H, S, E]
    values = values.repeat_interleave(n_rep, dim=1)
    visible = torch.arange(width)[None, None, :] <= positions[:, :, None]  # [B, 2, S] causal
    scores = (q @ keys.transpose(-1, -2)) / math.sqrt(att.head_dim)  # [B, H, 2, S]
    scores = scores.masked_fill(~visible[:, None], float("-inf"))
    heads = (torch.softmax(scores, dim=-1) @ values).transpose(1, 2).reshape(B, 2, att.n_head * att.head_dim)
    h = x + att.wo(heads)
    h = h + block.feed_forward(block.ffn_norm(h))
    logits = model.output_norm(h) @ inputs.output_weight.T  # [B, 2, V]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return logp[:, 0], logp[:, 1]


class OptionIndex:
    """Torch index tensors for paso_local.llm.readout's marginalisation over the ways an option can start."""

    def __init__(self, options: OptionTokens):
        self.options = options
        self.paren_ids = torch.as_tensor(options.paren_ids)
        self.direct = [torch.as_tensor(options.direct_ids[options.direct_value == v]) for v in range(1, 6)]
        self.after = [
            torch.as_tensor(options.after_paren_ids[options.after_paren_value == v]) for v in range(1, 6)
        ]

    def option_logprobs(self, logp1: torch.Tensor, logp2: torch.Tensor) -> torch.Tensor:
        """[B, 5]: log P(answer value v) for v = 1..5, unnormalised (the mass left elsewhere is not added)."""
        log_paren = torch.logsumexp(logp1[:, self.paren_ids], dim=-1)
        columns = []
        for v in range(5):
            direct = torch.logsumexp(logp1[:, self.direct[v]], dim=-1)
            via_paren = log_paren + torch.logsumexp(logp2[:, self.after[v]], dim=-1)
            columns.append(torch.logaddexp(direct, via_paren))
        return torch.stack(columns, dim=-1)


def option_distributions(
    model: Any, adapter: LoraAdapter | None, inputs: AnswerInputs, index: OptionIndex, *, batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """(dist [N, 5] over values 1..5, mass [N]) for every row of `inputs`, as paso_local.llm.readout has them."""
    dists, masses = [], []
    with torch.no_grad(), adapter.attached(model) if adapter is not None else _nothing():
        for start in range(0, len(inputs.item_numbers), batch_size):
            rows = range(start, min(start + batch_size, len(inputs.item_numbers)))
            logp1, logp2 = answer_logprobs(model, inputs, list(rows))
            raw = index.option_logprobs(logp1, logp2).exp()
            mass = raw.sum(-1)
            dists.append((raw / mass[:, None]).numpy())
            masses.append(mass.numpy())
    return np.concatenate(dists), np.concatenate(masses)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
