"""What `paso-local eval` needs from the torch side, handed to it by the command layer (paso_local.cli):
a person's 120 answers -> their control-vector file (or one per item group), exactly as `paso-local align`
computes and writes it without touching the profile store, and the LoRA baselines' trainer. Nothing heavy is
imported until a method needs it, so `eval --methods base` never loads torch."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paso_local.errors import PasoError
from paso_local.evaluation.aligning import SubjectAlignment
from paso_local.person.questionnaire_prompt import DEFAULT_CONTRAST, DEFAULT_SITE


def use_torch_threads(threads: int | None) -> None:
    """Import the align pipeline's torch (a clear error when it is missing) and cap its CPU threads."""
    try:
        import torch

        import paso_local.converters.align_command  # noqa: F401 - the pipeline the pas methods need
    except ImportError as exc:
        raise PasoError(f"the align pipeline is not available ({exc}); the pas methods need it") from exc
    if threads:
        torch.set_num_threads(threads)


def answered(answers: Mapping[int, int]) -> dict[int, int]:
    """The answers given (0 = unanswered is dropped)."""
    return {n: a for n, a in answers.items() if a}


class TorchAligner:
    """The `paso_local.evaluation.aligning.Aligner` eval runs with: align, keyed align and LoRA training."""

    def align_to_file(
        self, request: SubjectAlignment, out: Path, name: str, contrast: str | None, site: str | None
    ) -> tuple[Path, dict[str, Any]]:
        """Run align on the request's answers (0s dropped) and write the vector to `out`. Returns the
        vector's path and align's report (strength, cross-validated scores, seconds)."""
        use_torch_threads(request.threads)
        from paso_local.converters.align_command import align

        result = align(
            model=str(request.model_path),
            profile_name=name,
            out=str(out),
            answers_override=answered(request.answers),
            form="120",
            show_progress=False,
            contrast=contrast or DEFAULT_CONTRAST,
            site=site or DEFAULT_SITE,
            threads=request.threads,
            runtime=request.runtime,
        )
        return result.vector_path, result.report

    def align_keyed_to_dir(
        self, request: SubjectAlignment, out_dir: Path, by: str
    ) -> tuple[dict[str, Path | None], dict[str, Any]]:
        """One control-vector file per item group (None: that group is asked unsteered), and the report."""
        use_torch_threads(request.threads)
        from paso_local.converters.keyed_align import align_keyed

        out_dir.mkdir(parents=True, exist_ok=True)
        groups, report = align_keyed(
            request.model_path,
            answered(request.answers),
            out_dir,
            by,
            runtime=request.runtime,
            threads=request.threads,
        )
        return {g: v.path for g, v in groups.items()}, report

    def lora_trainer(self, model_path: Path, workdir: Path) -> LoraTrainer:
        return LoraTrainer(model_path, workdir)


class LoraTrainer:
    """The torch side, loaded on first use and shared by every subject and LoRA method of one eval run."""

    def __init__(self, model_path: Path, workdir: Path, show_progress: bool = False):
        self.model_path = model_path
        self.workdir = workdir
        self.show_progress = show_progress
        self._aligner: Any = None
        self.setup_seconds = 0.0

    @property
    def aligner(self) -> Any:
        if self._aligner is None:
            from paso_local.converters.lora_align import LoraAligner

            started = time.perf_counter()
            self._aligner = LoraAligner(self.model_path, show_progress=self.show_progress)
            self.setup_seconds = time.perf_counter() - started
        return self._aligner

    def adapter_for(self, subject: Any, method: str) -> tuple[Path, dict]:
        """Train `method` on the subject's 120 answers; the adapter's path and the cost figures."""
        result = self.aligner.align(answered(subject.alignment), method)
        path = result.write(
            self.workdir / f"subject-{subject.index}.{method}.gguf", self.aligner.architecture
        )
        return path, {
            "train_seconds": round(result.seconds, 2),
            "peak_rss_mb": round(result.peak_rss_mb, 1),
            "lr": result.chosen["lr"],
            "epochs": result.chosen["epochs"],
        }
