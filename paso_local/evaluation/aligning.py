"""The one call eval makes into align: a person's 120 answers -> their control-vector file, exactly as
`paso-local align` computes and writes it, without touching the profile store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paso_local.errors import PasoError
from paso_local.questionnaire_prompt import DEFAULT_CONTRAST, DEFAULT_SITE


def use_torch_threads(threads: int | None) -> None:
    """Import the align pipeline's torch (a clear error when it is missing) and cap its CPU threads."""
    try:
        import torch

        import converters.align_command  # noqa: F401 - the pipeline the pas methods need
    except ImportError as exc:
        raise PasoError(f"the align pipeline is not available ({exc}); the pas methods need it") from exc
    if threads:
        torch.set_num_threads(threads)


def align_to_file(
    model_path: Path,
    answers: Mapping[int, int],
    out: Path,
    name: str,
    threads: int | None = None,
    contrast: str | None = None,
    site: str | None = None,
    runtime: Any = None,
) -> tuple[Path, dict[str, Any]]:
    """Run align on `answers` (300-form item number -> 0..5; 0 dropped) and write the vector to `out`.
    Returns the vector's path and align's report (strength, cross-validated scores, seconds).
    `threads` caps torch's CPU threads, like eval's llama.cpp threads; `runtime`: eval's llama.cpp runtime
    of the same model, which align's cross-validation then scores with (no second model load)."""
    use_torch_threads(threads)
    from converters.align_command import align

    result = align(
        model=str(model_path),
        profile_name=name,
        out=str(out),
        answers_override={n: a for n, a in answers.items() if a},
        form="120",
        show_progress=False,
        contrast=contrast or DEFAULT_CONTRAST,
        site=site or DEFAULT_SITE,
        threads=threads,
        runtime=runtime,
    )
    return result.vector_path, result.report


def align_keyed_to_dir(
    model_path: Path,
    answers: Mapping[int, int],
    out_dir: Path,
    by: str,
    threads: int | None = None,
    runtime: Any = None,
) -> tuple[dict[str, Path | None], dict[str, Any]]:
    """One control-vector file per item group (None: that group is asked unsteered), and the report."""
    use_torch_threads(threads)
    from converters.keyed_align import align_keyed

    out_dir.mkdir(parents=True, exist_ok=True)
    groups, report = align_keyed(
        model_path, {n: a for n, a in answers.items() if a}, out_dir, by, runtime=runtime, threads=threads
    )
    return {g: v.path for g, v in groups.items()}, report
