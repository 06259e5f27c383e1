"""PAS (Zhu et al. 2025) fit for one person: labels from answers, one linear probe per attention head (all
heads at once in torch), top-K heads by validation accuracy, mass-mean directions with sigma, folded through
W_o into residual-stream vectors (one per steered block, unit strength)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from paso_local.errors import PasoError

MIN_USABLE_ANSWERS = (
    24  # non-neutral answers (1-2 or 4-5) PAS needs: a 60/40 split and k-fold CV stay meaningful
)
PROBE_L2 = 1.0
PROBE_NEWTON_STEPS = 25
SPLIT_SEED = 0


@dataclass(frozen=True)
class Labels:
    """The person's side per usable item: `rows` index the activation arrays, `agrees` is True for answers
    4-5."""

    rows: np.ndarray  # int [n]
    agrees: np.ndarray  # bool [n]


def person_labels(answers: Mapping[int, int], item_numbers: Sequence[int]) -> Labels:
    """4-5 -> "A" is the person's side; 1-2 -> "E"; 3 and missing (0 / absent) are dropped."""
    rows, agrees = [], []
    for row, number in enumerate(item_numbers):
        answer = answers.get(int(number), 0)
        if answer in (4, 5):
            rows.append(row)
            agrees.append(True)
        elif answer in (1, 2):
            rows.append(row)
            agrees.append(False)
    return Labels(np.asarray(rows, dtype=np.int64), np.asarray(agrees, dtype=bool))


def require_enough_answers(
    labels: Labels, minimum: int = MIN_USABLE_ANSWERS, who: str = "this profile"
) -> None:
    """PasoError saying how many more non-neutral answers are needed."""
    have = len(labels.rows)
    if have < minimum:
        raise PasoError(
            f"{who} has {have} usable answers; PAS needs at least {minimum}. Only answers that take a side "
            "count: 4-5 (accurate) or 1-2 (inaccurate); 3 (neutral) and skipped items do not. "
            f"Give {minimum - have} more non-neutral answers (`paso-local onboard` to revise them), "
            "then run align again."
        )


def probe_samples(
    agree_acts: np.ndarray, disagree_acts: np.ndarray, labels: Labels
) -> tuple[np.ndarray, np.ndarray]:
    """Stack A- and E-prompt activations of the labelled items: X [2n, ...], y [2n] (1 = the person's side)"""
    a = agree_acts[labels.rows]
    e = disagree_acts[labels.rows]
    x = np.concatenate([a, e], axis=0)
    y = np.concatenate([labels.agrees, ~labels.agrees]).astype(np.float32)
    return x, y


def split_items(n: int, seed: int = SPLIT_SEED, train_fraction: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Seeded item-level split (both prompts of an item stay on one side): (train rows, validation rows)."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(train_fraction * n))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


@dataclass(frozen=True)
class ProbeResult:
    weights: torch.Tensor  # [P, d] on standardised features
    bias: torch.Tensor  # [P]
    val_accuracy: np.ndarray  # [P]
    val_loss: np.ndarray  # [P]


def fit_probes(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    l2: float = PROBE_L2,
    steps: int = PROBE_NEWTON_STEPS,
) -> ProbeResult:
    """P independent L2-regularised logistic regressions at once (batched Newton). x_*: [n, P, d], y_*: [n]"""
    x_train = x_train.double()
    mean = x_train.mean(dim=0)  # [P, d]
    std = x_train.std(dim=0, unbiased=False).clamp_min(1e-6)
    xt = ((x_train - mean) / std).transpose(0, 1)  # [P, n, d]
    xt = torch.cat([xt, torch.ones(xt.shape[:2] + (1,), dtype=xt.dtype)], dim=2)  # bias column
    p_count, _, d1 = xt.shape
    y = y_train.double()[None, :]  # [1, n]
    theta = torch.zeros(p_count, d1, dtype=xt.dtype)
    reg = torch.full((d1,), l2, dtype=xt.dtype)
    reg[-1] = 1e-8  # the bias is not penalised
    for _ in range(steps):
        prob = torch.sigmoid(torch.einsum("pnd,pd->pn", xt, theta))
        grad = torch.einsum("pnd,pn->pd", xt, prob - y) + reg * theta
        weight = prob * (1 - prob)
        hess = torch.einsum("pnd,pn,pne->pde", xt, weight, xt) + torch.diag(reg)
        step = torch.linalg.solve(hess, grad.unsqueeze(-1)).squeeze(-1)
        theta = theta - step
        if step.abs().max() < 1e-8:
            break
    xv = ((x_val.double() - mean) / std).transpose(0, 1)
    logits = torch.einsum("pnd,pd->pn", xv, theta[:, :-1]) + theta[:, -1:]
    yv = y_val.double()[None, :]
    accuracy = ((logits > 0).double() == yv).double().mean(dim=1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, yv.expand_as(logits), reduction="none"
    )
    return ProbeResult(theta[:, :-1], theta[:, -1], accuracy.numpy(), loss.mean(dim=1).numpy())


def rank_heads(
    val_accuracy: np.ndarray, val_loss: np.ndarray, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Head indices best first: higher validation accuracy, then lower validation loss, then lower index."""
    index = np.arange(len(val_accuracy))
    order = np.lexsort((index, val_loss, -val_accuracy))
    if allowed is not None:
        order = order[allowed[order]]
    return order


def mass_mean_directions(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per head: unit (mean of label 1 - mean of label 0) [P, d], and sigma [P] = std (ddof 0) of x projected
    on it."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    diff = x[y].mean(axis=0) - x[~y].mean(axis=0)  # [P, d]
    norm = np.linalg.norm(diff, axis=-1, keepdims=True)
    direction = diff / np.maximum(norm, 1e-12)
    projections = np.einsum("npd,pd->np", x, direction)
    return direction, projections.std(axis=0)


def fold_through_wo(
    heads: Sequence[tuple[int, int]],
    displacements: np.ndarray,
    attn_output_weight: Callable[[int], np.ndarray],
    head_dim: int,
) -> dict[int, np.ndarray]:
    """Residual-stream vectors per attention layer:sum over kept heads of W_o[:, head slice] @ displacement"""
    out: dict[int, np.ndarray] = {}
    weights: dict[int, np.ndarray] = {}
    for (layer, head), disp in zip(heads, displacements, strict=False):
        if layer not in weights:
            weights[layer] = np.asarray(attn_output_weight(layer), dtype=np.float64)
        w = weights[layer][:, head * head_dim : (head + 1) * head_dim]  # [n_embd, head_dim]
        out[layer] = out.get(layer, 0.0) + w @ np.asarray(disp, dtype=np.float64)
    return {layer: vec.astype(np.float32) for layer, vec in sorted(out.items())}


@dataclass(frozen=True)
class PasFit:
    heads: list[tuple[int, int]]  # (layer, head) kept, best first
    val_accuracy: list[float]
    directions: np.ndarray  # [K, head_dim] unit
    sigmas: np.ndarray  # [K]
    layer_vectors: dict[int, np.ndarray]  # attention layer -> W_o-folded vector at unit strength [n_embd]

    def placed(self, shift: int) -> dict[int, np.ndarray]:
        """The vectors as llama.cpp directions: at block L (shift 0) or at block L-1 (shift 1)."""
        return {layer - shift: vec for layer, vec in self.layer_vectors.items()}


def fit_pas(
    agree_acts: np.ndarray,
    disagree_acts: np.ndarray,
    labels: Labels,
    k: int,
    attn_output_weight: Callable[[int], np.ndarray],
    min_layer: int = 1,
    seed: int = SPLIT_SEED,
) -> PasFit:
    """PAS on activations [N, n_layer, n_head, head_dim] of the A and E prompts for the labelled rows.

    Heads of layers below `min_layer` are not eligible (llama.cpp cannot steer block 0)."""
    x, y = probe_samples(agree_acts, disagree_acts, labels)
    n = len(labels.rows)
    return fit_heads(
        x, y, np.concatenate([np.arange(n), np.arange(n)]), k, attn_output_weight, min_layer, seed
    )


def fit_pas_statements(
    statement_acts: np.ndarray,
    labels: Labels,
    k: int,
    attn_output_weight: Callable[[int], np.ndarray],
    min_layer: int = 1,
    seed: int = SPLIT_SEED,
) -> PasFit:
    """PAS on the statement-meaning contrast: activations [N, n_layer, n_head, head_dim] of the model saying
    each statement; the person's side is the statements they agree with (label 1) against those they reject."""
    x = statement_acts[labels.rows]
    y = labels.agrees.astype(np.float32)
    return fit_heads(x, y, np.arange(len(labels.rows)), k, attn_output_weight, min_layer, seed)


def fit_heads(
    x: np.ndarray,
    y: np.ndarray,
    sample_item: np.ndarray,
    k: int,
    attn_output_weight: Callable[[int], np.ndarray],
    min_layer: int = 1,
    seed: int = SPLIT_SEED,
) -> PasFit:
    """Probes, top-K heads, mass-mean directions and the W_o fold for samples x [n, n_layer, n_head, head_dim]
    with labels y [n]; `sample_item` [n] says which item each sample comes from (the split keeps an item's
    samples together)."""
    _, n_layer, n_head, head_dim = x.shape
    x = x.reshape(len(x), n_layer * n_head, head_dim)
    train_items, val_items = split_items(int(sample_item.max()) + 1, seed)
    tr = np.flatnonzero(np.isin(sample_item, train_items))
    va = np.flatnonzero(np.isin(sample_item, val_items))
    first = min(max(min_layer, 0), n_layer) * n_head  # heads are numbered layer-major: eligible ones last
    xt = torch.from_numpy(np.ascontiguousarray(x[:, first:]))  # probes only for heads that may be chosen
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    probes = fit_probes(xt[tr], yt[tr], xt[va], yt[va])
    top = first + rank_heads(probes.val_accuracy, probes.val_loss)[:k]
    direction, sigma = mass_mean_directions(x[:, top], y)
    heads = [(int(p // n_head), int(p % n_head)) for p in top]
    vectors = fold_through_wo(heads, direction * sigma[:, None], attn_output_weight, head_dim)
    return PasFit(heads, [float(probes.val_accuracy[p - first]) for p in top], direction, sigma, vectors)


@dataclass(frozen=True)
class ResidualFit:
    """The residual-stream mean difference (no heads): the person's side minus the other side of their
    labelled items, at the one block whose difference separates held-out items best."""

    block: int  # the vector is added to this block's output (where it was read)
    val_accuracy: list[float]  # per candidate block, first_block first
    vector: np.ndarray  # [n_embd], raw mean difference

    def placed(self) -> dict[int, np.ndarray]:
        return {self.block: self.vector.astype(np.float32)}


def fit_residual(
    agree_blocks: np.ndarray,
    disagree_blocks: np.ndarray,
    labels: Labels,
    first_block: int,
    last_block: int,
    seed: int = SPLIT_SEED,
) -> ResidualFit:
    """Mean-difference steering (contrastive activation addition) from block outputs [N, B, D] at the A / E
    letter of blocks first_block.. (index 0 = first_block). The block is chosen on a seeded 60/40 item split
    of the labelled items: the mass-mean direction of the training items classifies the validation items by
    which side of the training classes' midpoint they project to; best accuracy, then the wider validation
    margin, then the earlier block. The vector is the mean difference over all labelled items there."""
    x, y = probe_samples(agree_blocks, disagree_blocks, labels)  # [2n, B, D]
    y = y.astype(bool)
    n = len(labels.rows)
    item = np.concatenate([np.arange(n), np.arange(n)])
    train_items, _ = split_items(n, seed)
    tr = np.isin(item, train_items)
    x = np.asarray(x[:, : last_block - first_block + 1], dtype=np.float64)
    diff = x[tr & y].mean(axis=0) - x[tr & ~y].mean(axis=0)  # [B, D]
    direction = diff / np.maximum(np.linalg.norm(diff, axis=-1, keepdims=True), 1e-12)
    proj = np.einsum("nbd,bd->nb", x, direction)
    midpoint = (proj[tr & y].mean(axis=0) + proj[tr & ~y].mean(axis=0)) / 2
    va = ~tr
    accuracy = ((proj[va] > midpoint) == y[va, None]).mean(axis=0)
    spread = proj[va].std(axis=0) + 1e-12
    margin = (proj[va & y].mean(axis=0) - proj[va & ~y].mean(axis=0)) / spread
    order = np.lexsort((np.arange(len(accuracy)), -margin, -accuracy))
    best = int(order[0])
    vector = x[y, best].mean(axis=0) - x[~y, best].mean(axis=0)
    return ResidualFit(first_block + best, [float(a) for a in accuracy], vector.astype(np.float32))
