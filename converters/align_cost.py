"""Where align's time goes: per stage, the prompts evaluated, the tokens decoded and the seconds, counted as
the pipeline runs (`align --json` reports them; benchmarks/align_cost.py prints the table)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from paso_local.store.memory import peak_rss_mb


@dataclass(frozen=True)
class StageCost:
    stage: str
    evaluations: int  # prompts run through a model (0: served from a cache)
    tokens: int  # tokens those prompts decoded (llama.cpp's counter; torch: the prompts' lengths)
    seconds: float
    peak_rss_mb: float  # the process's peak resident memory when the stage ended (where a peak rose)
    screened: int = 0  # prompts the torch screen scored (steered passes in torch, not through llama.cpp)


@dataclass
class CostLedger:
    """Counts since the last `close`, which books them under a stage's name. Token counts come from the
    runtime's own counter (`watch_tokens`) or are added with `count`."""

    stages: list[StageCost] = field(default_factory=list)
    _evaluations: int = 0
    _tokens: int = 0
    _screened: int = 0
    _since: float = field(default_factory=time.perf_counter)
    _read_tokens: Callable[[], int] = lambda: 0
    _tokens_at: int = 0

    def watch_tokens(self, read: Callable[[], int]) -> None:
        self._read_tokens = read
        self._tokens_at = read()

    def stop_watching(self) -> None:
        """Keep what the watched counter has counted so far and read it no more (its runtime is closing)."""
        self._tokens += self._read_tokens() - self._tokens_at
        self._read_tokens, self._tokens_at = (lambda: 0), 0

    def count(self, evaluations: int, tokens: int = 0) -> None:
        self._evaluations += evaluations
        self._tokens += tokens

    def count_screened(self, prompts: int) -> None:
        self._screened += prompts

    def close(self, stage: str) -> None:
        now, tokens_now = time.perf_counter(), self._read_tokens()
        tokens = self._tokens + tokens_now - self._tokens_at
        seconds = now - self._since
        self.stages.append(
            StageCost(stage, self._evaluations, tokens, seconds, peak_rss_mb(), self._screened)
        )
        self._evaluations, self._tokens, self._screened = 0, 0, 0
        self._since, self._tokens_at = now, tokens_now

    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def as_rows(self) -> list[dict]:
        """The stages with their share of the total time."""
        total = self.total_seconds() or 1.0
        return [
            {
                "stage": s.stage,
                "evaluations": s.evaluations,
                "tokens": s.tokens,
                "seconds": round(s.seconds, 3),
                "share": round(s.seconds / total, 4),
                "peak_rss_mb": round(s.peak_rss_mb),
                "torch_screened": s.screened,
            }
            for s in self.stages
        ]
