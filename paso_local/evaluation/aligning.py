"""What eval needs from align, as an interface: the command layer (paso_local.cli) passes an implementation
(paso_local.converters.eval_aligner.TorchAligner), so the core never imports the torch side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class SubjectAlignment:
    """One subject's alignment as eval asks for it."""

    model_path: Path
    answers: Mapping[int, int]  # 300-form item number -> 0..5 (0: unanswered, dropped)
    threads: int | None = None  # caps torch's CPU threads, like eval's llama.cpp threads
    runtime: Any = None  # eval's llama.cpp runtime of the same model: align scores with it (no second load)


class AdapterTrainer(Protocol):
    def adapter_for(self, subject: Any, method: str) -> tuple[Path, dict]:
        """Train `method` (dpo, ppo) on the subject's 120 answers: the LoRA GGUF's path and the cost figures
        (train_seconds, peak_rss_mb, lr, epochs)."""
        ...


class Aligner(Protocol):
    def align_to_file(
        self, request: SubjectAlignment, out: Path, name: str, contrast: str | None, site: str | None
    ) -> tuple[Path, dict[str, Any]]:
        """The person's control-vector file at `out`, as `paso-local align` writes it, and align's report."""
        ...

    def align_keyed_to_dir(
        self, request: SubjectAlignment, out_dir: Path, by: str
    ) -> tuple[dict[str, Path | None], dict[str, Any]]:
        """One control-vector file per item group (None: that group is asked unsteered), and the report."""
        ...

    def lora_trainer(self, model_path: Path, workdir: Path) -> AdapterTrainer:
        """The trainer of the LoRA baselines, shared by every subject of one eval run."""
        ...
