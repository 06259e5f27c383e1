"""The models an assessment loads: the replier (the model every method runs on) and the judge, which may be
the same file and then shares one llama.cpp context (the judge always clears the steering first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paso_local.errors import PasoError
from paso_local.llm.modelfiles import embedded_model_path, resolve_model

BATCH_TOKENS = 512  # the most tokens one decode takes; a prompt's part after its shared prefix must fit it


@dataclass
class LoadedModel:
    path: Path
    runtime: object  # paso_local.llm.runtime.Runtime
    n_batch: int = BATCH_TOKENS

    @property
    def n_ctx(self) -> int:
        return int(self.runtime.info.n_ctx)

    def fits(self, tokens: int) -> bool:
        """Whether a prompt of `tokens` tokens (plus one for what the model writes next) fits the context."""
        return tokens + 1 <= self.n_ctx

    def read_ends(self, prompts: list[list[int]]) -> tuple[list[int], np.ndarray]:
        """Logits at the last two tokens of each prompt that fits (the context, and one decode after their
        shared prefix), under the current steering: (the indices of those prompts, [len, 2, n_vocab])."""
        rows = [k for k, p in enumerate(prompts) if self.fits(len(p))]
        if not rows:
            return [], np.zeros((0, 2, 0), dtype=np.float32)
        from paso_local.llm.steered_scoring import common_prefix_length

        prefix = common_prefix_length([prompts[k] for k in rows], keep=2)
        rows = [k for k in rows if len(prompts[k]) - prefix <= self.n_batch]
        if not rows:
            return [], np.zeros((0, 2, 0), dtype=np.float32)
        suffixes = [prompts[k][prefix:] for k in rows]
        return rows, self.runtime.batch_logits(prompts[rows[0]][:prefix], suffixes, 2)

    def close(self) -> None:
        self.runtime.close()


def open_model(path: Path, *, n_ctx: int, threads: int | None) -> LoadedModel:
    from paso_local.llm.runtime import Runtime

    return LoadedModel(path, Runtime.open(path, n_ctx=n_ctx, n_threads=threads, n_batch=BATCH_TOKENS))


def default_judge(given: list[Path]) -> Path:
    """The largest model file among those given, else the embedded model."""
    if given:
        return max(given, key=lambda p: p.stat().st_size)
    embedded = embedded_model_path()
    if embedded is None:
        raise PasoError("no judge: give --judge PATH (the embedded model is not installed)")
    return resolve_model(embedded)
