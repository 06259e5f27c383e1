"""What eval needs from align, as an interface: the command layer (paso_local.cli) passes an implementation
(converters.eval_aligner.TorchAligner), so the core never imports the torch side."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class AdapterTrainer(Protocol):
    def adapter_for(self, subject: Any, method: str) -> tuple[Path, dict]:
        """Train `method` (dpo, ppo) on the subject's 120 answers: the LoRA GGUF's path and the cost figures
        (train_seconds, peak_rss_mb, lr, epochs)."""
        ...


class Aligner(Protocol):
    def align_to_file(
        self,
        model_path: Path,
        answers: Mapping[int, int],
        out: Path,
        name: str,
        threads: int | None = None,
        contrast: str | None = None,
        site: str | None = None,
        runtime: Any = None,
    ) -> tuple[Path, dict[str, Any]]:
        """A person's answers -> their control-vector file at `out`, as `paso-local align` writes it, and
        align's report; `runtime`: eval's llama.cpp runtime of the same model, for align to score with."""
        ...

    def align_keyed_to_dir(
        self,
        model_path: Path,
        answers: Mapping[int, int],
        out_dir: Path,
        by: str,
        threads: int | None = None,
        runtime: Any = None,
    ) -> tuple[dict[str, Path | None], dict[str, Any]]:
        """One control-vector file per item group (None: that group is asked unsteered), and the report."""
        ...

    def lora_trainer(self, model_path: Path, workdir: Path) -> AdapterTrainer:
        """The trainer of the LoRA baselines, shared by every subject of one eval run."""
        ...
