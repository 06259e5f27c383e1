"""DPO and PPO baselines for one person: LoRA adapters trained in torch on the GGUF model, written as
llama.cpp LoRA GGUFs. `paso-local align --method dpo|ppo` runs paso_local.converters.lora_command; eval calls
`LoraAligner.align` (paso_local.converters.eval_aligner). The trainer's inputs are cached by paso_local.converters.lora_inputs, its
hyper-parameters chosen by paso_local.converters.lora_selection.

Fixed choices (not tuned on anyone's answers): LoRA rank 4, alpha 8, on q, o, gate, up, down of the last block
(paso_local.converters.lora explains why there); DPO beta 0.1; PPO 4 samples per item, clip 0.2, KL coefficient 0.05,
2 inner epochs.
Chosen per person from their OWN answers only: the learning rate and the number of epochs (DPO) / iterations
(PPO), including 0 (no training), by training on 80% of the person's items (seeded split) and scoring the
median answer on the other 20% (the Aligned Score's per-item error, as eval reads answers). The adapter is
then trained on all the items with the chosen values. The 180 held-out items are never seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.dpo import DPOSettings, preference_pairs, reference_option_logprobs, train_dpo
from paso_local.converters.lora import (
    LoraAdapter,
    LoraConfig,
    OptionIndex,
    open_training_model,
    option_distributions,
)
from paso_local.converters.lora_export import write_lora_gguf
from paso_local.converters.lora_inputs import answer_inputs, quiet_progress
from paso_local.converters.lora_selection import choose_hyperparameters, split_for_validation
from paso_local.converters.ppo import PPOSettings, ReplyParser, reference_logprobs, train_ppo
from paso_local.errors import PasoError
from paso_local.llm.readout import OptionTokens, median_answer
from paso_local.person.inventory import form_items
from paso_local.progress import progress_bar
from paso_local.store.memory import peak_rss_mb, reset_peak_rss

METHODS = ("dpo", "ppo")
RANK = 4
ALPHA = 8.0
LEARNING_RATES = {"dpo": (1e-2, 3e-2), "ppo": (1e-3, 3e-3)}  # the grid each method's lr is chosen from
MAX_EPOCHS = 3  # DPO epochs / PPO iterations tried: 0..MAX_EPOCHS
VALIDATION_FRACTION = 0.2
MIN_ANSWERS = 20
CACHE_VERSION = 1


@dataclass
class LoraAlignResult:
    method: str
    tensors: dict[str, tuple[np.ndarray, np.ndarray]]
    config: LoraConfig
    chosen: dict[str, float]  # lr, epochs
    selection: list[dict[str, float]]  # every candidate's validation error
    history: list[float]  # final training: loss per epoch (dpo) / mean reward per iteration (ppo)
    seconds: float
    peak_rss_mb: float
    n_answers: int
    report: dict[str, Any] = field(default_factory=dict)

    def as_report(self, profile: str, adapter_path: Path, model_path: Path) -> dict[str, Any]:
        """`paso-local align --method dpo|ppo --json`: what was trained, chosen and spent."""
        return {
            "method": self.method,
            "profile": profile,
            "adapter_path": str(adapter_path),
            "model": str(model_path),
            "rank": self.config.rank,
            "alpha": self.config.alpha,
            "first_layer": self.config.first_layer,
            "chosen": self.chosen,
            "selection": self.selection,
            "history": self.history,
            "usable_answers": self.n_answers,
            "seconds": round(self.seconds, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }

    def write(self, path: str | Path, architecture: str, extra: Mapping[str, Any] | None = None) -> Path:
        metadata = {
            "method": self.method,
            "rank": self.config.rank,
            "first_layer": self.config.first_layer,
            "targets": list(self.config.targets),
            "chosen": self.chosen,
            **(extra or {}),
        }
        return write_lora_gguf(
            self.tensors, path, architecture=architecture, alpha=self.config.alpha, metadata=metadata
        )


class LoraAligner:
    """One model loaded for training, with the person-independent parts (the residual entering the LoRA blocks
    for every item, the reference model's answers) computed once and reused for every person."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        form: str = "120",
        show_progress: bool = True,
        rank: int = RANK,
        alpha: float = ALPHA,
    ):
        from paso_local.llm.chat_format import ChatFormat

        self.model_path = Path(model_path)
        self.show_progress = show_progress
        self.chat_format = ChatFormat.from_model(self.model_path)
        self.options = OptionTokens.from_chat_format(self.chat_format)
        self.index = OptionIndex(self.options)
        self.model = open_training_model(self.model_path)
        n_layer = self.model.config.n_layer
        self.config = LoraConfig(rank=rank, alpha=alpha, first_layer=n_layer - 1)
        self.items = form_items(form)
        self.numbers = [i.number for i in self.items]
        self.inputs = answer_inputs(
            self.model,
            self.chat_format,
            self.items,
            self.options,
            model_path=self.model_path,
            first_layer=self.config.first_layer,
            show_progress=show_progress,
        )
        with quiet_progress(show_progress, "reference model answers", 1):
            self.reference = reference_option_logprobs(self.model, self.inputs, self.index)
        self._reference_full: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def architecture(self) -> str:
        return self.model.config.arch

    def reference_full(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._reference_full is None:
            self._reference_full = reference_logprobs(self.model, self.inputs)
        return self._reference_full

    # --- training ---------------------------------------------------------------------------------------

    def train(
        self,
        method: str,
        adapter: LoraAdapter,
        answers: Mapping[int, int],
        numbers: Sequence[int],
        lr: float,
        epochs: int,
        seed: int,
        on_epoch: Callable[[int], None] | None,
        on_step: Callable[[], None] | None,
        pair_style: str = "opposite",
    ) -> list[float]:
        if epochs == 0:
            return []
        if method == "dpo":
            pairs = preference_pairs(answers, numbers, pair_style)
            settings = DPOSettings(epochs=epochs, lr=lr, seed=seed)
            return train_dpo(
                self.model,
                adapter,
                self.inputs,
                self.index,
                pairs,
                self.reference,
                settings,
                on_epoch=on_epoch,
                on_step=on_step,
            )
        parser = ReplyParser(self.chat_format.detokenize)
        settings = PPOSettings(iterations=epochs, lr=lr, seed=seed)
        return train_ppo(
            self.model,
            adapter,
            self.inputs,
            answers,
            numbers,
            self.reference_full(),
            parser,
            self.options.paren_token,
            settings,
            on_iteration=on_epoch,
            on_step=on_step,
        )

    def steps(self, method: str, n_items: int, epochs: int) -> int:
        batches = -(-n_items // (DPOSettings.batch_items if method == "dpo" else PPOSettings.batch_items))
        return batches * epochs * (1 if method == "dpo" else PPOSettings.inner_epochs)

    def validation_error(
        self, adapter: LoraAdapter | None, answers: Mapping[int, int], numbers: Sequence[int]
    ) -> float:
        """Mean |median answer - person's answer| over `numbers` (the person's own items)."""
        sub = self.inputs.subset(self.inputs.rows(numbers))
        dist, _ = option_distributions(self.model, adapter, sub, self.index)
        truth = np.asarray([answers[n] for n in numbers], dtype=float)
        return float(np.abs(median_answer(dist) - truth).mean())

    def align(
        self,
        answers: Mapping[int, int],
        method: str,
        *,
        seed: int = 0,
        learning_rates: Sequence[float] | None = None,
        max_epochs: int | None = None,
    ) -> LoraAlignResult:
        """Train the person's adapter (hyper-parameters chosen on a slice of their own answers)."""
        if method not in METHODS:
            raise PasoError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
        learning_rates = LEARNING_RATES[method] if learning_rates is None else tuple(learning_rates)
        max_epochs = MAX_EPOCHS if max_epochs is None else max_epochs
        reset_peak_rss()
        started = time.perf_counter()
        answered = [n for n in self.numbers if 1 <= int(answers.get(n, 0)) <= 5]
        if len(answered) < MIN_ANSWERS:
            raise PasoError(
                f"{method} needs at least {MIN_ANSWERS} answered items of the form, got {len(answered)}"
            )
        answers = {n: int(answers[n]) for n in answered}
        val, train = split_for_validation(answered, seed)
        best, selection = choose_hyperparameters(
            self,
            method,
            answers,
            train,
            val,
            learning_rates=learning_rates,
            max_epochs=max_epochs,
            seed=seed,
        )
        lr, epochs, style = float(best["lr"]), int(best["epochs"]), str(best["pairs"])
        adapter = LoraAdapter.create(self.model, self.config, seed=seed)
        with progress_bar(
            f"{method}: training on all {len(answered)} answers",
            max(self.steps(method, len(answered), epochs), 1),
            enabled=self.show_progress,
        ) as bar:
            history = self.train(
                method, adapter, answers, answered, lr, epochs, seed, None, bar.advance, style
            )
        return LoraAlignResult(
            method=method,
            tensors=adapter.tensors(),
            config=self.config,
            chosen={"lr": lr, "epochs": epochs, **({"pairs": style} if method == "dpo" else {})},
            selection=selection,
            history=[float(h) for h in history],
            seconds=time.perf_counter() - started,
            peak_rss_mb=peak_rss_mb(),
            n_answers=len(answered),
        )
