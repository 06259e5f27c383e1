"""`paso-local train-reader`: one LoRA that teaches a model to read a person's answers, trained on synthetic people.

DPO and PPO train an adapter per person on their 120 answers and change nothing; what the model lacks is the skill
of reading a person's answers, which can be taught once per model. The examples
(`paso_local.person.reader_examples`): synthetic people (`paso_local.person.synthetic`) answering a 120-form
question after their related answers in the retrieval framing (same-key answers as earlier questionnaire turns,
k = 4). The loss is the cross-entropy of the person's option under the five-option distribution eval reads
(`paso_local.converters.lora.OptionIndex`, normalised over the options). Placement as for DPO/PPO: the last block
(`paso_local.converters.lora`), so everything below it is computed once per example (in float32).

Validation, every epoch: new synthetic people on the training questions, and on questions never trained on (one
120-form item per facet); the epoch-0 row is the untouched model. Checkpointed after every epoch, so `--resume`
goes on where a run stopped; exported as a llama.cpp LoRA GGUF (`paso_local.converters.lora_export`).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.lora import (
    AnswerInputs,
    LoraAdapter,
    LoraConfig,
    OptionIndex,
    answer_logprobs,
    inputs_for_prompts,
    open_training_model,
    option_distributions,
    readout_tokens,
)
from paso_local.errors import PasoError
from paso_local.evaluation.memory_methods import READER_K
from paso_local.llm.readout import OptionTokens, median_answer
from paso_local.person.answer_memory import predicted_option
from paso_local.person.reader_examples import ReaderExample, reader_data
from paso_local.person.synthetic import shipped_model
from paso_local.progress import progress_bar, status

CHECKPOINT_SCHEMA = 2  # 2: the best epoch's adapter is kept beside the last


@dataclass(frozen=True)
class ReaderSettings:
    people: int = 300  # synthetic training people
    validation_people: int = 60
    per_person: int = 4  # questions per person
    k: int = READER_K  # the answers shown per question; eval's reader methods show as many
    framing: str = "turns"
    same_key: bool = True
    epochs: int = 4
    lr: float = 1e-3
    batch: int = 16
    rank: int = 8
    alpha: float = 16.0
    seed: int = 0


def option_nll(
    index: OptionIndex, logp1: torch.Tensor, logp2: torch.Tensor, options: torch.Tensor
) -> torch.Tensor:
    """Mean -log P(the person's option), the five options' distribution normalised as eval reads it."""
    logp = index.option_logprobs(logp1, logp2)
    logp = logp - torch.logsumexp(logp, dim=-1, keepdim=True)
    return -logp[torch.arange(len(options)), options - 1].mean()


def measure(
    model: Any, adapter: LoraAdapter | None, inputs: AnswerInputs, options: np.ndarray, index: OptionIndex
) -> dict:
    """Cross-entropy, mean |median answer - option| and exact-answer rate over the examples."""
    dist, _ = option_distributions(model, adapter, inputs, index)
    chosen = dist[np.arange(len(options)), options - 1]
    median = median_answer(dist)
    return {
        "nll": float(-np.log(np.clip(chosen, 1e-12, 1)).mean()),
        "mae": float(np.abs(median - options).mean()),
        "exact": float((median == options).mean()),
    }


def trait_reading_mae(examples: list[ReaderExample]) -> float:
    """What the retrieved answers say with no language model: their keyed mean, rounded (3 when none)."""
    errors = []
    for example in examples:
        value = predicted_option(example.recalled)
        errors.append(abs(np.floor((3.0 if value is None else value) + 0.5) - example.option))
    return float(np.mean(errors))


class ReaderTraining:
    """The model loaded for training, the synthetic examples and their frozen inputs below the last block."""

    def __init__(self, model_path: Path, settings: ReaderSettings, show_progress: bool = True):
        from paso_local.llm.chat_format import ChatFormat

        self.model_path = Path(model_path)
        self.settings = settings
        self.show_progress = show_progress
        self.chat_format = ChatFormat.from_model(self.model_path)
        self.options = OptionTokens.from_chat_format(self.chat_format)
        self.index = OptionIndex(self.options)
        self.model = open_training_model(self.model_path)
        self.config = LoraConfig(
            rank=settings.rank, alpha=settings.alpha, first_layer=self.model.config.n_layer - 1
        )
        s = settings
        self.data = reader_data(
            shipped_model(),
            people=s.people,
            validation_people=s.validation_people,
            per_person=s.per_person,
            k=s.k,
            framing=s.framing,
            same_key=s.same_key,
            seed=s.seed,
        )
        self.sets = {
            "training": self.data.training,
            "new people": self.data.new_people,
            "new people, new questions": self.data.new_people_and_items,
        }
        self.inputs = {name: self._inputs(name, examples) for name, examples in self.sets.items()}
        self.targets = {name: np.array([e.option for e in ex]) for name, ex in self.sets.items()}

    def _inputs(self, name: str, examples: list[ReaderExample]) -> AnswerInputs:
        prompts = [
            readout_tokens(self.chat_format, e.item, self.options, e.context.system_prompt, e.context.turns)
            for e in examples
        ]
        with progress_bar(
            f"model below the last block: {name}", len(prompts), enabled=self.show_progress
        ) as bar:
            return inputs_for_prompts(
                self.model, prompts, range(len(prompts)), self.chat_format.eos_token_id, on_batch=bar.advance
            )

    def validation(self, adapter: LoraAdapter | None) -> dict:
        return {
            n: measure(self.model, adapter, self.inputs[n], self.targets[n], self.index)
            for n in VALIDATION_SETS
        }

    def train(self, checkpoint: Path, resume: bool) -> tuple[LoraAdapter, list[dict]]:
        """Train for the settings' epochs, checkpointing after each; with `resume`, from the checkpoint. Returns
        the adapter of the epoch `best_epoch` chooses on the synthetic validation people."""
        torch.manual_seed(self.settings.seed)
        adapter = LoraAdapter.create(self.model, self.config, seed=self.settings.seed)
        optimizer = torch.optim.Adam(adapter.parameters(), lr=self.settings.lr)
        self.best_state = _copied(adapter.state_dict())  # epoch 0: the untouched model
        history = self._resumed(checkpoint, adapter, optimizer) if resume else []
        if not history:
            history = [{"epoch": 0, "loss": None, **self.validation(None)}]
        inputs, targets = self.inputs["training"], torch.as_tensor(self.targets["training"])
        steps = -(-len(targets) // self.settings.batch)
        for epoch in range(len(history), self.settings.epochs + 1):
            order = torch.randperm(
                len(targets), generator=torch.Generator().manual_seed(self.settings.seed + epoch)
            )
            losses = []
            with progress_bar(
                f"reader epoch {epoch}/{self.settings.epochs}", steps, enabled=self.show_progress
            ) as bar:
                with adapter.attached(self.model):
                    for start in range(0, len(order), self.settings.batch):
                        rows = order[start : start + self.settings.batch].tolist()
                        logp1, logp2 = answer_logprobs(self.model, inputs, rows)
                        loss = option_nll(self.index, logp1, logp2, targets[rows])
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        losses.append(float(loss.detach()))
                        bar.advance()
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), **self.validation(adapter)})
            status(_epoch_line(history[-1]))
            if best_epoch(history) == epoch:
                self.best_state = _copied(adapter.state_dict())
            self._checkpoint(checkpoint, adapter, optimizer, history)
        adapter.load_state_dict(self.best_state)
        return adapter, history

    def _checkpoint(self, path: Path, adapter: LoraAdapter, optimizer: Any, history: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "schema": CHECKPOINT_SCHEMA,
            "settings": asdict(self.settings),
            "model": str(self.model_path),
            "adapter": adapter.state_dict(),
            "optimizer": optimizer.state_dict(),
            "history": history,
            "best": self.best_state,
        }
        temporary = path.with_name(path.name + ".tmp")
        torch.save(state, temporary)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)

    def _resumed(self, path: Path, adapter: LoraAdapter, optimizer: Any) -> list[dict]:
        if not path.exists():
            return []
        try:
            state = torch.load(path, weights_only=False)
        except Exception as exc:  # a damaged checkpoint: say which file, start again only if asked to
            raise PasoError(
                f"{path}: cannot read the reader checkpoint ({exc}); delete it to start again"
            ) from exc
        if state.get("schema") != CHECKPOINT_SCHEMA or state.get("settings") != asdict(self.settings):
            raise PasoError(f"{path}: a checkpoint of other settings; delete it or run with its settings")
        adapter.load_state_dict(state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        self.best_state = state["best"]
        status(f"Resuming the reader after epoch {state['history'][-1]['epoch']} ({path})")
        return list(state["history"])


VALIDATION_SETS = ("new people", "new people, new questions")


def best_epoch(history: list[dict]) -> int:
    """The epoch whose adapter is kept: the lowest mean |error| over the two synthetic validation sets (what
    eval's Aligned Score measures), ties to the lower cross-entropy, then the earlier epoch. Epoch 0 is the
    untouched model: a reader that learnt nothing that carries to new people stays a no-op."""

    def key(row: dict) -> tuple[float, float, int]:
        mae = float(np.mean([row[name]["mae"] for name in VALIDATION_SETS]))
        nll = float(np.mean([row[name]["nll"] for name in VALIDATION_SETS]))
        return round(mae, 9), round(nll, 9), row["epoch"]

    return min(history, key=key)["epoch"]


def _copied(state: dict) -> dict:
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def _epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']}"] + ([f"train loss {row['loss']:.3f}"] if row["loss"] is not None else [])
    for name in VALIDATION_SETS:
        m = row[name]
        parts.append(f"{name}: nll {m['nll']:.3f}, |err| {m['mae']:.3f}, exact {m['exact']:.2f}")
    return "; ".join(parts)


def train_reader(
    model_path: Path, settings: ReaderSettings, out: Path, resume: bool, show_progress: bool = True
) -> dict:
    """Train, export the adapter to `out`, and report what was measured."""
    from paso_local.converters.lora_export import write_lora_gguf
    from paso_local.llm.modelfiles import file_sha256

    started = time.perf_counter()
    training = ReaderTraining(model_path, settings, show_progress)
    prepared = time.perf_counter() - started
    checkpoint = out.with_name(out.name + ".checkpoint")
    adapter, history = training.train(checkpoint, resume)
    write_lora_gguf(
        adapter.tensors(),
        out,
        architecture=training.model.config.arch,
        alpha=training.config.alpha,
        metadata={"model_sha256": file_sha256(model_path), "purpose": "paso-local profile reader"},
    )
    return {
        "adapter": str(out),
        "model": str(model_path),
        "settings": asdict(settings),
        "examples": {name: len(examples) for name, examples in training.sets.items()},
        "history": history,
        "kept_epoch": best_epoch(history),
        "no_model_reading_mae": {n: trait_reading_mae(training.sets[n]) for n in training.sets},
        "seconds": {"prepare": round(prepared, 1), "total": round(time.perf_counter() - started, 1)},
    }


def reader_path_for(model_path: Path) -> Path:
    """Default output: `lora_adapter.reader_adapter_path`, its folder made owner-only."""
    from paso_local.llm.lora_adapter import reader_adapter_path
    from paso_local.store.paths import ensure_private_dir

    path = reader_adapter_path(model_path)
    ensure_private_dir(path.parent)
    return path


def run_train_reader(args: Any) -> int:
    """`paso-local train-reader`: train (or resume), export, print a summary, `--json` the report."""
    from paso_local.llm.modelfiles import resolve_model
    from paso_local.store.storage import check_output_writable, write_report

    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = resolve_model(args.model)
    out = Path(args.out).expanduser() if args.out else reader_path_for(model_path)
    check_output_writable(out, what="the reader adapter", example="reader-lora.gguf")
    settings = ReaderSettings(
        people=args.people,
        validation_people=args.validation_people,
        per_person=args.per_person,
        epochs=args.epochs,
        lr=args.lr,
    )
    counts = (settings.people, settings.validation_people, settings.per_person, settings.epochs)
    if min(counts) < 1 or not settings.lr > 0:
        raise PasoError(
            "--people, --validation-people, --per-person and --epochs must be at least 1, --lr positive"
        )
    report = train_reader(model_path, settings, out, args.resume)
    kept = report["history"][report["kept_epoch"]]
    why = "the untouched model: no epoch did better" if kept["epoch"] == 0 else "the lowest validation |err|"
    status(f"Wrote {out}: epoch {kept['epoch']} kept ({why})\n  {_epoch_line(kept)}")
    if args.json:
        write_report(report, args.json)
    return 0
