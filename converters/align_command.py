"""`paso-local align`: PAS control vectors from a profile's answers, strength chosen by cross-validation on
those answers only, exported as a llama.cpp control-vector GGUF (plus an optional JSON report)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converters.activations import ItemActivations, item_activations
from converters.export import build_control_vector
from converters.pas import (
    MIN_USABLE_ANSWERS,
    Labels,
    PasFit,
    ResidualFit,
    fit_pas,
    fit_pas_statements,
    fit_residual,
    person_labels,
    require_enough_answers,
)
from converters.strength import (
    COARSE_GRID,
    DOMAIN_FACTORS,
    FOLDS,
    REFINE_FACTORS,
    RESIDUAL_GRID,
    StrengthSearch,
    cross_validated_search,
    domain_grid,
    make_folds,
    to_unit,
    vector_norm_units,
)
from paso_local.errors import PasoError
from paso_local.inventory import DOMAINS, Item, form_items
from paso_local.modelfiles import file_sha256, resolve_model
from paso_local.paths import ensure_private_dir
from paso_local.progress import progress_bar, status
from paso_local.questionnaire_prompt import CONTRASTS, DEFAULT_CONTRAST, DEFAULT_SITE, SITES

DEFAULT_HEADS = 24
FIRST_LAYER_FRACTION = 0.4  # heads are eligible from this depth on (steered passes restart there: cheaper)
PLACEMENT_SHIFT = 1  # head vector of layer L added to the output of block L-1 (0: block L); measured closer
MIN_DOMAIN_LABELS = 6  # non-neutral answers a domain needs for its own vector
MIN_SIDE_STATEMENTS = 3  # statement contrast: answers needed on each side (agree / disagree) per fit
COMPUTE_DTYPE = torch.bfloat16
WEIGHT_CACHE_BYTES = 1 << 30


@dataclass
class AlignResult:
    vector_path: Path
    report: dict[str, Any]


def checkpoint_block(n_layer: int) -> int:
    """Steered passes restart at this block (>= 1: llama.cpp never steers block 0)."""
    return min(max(1, int(round(FIRST_LAYER_FRACTION * n_layer))), n_layer - 1 - PLACEMENT_SHIFT)


def first_eligible_layer(n_layer: int) -> int:
    """Heads from this layer on may be chosen: their vectors, placed PLACEMENT_SHIFT blocks earlier, start at
    the checkpoint block."""
    return checkpoint_block(n_layer) + PLACEMENT_SHIFT


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class WoCache:
    """W_o per layer as float32 numpy, dequantised once per run."""

    def __init__(self, model: Any):
        self._model = model
        self._weights: dict[int, np.ndarray] = {}

    def __call__(self, layer: int) -> np.ndarray:
        if layer not in self._weights:
            self._weights[layer] = self._model.attn_output_weight(layer).float().numpy()
        return self._weights[layer]


def restricted(answers: Mapping[int, int], numbers: Sequence[int]) -> dict[int, int]:
    keep = {int(n) for n in numbers}
    return {n: a for n, a in answers.items() if n in keep}


@dataclass(frozen=True)
class ContrastActivations:
    """What the probes of one contrast see, per item [N, n_layer, n_head, head_dim]: `agree` is the person's
    side when they agree with the item, `disagree` its pair when they do not; without a pair (the statement
    contrast) the person's side is the statements they agree with against those they reject."""

    agree: np.ndarray
    disagree: np.ndarray | None

    @property
    def one_sided(self) -> bool:
        return self.disagree is None


def letter_contrast(acts: ItemActivations) -> ContrastActivations:
    return ContrastActivations(acts.agree, acts.disagree)


def fit_vectors(
    acts: ItemActivations,
    answers: Mapping[int, int],
    items: Sequence[Item],
    k: int,
    w_o: WoCache,
    min_layer: int,
    contrast: ContrastActivations | None = None,
) -> tuple[PasFit, dict[str, PasFit]]:
    """The combined PAS fit on every usable answer given, and one fit per domain that has enough of them,
    for `contrast` (the paper's letter contrast by default)."""
    numbers = [int(n) for n in acts.item_numbers]
    contrast = contrast or letter_contrast(acts)

    def fit(labels: Labels) -> PasFit:
        if contrast.disagree is None:
            return fit_pas_statements(contrast.agree, labels, k, w_o, min_layer)
        return fit_pas(contrast.agree, contrast.disagree, labels, k, w_o, min_layer)

    combined = fit(person_labels(answers, numbers))  # callers check both sides first (`can_fit`)
    domains: dict[str, PasFit] = {}
    by_number = {i.number: i for i in items}
    for domain in DOMAINS:
        own = {n: a for n, a in answers.items() if n in by_number and by_number[n].domain == domain}
        labels: Labels = person_labels(own, numbers)
        if len(labels.rows) >= MIN_DOMAIN_LABELS and can_fit(labels, contrast.one_sided):
            domains[domain] = fit(labels)
    return combined, domains


def residual_fit(acts: ItemActivations, labels: Labels, n_layer: int) -> ResidualFit:
    """The residual-stream mean difference for these labels, read and added at one block from the checkpoint
    block to the second-to-last."""
    if acts.agree_blocks is None or acts.disagree_blocks is None:
        raise ValueError("these activations carry no block outputs (computed before cache version 3)")
    return fit_residual(acts.agree_blocks, acts.disagree_blocks, labels, acts.checkpoint_block, n_layer - 2)


def statement_contrast_fits(answers: Mapping[int, int], numbers: Sequence[int]) -> bool:
    """Whether every cross-validation fold's training answers take both sides (`can_fit`): the folds are the
    ones align cross-validates, over the form's answered items in form order."""
    answered = [int(n) for n in numbers if int(n) in answers]
    folds = make_folds(len(answered), FOLDS)
    return all(
        can_fit(person_labels(restricted(answers, np.delete(answered, fold).tolist()), numbers), True)
        for fold in folds
    )


def can_fit(labels: Labels, one_sided: bool) -> bool:
    """A paired contrast always has both sides (A and E, or a statement and its denial, of every item); the
    one-sided statement contrast needs statements the person agrees with AND statements they reject."""
    if not one_sided:
        return True
    agreed = int(labels.agrees.sum())
    return min(agreed, len(labels.agrees) - agreed) >= MIN_SIDE_STATEMENTS


@dataclass
class Candidate:
    """One way of building the vector (contrast x combined / domain sum) and its cross-validation."""

    contrast: str  # "letter" | "statement" | "negation"
    kind: str  # "combined" | "domain_sum" (heads) | "residual" (the residual-stream mean difference)
    search: StrengthSearch
    fold_vectors: list[dict[int, np.ndarray]]

    @property
    def score(self) -> float:
        assert self.search.chosen is not None
        return self.search.chosen.aligned_score


def summed(vectors: Sequence[Mapping[int, np.ndarray]]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for vector in vectors:
        for b, v in vector.items():
            out[b] = out.get(b, 0) + v
    return {b: np.asarray(v, dtype=np.float32) for b, v in sorted(out.items())}


def load_torch_model(model_path: Path) -> Any:
    from converters.gguf_reader import read_config
    from converters.model import load_model

    config = read_config(model_path)
    d, q, kv, f = (
        config.n_embd,
        config.n_head * config.head_dim,
        config.n_head_kv * config.head_dim,
        config.n_ff,
    )
    block_bytes = (d * (2 * q + 2 * kv) + 3 * d * f) * torch.finfo(COMPUTE_DTYPE).bits // 8
    blocks = int(max(2, min(config.n_layer, WEIGHT_CACHE_BYTES // max(block_bytes, 1))))
    return load_model(model_path, dtype=COMPUTE_DTYPE, cache_blocks=blocks)


def lazy_torch_model(model_path: Path) -> Callable[[], Any]:
    """The torch model, loaded on the first call only (an activation-cache hit may never need it)."""
    return functools.cache(lambda: load_torch_model(model_path))


def check_output_writable(path: Path) -> None:
    """Fail before the long work when the output cannot be written (the write itself is atomic)."""
    if path.exists() and path.is_dir():
        raise PasoError(f"--out {path} is a directory; give a file name such as {path / 'vector.gguf'}")
    try:
        ensure_private_dir(path.parent)
    except OSError as exc:
        raise PasoError(f"cannot create the directory for {path}: {exc.strerror or exc}") from exc
    if not path.parent.is_dir():
        raise PasoError(f"cannot write the control vector to {path}: {path.parent} is not a directory")
    if not os.access(path.parent, os.W_OK):
        raise PasoError(f"cannot write the control vector to {path}: {path.parent} is not writable")


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
) -> AlignResult:
    """The whole command (`answers_override` / `form`: benchmarks align a subject with no stored profile)."""
    started = time.perf_counter()
    torch.manual_seed(0)
    from converters.gguf_reader import read_config
    from paso_local.chat_format import ChatFormat
    from paso_local.profile import ProfileStore
    from paso_local.readout import OptionTokens

    if answers_override is None:
        profile = ProfileStore().load(profile_name)
        answers, form = profile.usable_answers(), profile.form
    else:
        answers, form = dict(answers_override), form or "120"
    model_path = resolve_model(model)
    config = read_config(model_path)  # PasoError for a damaged or unsupported model
    items = form_items(form)
    numbers = [i.number for i in items]
    answers = {n: a for n, a in restricted(answers, numbers).items() if 1 <= a <= 5}
    require_enough_answers(person_labels(answers, numbers), MIN_USABLE_ANSWERS, f"profile {profile_name!r}")
    if contrast not in CONTRASTS:
        raise PasoError(f"--contrast {contrast!r}: choose one of {', '.join(CONTRASTS)}")
    contrasts = [c for c in CONTRASTS if c != "auto"] if contrast == "auto" else [contrast]
    if site not in SITES:
        raise PasoError(f"--site {site!r}: choose one of {', '.join(SITES)}")
    if site == "residual" and contrast != "letter":
        raise PasoError(
            f"--site residual reads the residual stream at the answer letter: use it with --contrast letter "
            f"(not {contrast!r}), or --site auto"
        )
    head_sites, residual_site = site in ("heads", "auto"), site in ("residual", "auto")
    if "statement" in contrasts and not statement_contrast_fits(answers, numbers):
        if contrast == "statement":  # said before any forward pass
            raise PasoError(
                f"the statement contrast needs at least {MIN_SIDE_STATEMENTS} answers on each side (4-5 and "
                "1-2) in every cross-validation fold; this profile takes one side almost always. "
                "Use --contrast letter (or auto)."
            )
        contrasts.remove("statement")  # auto: the others, and no statement activations to compute
    min_layer = first_eligible_layer(config.n_layer)
    eligible = (config.n_layer - min_layer) * config.n_head
    if not 1 <= heads <= eligible:
        raise PasoError(
            f"--heads {heads}: choose 1..{eligible} (heads of layers {min_layer}..{config.n_layer - 1})"
        )
    if out:
        out_path = Path(out).expanduser()
    else:
        from paso_local.vector_store import vector_path_for

        out_path = vector_path_for(profile_name, model_path)
    check_output_writable(out_path)

    torch_model = lazy_torch_model(model_path)
    chat_format = ChatFormat.from_model(model_path)
    tokens = OptionTokens.from_chat_format(chat_format)
    checkpoint = checkpoint_block(config.n_layer)
    acts, cache_hit = item_activations(
        model_path,
        items,
        checkpoint,
        load_model=torch_model,
        load_chat_format=lambda: chat_format,
        load_tokens=lambda: tokens,
        show_progress=show_progress,
    )
    sources = {"letter": letter_contrast(acts)}
    if "statement" in contrasts or "negation" in contrasts:
        from converters.statement_activations import statement_activations

        def spoken(denied: bool) -> np.ndarray:
            nonlocal cache_hit
            found, hit = statement_activations(
                model_path,
                items,
                load_model=torch_model,
                load_chat_format=lambda: chat_format,
                show_progress=show_progress,
                denied=denied,
            )
            cache_hit = cache_hit and hit
            return found

        said = spoken(False)
        if "statement" in contrasts:
            sources["statement"] = ContrastActivations(said, None)
        if "negation" in contrasts:
            sources["negation"] = ContrastActivations(said, spoken(True))
    activation_seconds = time.perf_counter() - started
    net = torch_model()
    w_o = WoCache(net)

    # Cross-validation: fold vectors fit on the other folds' answers only.
    rows = np.asarray([r for r, n in enumerate(acts.item_numbers) if int(n) in answers], dtype=np.int64)
    folds = make_folds(len(rows), FOLDS)
    passes = (len(coarse) + len(REFINE_FACTORS) + len(DOMAIN_FACTORS)) * len(contrasts) * head_sites
    passes += (len(RESIDUAL_GRID) + len(REFINE_FACTORS)) * residual_site
    candidates: list[Candidate] = []
    with progress_bar("Cross-validating the strength", passes, enabled=show_progress) as bar:
        if residual_site:
            residual_fold = []
            for fold in folds:
                train_numbers = [int(acts.item_numbers[r]) for r in np.delete(rows, fold)]
                labels = person_labels(restricted(answers, train_numbers), acts.item_numbers)
                fit = residual_fit(acts, labels, config.n_layer)
                residual_fold.append(to_unit(fit.placed(), acts.residual_norm))
            residual_cv = cross_validated_search(
                net,
                acts,
                tokens,
                rows,
                folds,
                residual_fold,
                answers,
                items,
                RESIDUAL_GRID,
                progress=bar.advance,
            )
            candidates.append(Candidate("letter", "residual", residual_cv, residual_fold))
        for name in contrasts if head_sites else []:
            source = sources[name]
            combined_fold, domain_fold = [], []
            for fold in folds:
                train_numbers = [int(acts.item_numbers[r]) for r in np.delete(rows, fold)]
                fit, domain_fits = fit_vectors(
                    acts, restricted(answers, train_numbers), items, heads, w_o, min_layer, source
                )
                combined_fold.append(to_unit(fit.placed(PLACEMENT_SHIFT), acts.residual_norm))
                domain_fold.append(
                    to_unit(
                        summed([f.placed(PLACEMENT_SHIFT) for f in domain_fits.values()]), acts.residual_norm
                    )
                )
            combined_cv = cross_validated_search(
                net, acts, tokens, rows, folds, combined_fold, answers, items, coarse, progress=bar.advance
            )
            assert combined_cv.chosen is not None
            domain_cv = cross_validated_search(
                net,
                acts,
                tokens,
                rows,
                folds,
                domain_fold,
                answers,
                items,
                domain_grid(combined_cv.chosen.strength),
                refine=(),
                progress=bar.advance,
            )
            candidates.append(Candidate(name, "combined", combined_cv, combined_fold))
            if any(domain_fold):
                candidates.append(Candidate(name, "domain_sum", domain_cv, domain_fold))
        bar.finish()  # the refinement is skipped when no strength helps: `passes` is an upper bound

    # Lowest CV score wins; ties go to the earlier candidate (in CONTRASTS order, combined first).
    best = min(candidates, key=lambda c: round(c.score, 9))
    chosen_search = best.search
    chosen = chosen_search.chosen
    assert chosen is not None
    # Export the mean of the fold vectors that the CV actually scored: a fresh refit on all answers differs
    # from them, and its CV gain did not carry over to held-out items. Per-domain parts come from the refit.
    main_unit = to_unit(summed(best.fold_vectors), acts.residual_norm)
    own = {c.kind: c for c in candidates if c.contrast == best.contrast}
    chosen_heads: list[tuple[int, int]] = []
    residual_blocks: list[int] = []
    domain_units: dict[str, dict[int, np.ndarray]] = {}
    combined_cv = domain_cv = chosen_search
    if best.kind == "residual":
        residual_blocks = sorted(main_unit)  # the blocks the folds chose (the export averages their vectors)
    else:
        final, final_domains = fit_vectors(
            acts, answers, items, heads, w_o, min_layer, sources[best.contrast]
        )
        chosen_heads = final.heads
        raw_domains = {d: f.placed(PLACEMENT_SHIFT) for d, f in final_domains.items()}
        domain_sum = summed(list(raw_domains.values()))
        units = vector_norm_units(domain_sum, acts.residual_norm) or 1.0
        domain_units = {
            d: {b: (v / units).astype(np.float32) for b, v in vec.items()} for d, vec in raw_domains.items()
        }
        combined_cv = own["combined"].search
        domain_cv = own["domain_sum"].search if "domain_sum" in own else combined_cv
    assert combined_cv.chosen is not None and domain_cv.chosen is not None
    domain_strength = domain_cv.chosen.strength
    cv_meta = {
        "vector_kind": best.kind,
        "contrast": best.contrast,
        "cv_folds": FOLDS,
        "cv_aligned_score_base": chosen_search.base.aligned_score,
        "cv_aligned_score_steered": chosen.aligned_score,
        "cv_curve": [p.as_dict() for p in combined_cv.curve],
        "domain_cv_curve": [p.as_dict() for p in domain_cv.curve],
        "domain_strength": domain_strength,
        "first_eligible_layer": min_layer,
        "site": "residual" if best.kind == "residual" else "heads",
        "residual_blocks": residual_blocks,
    }
    vector = build_control_vector(
        model_hint=config.arch,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        directions=main_unit,
        strength=chosen.strength,
        model_path=model_path,
        model_sha256=file_sha256(model_path),
        profile=profile_name,
        form=form,
        usable_answers=len(answers),
        heads_k=heads,
        chosen_heads=chosen_heads,
        placement="L" if PLACEMENT_SHIFT == 0 else "L-1",
        cv=cv_meta,
        domains={d: {"strength": domain_strength, "directions": v} for d, v in domain_units.items()},
    )
    from paso_local.controlvector import write_control_vector

    write_control_vector(vector, out_path)
    if not out:
        from paso_local.vector_store import record_vector

        record_vector(profile_name, model_path)
    report = {
        "profile": profile_name,
        "model": str(model_path),
        "vector_path": str(out_path),
        "vector_kind": cv_meta["vector_kind"],
        "contrast": best.contrast,
        "candidates": [
            {
                "contrast": c.contrast,
                "kind": c.kind,
                "strength": c.search.chosen.strength,
                "cv_steered": c.score,
                "curve": [[p.strength, round(p.aligned_score, 4), p.correlation] for p in c.search.curve],
            }
            for c in candidates
            if c.search.chosen is not None
        ],
        "strength": chosen.strength,
        "site": cv_meta["site"],
        "residual_blocks": residual_blocks,
        "heads": [[layer, head] for layer, head in chosen_heads],
        "heads_k": heads,
        "usable_answers": len(answers),
        "cv_aligned_score": {"base": chosen_search.base.aligned_score, "steered": chosen.aligned_score},
        "cv_curve": cv_meta["cv_curve"],
        "domain_cv": {
            "strength": domain_strength,
            "base": domain_cv.base.aligned_score,
            "steered": domain_cv.chosen.aligned_score,
            "curve": cv_meta["domain_cv_curve"],
            "domains": sorted(domain_units),
        },
        "combined_cv": {"strength": combined_cv.chosen.strength, "steered": combined_cv.chosen.aligned_score},
        "activation_cache_hit": cache_hit,
        "activation_seconds": round(activation_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return AlignResult(out_path, report)


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
        from paso_local.controlvector import NO_DIRECTION

        text += (
            f"\n  Strength 0: {NO_DIRECTION}.\n  No strength beat the unsteered model clearly in "
            "cross-validation on your answers. A larger model (--model) may do better."
        )
    return text


def write_report(report: Mapping[str, Any], destination: str) -> None:
    text = json.dumps(report, indent=2) + "\n"
    if destination == "-":
        sys.stdout.write(text)
        return
    from paso_local.storage import atomic_write_text

    atomic_write_text(Path(destination).expanduser(), text)


def run_align(args: argparse.Namespace) -> int:
    result = align(
        model=args.model,
        profile_name=args.profile,
        out=args.out,
        heads=args.heads,
        contrast=getattr(args, "contrast", DEFAULT_CONTRAST),
        site=getattr(args, "site", DEFAULT_SITE),
    )
    status(describe(result.report))
    if args.json:
        write_report(result.report, args.json)
    return 0
