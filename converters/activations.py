"""PAS step 1 and the unsteered half of the strength search, in one batched pass over the form's items.

Per item three prompts, formatted with the model's own chat template: the assistant's answer "A", its pair
"E", and "(" (the readout prompt: one forward gives the answer-position and after-"(" distributions). Kept:
- per-head activations (input of each layer's attention output projection) at the A / E letter, every layer;
- the residual stream (each block's output) at the A / E letter, from `checkpoint_block` on (the residual-stream
mean difference, the alternative to PAS's head-level vectors);
- for the "(" prompts: the residual stream entering `checkpoint_block` (steered passes restart there), the
unsteered option distribution (paso_local.llm.readout), and each block's mean residual norm (strength units). None
of it depends on the person: cached in the user cache directory, keyed by the model file's sha256, the prompt
text (template + system prompt), the item set and the checkpoint block, so a second profile on the same model
runs no forward pass here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.array_cache import cache_key, cache_path, load_arrays, save_arrays
from paso_local.converters.model import fast_dtype, pad_right
from paso_local.llm.modelfiles import file_sha256
from paso_local.llm.readout import OptionTokens, option_distribution
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import (
    AGREE_LETTER,
    DISAGREE_LETTER,
    SYSTEM_PROMPT,
    item_messages,
    prompt_fingerprint,
)
from paso_local.progress import progress_bar

CACHE_VERSION = 6  # bump whenever what the pass records or how it computes it changes
ITEMS_PER_BATCH = 8  # x 3 prompts


@dataclass(frozen=True)
class ItemActivations:
    item_numbers: np.ndarray  # int [N], 300-form numbers, in the order given
    agree: np.ndarray  # float32 [N, n_layer, n_head, head_dim]: the prompt answered "A"
    disagree: np.ndarray  # float32 [N, n_layer, n_head, head_dim]: the prompt answered "E"
    paren_tokens: np.ndarray  # int64 [N, S] right-padded readout prompts (ending in "(")
    paren_lengths: np.ndarray  # int64 [N]
    checkpoint_block: int
    checkpoint: np.ndarray  # float32 [N, S, D]: residual entering block `checkpoint_block`, readout prompts
    base_dist: np.ndarray  # float64 [N, 5]: unsteered option distribution (values 1..5)
    base_mass: np.ndarray  # float64 [N]
    residual_norm: np.ndarray  # float64 [n_layer]: mean |output of block b| at positions >= 1
    # float32 [N, n_layer - checkpoint_block, D]: output of blocks checkpoint_block.. at the A / E letter
    agree_blocks: np.ndarray | None = None
    disagree_blocks: np.ndarray | None = None
    # token positions the torch pass computed (0 when read from the cache; never cached itself)
    forward_tokens: int = 0


def activation_cache_key(
    model_sha256: str, items: Sequence[Item], checkpoint_block: int, system_prompt: str = SYSTEM_PROMPT
) -> str:
    return cache_key(
        {
            "version": CACHE_VERSION,
            "model_sha256": model_sha256,
            "prompt": prompt_fingerprint(system_prompt),
            "items": [(i.number, i.text) for i in items],
            "checkpoint_block": checkpoint_block,
            "dtype": str(fast_dtype()),  # the pass's numerics: bfloat16 or float32 by CPU
        }
    )


def activation_cache_path(key: str) -> Path:
    return cache_path("activations", key)


def readout_prompt(
    chat_format: Any, item: Item, tokens: OptionTokens, system_prompt: str = SYSTEM_PROMPT
) -> list[int]:
    """The item's prompt followed by the "(" token: the answer position is [-2], the after-"(" one is [-1]."""
    return list(chat_format.encode_chat(item_messages(item, system_prompt))) + [tokens.paren_token]


def answer_logits(model: Any, h: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Final logits at each readout row's answer position and after its "(": two float32 [B, V] arrays."""
    rows = torch.arange(h.shape[0])
    picked = torch.stack([h[rows, lengths - 2], h[rows, lengths - 1]], dim=1)  # [B, 2, D]
    logits = model.final_logits(picked).float().numpy()
    return logits[:, 0], logits[:, 1]


def item_prompts(
    chat_format: Any, items: Sequence[Item], tokens: OptionTokens, system_prompt: str
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Each item's prompts: answered with the agree letter, with the disagree letter, and the readout's."""
    agree, disagree, paren = [], [], []
    for item in items:
        messages = item_messages(item, system_prompt)
        agree.append(chat_format.encode_chat(messages, assistant_prefix=AGREE_LETTER))
        disagree.append(chat_format.encode_chat(messages, assistant_prefix=DISAGREE_LETTER))
        paren.append(readout_prompt(chat_format, item, tokens, system_prompt))
    return agree, disagree, paren


def differ_in_last_token_only(*prompt_lists: Sequence[Sequence[int]]) -> bool:
    """Whether each item's prompts (one per list) are one common prefix and one last token each."""
    return all(
        len({len(p) for p in prompts}) == 1 and all(p[:-1] == prompts[0][:-1] for p in prompts)
        for prompts in zip(*prompt_lists, strict=True)
    )


def equal_length_batches(prompts: Sequence[Sequence[int]], per_batch: int) -> list[list[int]]:
    """Prompt indices in batches of at most `per_batch` whose prompts have one length (no padding)."""
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(i)
    return [
        same[start : start + per_batch]
        for _, same in sorted(by_length.items())
        for start in range(0, len(same), per_batch)
    ]


def compute_item_activations(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    tokens: OptionTokens,
    checkpoint_block: int,
    *,
    system_prompt: str = SYSTEM_PROMPT,
    items_per_batch: int = ITEMS_PER_BATCH,
    show_progress: bool = True,
) -> ItemActivations:
    """Run the A, E and "(" prompts of every item through the torch model, block by block. Where an item's
    three prompts differ in their last token only (the chat templates measured), their common part is
    computed once and the three last tokens continue it: a third of the tokens."""
    prompts = item_prompts(chat_format, items, tokens, system_prompt)
    if differ_in_last_token_only(*prompts):
        return shared_prefix_activations(
            model, chat_format, items, tokens, checkpoint_block, prompts, items_per_batch, show_progress
        )
    return padded_activations(
        model, chat_format, items, tokens, checkpoint_block, prompts, items_per_batch, show_progress
    )


def padded_activations(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    tokens: OptionTokens,
    checkpoint_block: int,
    prompts: tuple[list[list[int]], list[list[int]], list[list[int]]],
    items_per_batch: int,
    show_progress: bool,
) -> ItemActivations:
    """Every prompt in full, right-padded batches of the three prompts of `items_per_batch` items."""
    from paso_local.converters.hooks import record_head_inputs

    n_layer = model.config.n_layer
    pad = chat_format.eos_token_id
    agree_prompts, disagree_prompts, paren_prompts = prompts
    paren_tokens, paren_lengths = pad_right(paren_prompts, pad)
    n, width = paren_tokens.shape
    computed = 0
    heads: np.ndarray | None = None
    blocks = np.zeros((2, n, n_layer - checkpoint_block, model.config.n_embd), dtype=np.float32)
    checkpoint = np.zeros((n, width, model.config.n_embd), dtype=np.float32)
    dist = np.zeros((n, 5))
    mass = np.zeros(n)
    norm_sum = np.zeros(n_layer)
    norm_count = 0
    with progress_bar("Model activations (A / E / readout prompts)", 3 * n, enabled=show_progress) as bar:
        for start in range(0, n, items_per_batch):
            idx = list(range(start, min(start + items_per_batch, n)))
            b = len(idx)
            seqs = (
                [agree_prompts[i] for i in idx]
                + [disagree_prompts[i] for i in idx]
                + [paren_prompts[i] for i in idx]
            )
            batch, lengths = pad_right(seqs, pad)
            computed += batch.numel()
            real = (
                torch.arange(batch.shape[1])[None, :] < lengths[2 * b :, None]
            )  # readout rows' real positions
            real[:, 0] = False  # the first position's massive activations stay out of the norm
            letters = torch.arange(2 * b), lengths[: 2 * b] - 1  # the A / E rows' last positions
            with torch.inference_mode(), record_head_inputs(model, positions=lengths - 1) as recorded:
                h = model.embed(batch)
                for block in range(n_layer):
                    if block == checkpoint_block:
                        part = h[2 * b :].float().numpy()
                        checkpoint[idx, : part.shape[1]] = part
                    h = model.run_blocks(h, block, block + 1)
                    if block >= checkpoint_block:
                        at_letter = h[letters].float().numpy()  # [2b, D]
                        blocks[0, idx, block - checkpoint_block] = at_letter[:b]
                        blocks[1, idx, block - checkpoint_block] = at_letter[b:]
                    norms = h[2 * b :].float().norm(dim=-1)  # [b, S]
                    norm_sum[block] += float(norms[real].sum())
                first, after = answer_logits(model, h[2 * b :], lengths[2 * b :])
            norm_count += int(real.sum())
            d, m = option_distribution(first, after, tokens)
            dist[idx], mass[idx] = d, m
            heads = stored_heads(heads, recorded, idx, n)
            bar.advance(3 * b)
    assert heads is not None
    return assembled(
        items,
        heads,
        blocks,
        paren_tokens,
        paren_lengths,
        checkpoint_block,
        checkpoint,
        dist,
        mass,
        norm_sum / max(norm_count, 1),
        computed,
    )


def shared_prefix_activations(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    tokens: OptionTokens,
    checkpoint_block: int,
    prompts: tuple[list[list[int]], list[list[int]], list[list[int]]],
    items_per_batch: int,
    show_progress: bool,
) -> ItemActivations:
    """The same records as `padded_activations`, from batches of equal-length items: their common part [b, P]
    once, then the "(", A and E tokens [3b, 1] continuing it (each row attends to its own item's part).
    Block by block over every batch, so each block's weights are dequantised once a pass: batch by batch, a
    model whose blocks outgrow the weight cache (the 1.5B: 11 of its 28) dequantised every block for every
    batch, which took most of the pass's time. A block is dropped from the cache once every batch has passed it."""
    from paso_local.converters.hooks import record_head_inputs

    agree_prompts, disagree_prompts, paren_prompts = prompts
    n_layer, n_embd = model.config.n_layer, model.config.n_embd
    paren_tokens, paren_lengths = pad_right(paren_prompts, chat_format.eos_token_id)
    n, width = paren_tokens.shape
    batches = equal_length_batches(paren_prompts, items_per_batch)
    heads = np.zeros((2, n, n_layer, model.config.n_head, model.config.head_dim), dtype=np.float32)
    blocks = np.zeros((2, n, n_layer - checkpoint_block, n_embd), dtype=np.float32)
    checkpoint = np.zeros((n, width, n_embd), dtype=np.float32)
    norm_sum = np.zeros(n_layer)
    label = "Model activations (A / E / readout prompts, block by block)"
    with (
        progress_bar(label, n_layer, enabled=show_progress) as bar,
        torch.inference_mode(),
        record_head_inputs(model) as recorded,
    ):
        states = [embedded_batch(model, idx, prompts) for idx in batches]  # (prefix [b, P, D], h [3b, 1, D])
        for block in range(n_layer):
            for k, idx in enumerate(batches):
                b, (prefix, h) = len(idx), states[k]
                if block == checkpoint_block:
                    checkpoint[idx, : prefix.shape[1] + 1] = (
                        torch.cat((prefix, h[2 * b :]), dim=1).float().numpy()
                    )
                prefix, h = states[k] = model.run_block_after_prefix(block, prefix, h)
                # the hook keeps each W_o call's last position: the continuation's (the prefix's call came first)
                heads[0, idx, block], heads[1, idx, block] = recorded[block][:b], recorded[block][b : 2 * b]
                if block >= checkpoint_block:
                    at_letter = h[: 2 * b, 0].float().numpy()  # [2b, D]
                    blocks[0, idx, block - checkpoint_block] = at_letter[:b]
                    blocks[1, idx, block - checkpoint_block] = at_letter[b:]
                # position 0's massive activations stay out of the norm, as in the padded pass
                norm_sum[block] += float(prefix[:, 1:].float().norm(dim=-1).sum())
                norm_sum[block] += float(h[2 * b :].float().norm(dim=-1).sum())
            # read once a pass: kept in the cache it would only hold memory (0.9 GB on the 1.5B)
            model.weights.forget(block)
            bar.advance(1)
        dist, mass = readout_distributions(model, batches, states, n, tokens)
    return assembled(
        items,
        heads,
        blocks,
        paren_tokens,
        paren_lengths,
        checkpoint_block,
        checkpoint,
        dist,
        mass,
        norm_sum / max(sum(len(idx) * (len(paren_prompts[idx[0]]) - 1) for idx in batches), 1),
        sum(len(idx) * (len(paren_prompts[idx[0]]) + 2) for idx in batches),
    )


def embedded_batch(
    model: Any, idx: list[int], prompts: tuple[list[list[int]], list[list[int]], list[list[int]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's common part [b, P, D] and its A, E and "(" last tokens [3b, 1, D] (in that order), embedded."""
    agree_prompts, disagree_prompts, paren_prompts = prompts
    common = torch.tensor([paren_prompts[i][:-1] for i in idx])  # [b, P]
    last = torch.tensor([[p[i][-1]] for p in (agree_prompts, disagree_prompts, paren_prompts) for i in idx])
    return model.embed(common), model.embed(last)


def readout_distributions(
    model: Any, batches: list[list[int]], states: list[tuple[torch.Tensor, torch.Tensor]], n: int, tokens
) -> tuple[np.ndarray, np.ndarray]:
    """The unsteered option distribution [n, 5] and mass [n] of every readout prompt, from the last block's
    outputs: one pass through the output head for all items (a large head is dequantised in chunks per call)."""
    picked = torch.zeros((n, 2, model.config.n_embd), dtype=states[0][0].dtype)
    for idx, (prefix, h) in zip(batches, states, strict=True):
        # the answer position is the common part's last, the after-"(" one the "(" row's only position
        picked[idx] = torch.stack((prefix[:, -1], h[2 * len(idx) :, 0]), dim=1)
    logits = model.final_logits(picked).float().numpy()
    return option_distribution(logits[:, 0], logits[:, 1], tokens)


def stored_heads(heads: np.ndarray | None, recorded: dict, idx: list[int], n: int) -> np.ndarray:
    """A batch's recorded head inputs (A rows, E rows, "(" rows: [3b, L, H, E]) into [A / E, n, L, H, E],
    allocated at the first batch (the shapes come from the hooks)."""
    acts = torch.stack([recorded[layer] for layer in sorted(recorded)], dim=1).float().numpy()
    if heads is None:
        heads = np.zeros((2, n) + acts.shape[1:], dtype=np.float32)
    b = len(idx)
    heads[0, idx], heads[1, idx] = acts[:b], acts[b : 2 * b]
    return heads


def assembled(
    items: Sequence[Item],
    heads: np.ndarray,
    blocks: np.ndarray,
    paren_tokens: torch.Tensor,
    paren_lengths: torch.Tensor,
    checkpoint_block: int,
    checkpoint: np.ndarray,
    dist: np.ndarray,
    mass: np.ndarray,
    residual_norm: np.ndarray,
    computed: int,
) -> ItemActivations:
    """What either pass recorded (heads and blocks stacked [A / E, ...]), as one ItemActivations."""
    return ItemActivations(
        item_numbers=np.asarray([i.number for i in items], dtype=np.int64),
        agree=heads[0],
        disagree=heads[1],
        paren_tokens=paren_tokens.numpy(),
        paren_lengths=paren_lengths.numpy(),
        checkpoint_block=checkpoint_block,
        checkpoint=checkpoint,
        base_dist=dist,
        base_mass=mass,
        residual_norm=residual_norm,
        agree_blocks=blocks[0],
        disagree_blocks=blocks[1],
        forward_tokens=computed,
    )


_FIELDS = (
    "item_numbers",
    "agree",
    "disagree",
    "paren_tokens",
    "paren_lengths",
    "checkpoint",
    "base_dist",
    "base_mass",
    "residual_norm",
    "agree_blocks",
    "disagree_blocks",
)


def load_cached(path: Path) -> ItemActivations | None:
    """The cached activations, or None when absent or unreadable (then they are recomputed and rewritten)."""
    values = load_arrays(path, ("checkpoint_block", *_FIELDS))
    if values is None:
        return None
    return ItemActivations(checkpoint_block=int(values.pop("checkpoint_block")), **values)


def save_cached(path: Path, acts: ItemActivations) -> None:
    save_arrays(
        path, checkpoint_block=np.int64(acts.checkpoint_block), **{f: getattr(acts, f) for f in _FIELDS}
    )


def item_activations(
    model_path: Path,
    items: Sequence[Item],
    checkpoint_block: int,
    *,
    load_model: Callable[[], Any],
    load_chat_format: Callable[[], Any],
    load_tokens: Callable[[], OptionTokens],
    system_prompt: str = SYSTEM_PROMPT,
    show_progress: bool = True,
) -> tuple[ItemActivations, bool]:
    """(activations, cache_hit). On a hit no loader is called: no model, no forward pass."""
    key = activation_cache_key(file_sha256(model_path), items, checkpoint_block, system_prompt)
    path = activation_cache_path(key)
    cached = load_cached(path)
    if cached is not None and [int(n) for n in cached.item_numbers] == [i.number for i in items]:
        return cached, True
    acts = compute_item_activations(
        load_model(),
        load_chat_format(),
        items,
        load_tokens(),
        checkpoint_block,
        system_prompt=system_prompt,
        show_progress=show_progress,
    )
    save_cached(path, acts)
    return acts, False
