"""DPO (Rafailov et al. 2023) on a person's questionnaire answers, as a LoRA on the GGUF model.

Pairs, like the paper's: for each answered item the person's letter is "chosen" and the opposite answer
(6 - a) "rejected": 5 -> (A over E), 4 -> (B over D), 2 -> (D over B), 1 -> (E over A). A neutral 3 has no
opposite: it gives two pairs, C over A and C over E (the person is in the middle, not at either extreme).
Unanswered items (0) give none. That is `pairs="opposite"`. With it "C" is never rejected, so a model whose
median answer is "C" everywhere (SmolLM2) cannot be moved off it; `pairs="all"` therefore also offers the
person's answer over EVERY other option (the categorical version of the same preference). Which style a
person gets is chosen on their own answers, with the learning rate and epochs (paso_local.converters.lora_align).

The probability of a response is the probability of the answer as eval reads it (paso_local.converters.lora.OptionIndex):
the answer's letter marginalised over the ways it can start ("A", " A", "(A", or "(" then "A").
Reference model: the frozen GGUF model (the adapter detached), its option log-probabilities computed once.

loss = -log sigmoid(beta * ((log pi(c) - log ref(c)) - (log pi(r) - log ref(r)))), averaged over pairs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from paso_local.converters.lora import AnswerInputs, LoraAdapter, OptionIndex, answer_logprobs


@dataclass(frozen=True)
class Pair:
    item: int  # item number
    chosen: int  # answer value 1..5
    rejected: int


PAIR_STYLES = ("opposite", "all")


def preference_pairs(
    answers: Mapping[int, int], numbers: Sequence[int], style: str = "opposite"
) -> list[Pair]:
    """The pairs for the items `numbers` from the person's answers (item number -> 0..5)."""
    if style not in PAIR_STYLES:
        raise ValueError(f"unknown pair style {style!r}: choose one of {', '.join(PAIR_STYLES)}")
    pairs = []
    for number in numbers:
        answer = int(answers.get(number, 0))
        if style == "all" and 1 <= answer <= 5:
            pairs += [Pair(number, answer, other) for other in range(1, 6) if other != answer]
        elif answer == 3:
            pairs += [Pair(number, 3, 5), Pair(number, 3, 1)]
        elif answer in (1, 2, 4, 5):
            pairs.append(Pair(number, answer, 6 - answer))
    return pairs


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean DPO loss, per-pair implicit reward margin beta * (...)) from log-probabilities [B]."""
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margin).mean(), margin.detach()


@dataclass(frozen=True)
class DPOSettings:
    epochs: int = 3
    lr: float = 1e-3
    beta: float = 0.1
    batch_items: int = 16
    seed: int = 0


def reference_option_logprobs(
    model: object, inputs: AnswerInputs, index: OptionIndex, batch: int = 16
) -> torch.Tensor:
    """[N, 5] log P(value) of the frozen model for every row of `inputs` (no adapter attached)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs.item_numbers), batch):
            rows = list(range(start, min(start + batch, len(inputs.item_numbers))))
            out.append(index.option_logprobs(*answer_logprobs(model, inputs, rows)))
    return torch.cat(out)


def pair_margins(
    model: object,
    adapter: LoraAdapter,
    inputs: AnswerInputs,
    index: OptionIndex,
    pairs: Sequence[Pair],
    reference: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Implicit reward margins of `pairs` under the current adapter (no grad)."""
    rows = inputs.rows([p.item for p in pairs])
    with torch.no_grad(), adapter.attached(model):
        unique = sorted(set(rows))
        logp = index.option_logprobs(*answer_logprobs(model, inputs, unique))
    where = {r: k for k, r in enumerate(unique)}
    k = torch.tensor([where[r] for r in rows])
    c = torch.tensor([p.chosen - 1 for p in pairs])
    r = torch.tensor([p.rejected - 1 for p in pairs])
    rows_t = torch.tensor(rows)
    _, margin = dpo_loss(logp[k, c], logp[k, r], reference[rows_t, c], reference[rows_t, r], beta)
    return margin


def train_dpo(
    model: object,
    adapter: LoraAdapter,
    inputs: AnswerInputs,
    index: OptionIndex,
    pairs: Sequence[Pair],
    reference: torch.Tensor,
    settings: DPOSettings,
    *,
    on_epoch: Callable[[int], None] | None = None,
    on_step: Callable[[], None] | None = None,
) -> list[float]:
    """Train `adapter` in place; the mean loss of each epoch. `on_epoch(e)` runs after epoch e (1..)."""
    torch.manual_seed(settings.seed)
    order = random.Random(settings.seed)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=settings.lr, weight_decay=0.0)
    by_item: dict[int, list[Pair]] = {}
    for pair in pairs:
        by_item.setdefault(pair.item, []).append(pair)
    items = sorted(by_item)
    losses = []
    for epoch in range(1, settings.epochs + 1):
        order.shuffle(items)
        total, count = 0.0, 0
        for start in range(0, len(items), settings.batch_items):
            chunk = items[start : start + settings.batch_items]  # each item is run once per epoch
            unique = inputs.rows(chunk)
            batch = [p for number in chunk for p in by_item[number]]
            where = {number: k for k, number in enumerate(chunk)}
            with torch.enable_grad(), adapter.attached(model):
                logp = index.option_logprobs(*answer_logprobs(model, inputs, unique))  # [U, 5]
                k = torch.tensor([where[p.item] for p in batch])
                c = torch.tensor([p.chosen - 1 for p in batch])
                r = torch.tensor([p.rejected - 1 for p in batch])
                rows_t = torch.tensor(inputs.rows([p.item for p in batch]))
                loss, _ = dpo_loss(
                    logp[k, c], logp[k, r], reference[rows_t, c], reference[rows_t, r], settings.beta
                )
                optimizer.zero_grad()
                loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
            if on_step is not None:
                on_step()
        losses.append(total / max(count, 1))
        if on_epoch is not None:
            on_epoch(epoch)
    return losses
