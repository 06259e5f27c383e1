"""The models an assessment loads: the replier (the model every method runs on) and the judge, which may be
the same file and then shares one llama.cpp context (the judge always clears the steering first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.modelfiles import embedded_model_path, resolve_model

BATCH_TOKENS = 512  # the most tokens one decode takes; a prompt's part after its shared prefix must fit it


@dataclass
class LoadedModel:
    path: Path
    runtime: object  # paso_local.runtime.Runtime
    n_batch: int = BATCH_TOKENS

    @property
    def n_ctx(self) -> int:
        return int(self.runtime.info.n_ctx)

    def fits(self, tokens: int) -> bool:
        """Whether a prompt of `tokens` tokens (plus one for what the model writes next) fits the context."""
        return tokens + 1 <= self.n_ctx

    def close(self) -> None:
        self.runtime.close()


def shared_prefix(prompts: list[list[int]], outputs: int) -> int:
    """Tokens every prompt shares, leaving each at least `outputs` tokens of its own (read there)."""
    from paso_local.steered_scoring import common_prefix_length

    return max(min(common_prefix_length(prompts), min(len(p) for p in prompts) - outputs), 0)


def open_model(path: Path, *, n_ctx: int, threads: int | None) -> LoadedModel:
    from paso_local.runtime import Runtime

    return LoadedModel(path, Runtime.open(path, n_ctx=n_ctx, n_threads=threads, n_batch=BATCH_TOKENS))


def default_judge(given: list[Path]) -> Path:
    """The largest model file among those given, else the embedded model."""
    if given:
        return max(given, key=lambda p: p.stat().st_size)
    embedded = embedded_model_path()
    if embedded is None:
        raise PasoError("no judge: give --judge PATH (the embedded model is not installed)")
    return resolve_model(embedded)
