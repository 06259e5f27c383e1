"""Choosing a person's LoRA learning rate and epochs (DPO) / iterations (PPO) from their OWN answers: train on
80% of their items (a seeded split), score the median answer on the other 20% after every epoch (the Aligned
Score's per-item error, as eval reads answers), keep the best candidate (0 epochs, no training, included)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from paso_local.converters.dpo import PAIR_STYLES
from paso_local.converters.lora import LoraAdapter
from paso_local.progress import progress_bar

VALIDATION_FRACTION = 0.2


def split_for_validation(answered: Sequence[int], seed: int) -> tuple[list[int], list[int]]:
    """(validation items, training items), each sorted: a seeded VALIDATION_FRACTION of `answered`."""
    shuffled = list(answered)
    random.Random(seed).shuffle(shuffled)
    n_val = max(1, int(round(VALIDATION_FRACTION * len(shuffled))))
    return sorted(shuffled[:n_val]), sorted(shuffled[n_val:])


def choose_hyperparameters(
    trainer: Any,
    method: str,
    answers: Mapping[int, int],
    train: Sequence[int],
    val: Sequence[int],
    *,
    learning_rates: Sequence[float],
    max_epochs: int,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The best candidate ({"lr", "epochs", "pairs", "validation_error"}) and every candidate tried.
    `trainer`: a paso_local.converters.lora_align.LoraAligner (its model, `train`, `steps`, `validation_error`)."""
    base_error = trainer.validation_error(None, answers, val)
    selection = [{"lr": 0.0, "epochs": 0, "pairs": "-", "validation_error": base_error}]
    styles = PAIR_STYLES if method == "dpo" else ("-",)
    grid = [(lr, style) for style in styles for lr in learning_rates]
    total = sum(trainer.steps(method, len(train), max_epochs) for _ in grid)
    with progress_bar(
        f"{method}: choosing lr and epochs on your answers", total, enabled=trainer.show_progress
    ) as bar:
        for lr, style in grid:
            adapter = LoraAdapter.create(trainer.model, trainer.config, seed=seed)

            def scored(
                epoch: int, lr: float = lr, style: str = style, adapter: LoraAdapter = adapter
            ) -> None:
                error = trainer.validation_error(adapter, answers, val)
                selection.append({"lr": lr, "epochs": epoch, "pairs": style, "validation_error": error})

            trainer.train(method, adapter, answers, train, lr, max_epochs, seed, scored, bar.advance, style)
    best = min(selection, key=lambda c: (round(c["validation_error"], 9), c["epochs"], c["lr"]))
    return best, selection
