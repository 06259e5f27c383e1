"""`paso-local align`: the command around `paso_local.converters.align_pipeline` (the path from answers to vector):
where the answers come from, where the vector goes, the report, and what the person is told."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paso_local.converters.align_inputs import DEFAULT_HEADS, PLACEMENT_SHIFT, AlignRequest, plan_alignment
from paso_local.converters.align_pipeline import AlignOutcome, align_answers
from paso_local.converters.export import build_control_vector
from paso_local.converters.strength import COARSE_GRID, DEFAULT_SEARCH, FOLDS, search_policy
from paso_local.errors import PasoError
from paso_local.llm.modelfiles import file_sha256, resolve_model
from paso_local.person.questionnaire_prompt import DEFAULT_CONTRAST, DEFAULT_SITE
from paso_local.progress import status
from paso_local.store.memory import peak_rss_mb
from paso_local.store.storage import check_output_writable, write_report


@dataclass
class AlignResult:
    vector_path: Path
    report: dict[str, Any]


def align(
    *,
    model: str | None,
    profile_name: str,
    out: str | None,
    heads: int = DEFAULT_HEADS,
    coarse: Sequence[float] = COARSE_GRID,
    show_progress: bool = True,
    answers_override: Mapping[int, int] | None = None,
    form: str | None = None,
    contrast: str = DEFAULT_CONTRAST,
    site: str = DEFAULT_SITE,
    scoring: str = "llama",
    search: str = DEFAULT_SEARCH,
    threads: int | None = None,
    runtime: Any = None,
    torch_screen: bool = True,
) -> AlignResult:
    """The command: the profile's answers (or `answers_override`: eval and benchmarks align a subject with
    no stored profile) -> the pipeline -> the vector file and the report."""
    if answers_override is None:
        from paso_local.person.profile import ProfileStore

        profile = ProfileStore().load(profile_name)
        notice = profile.stale_import_notice()
        if notice:
            raise PasoError(f"{notice}; align would build the vector on reversed answers")
        answers, form = profile.usable_answers(), profile.form
    else:
        answers, form = dict(answers_override), form or "120"
    model_path = resolve_model(model)
    if out:
        out_path = Path(out).expanduser()
    else:
        from paso_local.person.vector_store import vector_path_for

        out_path = vector_path_for(profile_name, model_path)
    request = AlignRequest(
        model_path=model_path,
        answers=answers,
        form=form,
        profile=profile_name,
        heads=heads,
        coarse=tuple(coarse),
        contrast=contrast,
        site=site,
        scoring=scoring,
        search=search_policy(search, torch_screen=torch_screen),
        threads=threads,
        show_progress=show_progress,
        runtime=runtime,
    )
    plan = plan_alignment(request)  # every refusal before the output check and any model pass
    check_output_writable(out_path, what="the control vector", example="vector.gguf")
    outcome = align_answers(plan)
    from paso_local.llm.controlvector import write_control_vector

    write_control_vector(exported_vector(outcome), out_path)
    if not out:
        from paso_local.person.vector_store import record_vector

        record_vector(profile_name, model_path)
    outcome.cost.close("export")
    return AlignResult(out_path, align_report(outcome, out_path))


def cv_metadata(outcome: AlignOutcome) -> dict[str, Any]:
    best, final = outcome.best, outcome.final
    assert best.search is not None and best.search.chosen is not None
    assert final.combined is not None and final.domain is not None
    return {
        "vector_kind": best.kind,
        "contrast": best.contrast,
        "cv_folds": FOLDS,
        "cv_scoring": outcome.plan.request.scoring,
        "cv_aligned_score_base": best.search.base.aligned_score,
        "cv_aligned_score_steered": best.search.chosen.aligned_score,
        "cv_curve": [p.as_dict() for p in final.combined.curve],
        "domain_cv_curve": [p.as_dict() for p in final.domain.curve],
        "domain_strength": final.domain.chosen.strength,
        "first_eligible_layer": outcome.plan.min_layer,
        "site": "residual" if best.kind == "residual" else "heads",
        "residual_blocks": final.residual_blocks,
    }


def exported_vector(outcome: AlignOutcome) -> Any:
    plan, final = outcome.plan, outcome.final
    cv = cv_metadata(outcome)
    model_path = plan.request.model_path
    return build_control_vector(
        model_hint=plan.config.arch,
        n_embd=plan.config.n_embd,
        n_layer=plan.config.n_layer,
        directions=final.directions,
        strength=final.strength,
        model_path=model_path,
        model_sha256=file_sha256(model_path),
        profile=plan.request.profile,
        form=plan.request.form,
        usable_answers=len(plan.answers),
        heads_k=plan.request.heads,
        chosen_heads=final.heads,
        placement="L" if PLACEMENT_SHIFT == 0 else "L-1",
        cv=cv,
        domains={
            d: {"strength": cv["domain_strength"], "directions": v} for d, v in final.domain_units.items()
        },
    )


def align_report(outcome: AlignOutcome, out_path: Path) -> dict[str, Any]:
    plan, best, final = outcome.plan, outcome.best, outcome.final
    assert best.search is not None and best.search.chosen is not None
    assert final.combined is not None and final.domain is not None
    cv = cv_metadata(outcome)
    return {
        "profile": plan.request.profile,
        "model": str(plan.request.model_path),
        "vector_path": str(out_path),
        "vector_kind": best.kind,
        "contrast": best.contrast,
        "candidates": [
            {
                "contrast": c.contrast,
                "kind": c.kind,
                "strength": c.search.chosen.strength,
                "cv_steered": c.score,
                "curve": [[p.strength, round(p.aligned_score, 4), p.correlation] for p in c.search.curve],
            }
            for c in outcome.candidates
            if c.search is not None and c.search.chosen is not None
        ],
        "strength": final.strength,
        "site": cv["site"],
        "residual_blocks": final.residual_blocks,
        "heads": [[layer, head] for layer, head in final.heads],
        "heads_k": plan.request.heads,
        "usable_answers": len(plan.answers),
        "cv_scoring": plan.request.scoring,
        "cv_search": plan.request.search.name,
        "cv_torch_screen": plan.request.search.proxy_screen > 0,
        "cv_aligned_score": {
            "base": best.search.base.aligned_score,
            "steered": best.search.chosen.aligned_score,
        },
        "cv_curve": cv["cv_curve"],
        "domain_cv": {
            "strength": final.domain.chosen.strength,
            "base": final.domain.base.aligned_score,
            "steered": final.domain.chosen.aligned_score,
            "curve": cv["domain_cv_curve"],
            "domains": sorted(final.domain_units),
        },
        "combined_cv": {
            "strength": final.combined.chosen.strength,
            "steered": final.combined.chosen.aligned_score,
        },
        "activation_cache_hit": outcome.activations.cache_hit,
        "activation_seconds": round(outcome.activations.seconds, 2),
        "seconds": round(outcome.seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cost": outcome.cost.as_rows(),
    }


def describe(report: Mapping[str, Any]) -> str:
    cv = report["cv_aligned_score"]
    text = (
        f"Wrote {report['vector_path']}\n"
        f"  {report['vector_kind']} vector ({report.get('contrast', 'letter')} contrast), "
        + (
            f"residual stream at block {', '.join(map(str, report['residual_blocks']))}, "
            if report.get("site") == "residual"
            else f"{len(report['heads'])} heads, "
        )
        + f"strength {report['strength']:+.3f}; "
        f"cross-validated Aligned Score {cv['base']:.2f} unsteered -> {cv['steered']:.2f} steered "
        f"({report['usable_answers']} answers, {report['seconds']:.0f} s)"
    )
    if report["strength"] == 0.0:
        from paso_local.llm.controlvector import NO_DIRECTION

        text += (
            f"\n  Strength 0: {NO_DIRECTION}.\n  No strength beat the unsteered model clearly in "
            "cross-validation on your answers. A larger model (--model) may do better."
        )
    return text


def run_align(args: argparse.Namespace) -> int:
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise PasoError(f"--threads {threads}: use 1 or more")
    if threads:
        import torch

        torch.set_num_threads(threads)
    result = align(
        model=args.model,
        profile_name=args.profile,
        out=args.out,
        heads=args.heads,
        contrast=getattr(args, "contrast", DEFAULT_CONTRAST),
        site=getattr(args, "site", DEFAULT_SITE),
        scoring=getattr(args, "cv_scoring", "llama"),
        search=getattr(args, "cv_search", DEFAULT_SEARCH),
        threads=threads,
        torch_screen=not getattr(args, "no_torch_screen", False),
    )
    status(describe(result.report))
    if args.json:
        write_report(result.report, args.json)
    return 0
