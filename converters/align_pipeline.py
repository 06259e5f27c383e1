"""From a person's answers to their control vector: the steps of the README's align section (steps 1 and 2,
and the pieces every step shares, are in paso_local.converters.align_inputs).

`align_answers` reads as those steps; each is a function below:
1. `plan_alignment`: which answers count, which contrasts and sites to try (every check before any model work);
2. `read_activations`: the model's per-head activations for the form's items (torch; cached per model);
3. `fit_candidates`: per cross-validation fold, PAS probes on the other folds' answers -> one unit vector per
   candidate (contrast x combined / domain sum / residual);
4. `cross_validate`: each candidate's strength searched on the left-out folds, the items asked through
   llama.cpp with the fold's vector applied exactly as the chat applies it (`paso_local.llm.steered_scoring`);
5. `best_candidate` and `final_vector`: the lowest CV score wins; the exported vector is the mean of the fold
   vectors that the cross-validation scored (a refit on all answers is another vector, whose CV score nobody
   measured), at the chosen strength, with per-domain parts for the chat's sliders.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from paso_local.converters.activations import ItemActivations
from paso_local.converters.align_cost import CostLedger
from paso_local.converters.align_inputs import (
    MIN_DOMAIN_LABELS,
    PLACEMENT_SHIFT,
    Activations,
    AlignPlan,
    ContrastActivations,
    WoCache,
    can_fit,
    letter_contrast,
    load_torch_model,
    read_activations,
    restricted,
    summed,
    torch_cached_blocks,
)
from paso_local.converters.pas import (
    Labels,
    PasFit,
    ResidualFit,
    fit_pas,
    fit_pas_statements,
    fit_residual,
    person_labels,
)
from paso_local.converters.strength import (
    FOLDS,
    REFINE_FACTORS,
    RESIDUAL_GRID,
    CurvePoint,
    RowScorer,
    SearchPolicy,
    StrengthSearch,
    cross_validated_search,
    domain_grid,
    make_folds,
    to_unit,
    torch_row_scorer,
    vector_norm_units,
)
from paso_local.converters.unsteered_cache import (
    Unsteered,
    load_unsteered,
    save_unsteered,
    unsteered_cache_path,
)
from paso_local.person.inventory import DOMAINS, Item

# --- step 3: fold vectors ------------------------------------------------------------------------------------


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


@dataclass
class Candidate:
    """One way of building the vector (contrast x kind), its unit fold vectors and, once searched, its CV."""

    contrast: str  # "letter" | "statement" | "negation"
    kind: str  # "combined" | "domain_sum" (heads) | "residual" (the residual-stream mean difference)
    fold_vectors: list[dict[int, np.ndarray]]
    search: StrengthSearch | None = None

    @property
    def score(self) -> float:
        assert self.search is not None and self.search.chosen is not None
        return self.search.chosen.aligned_score


@dataclass(frozen=True)
class Folds:
    rows: np.ndarray  # activation rows of the answered items
    parts: list[np.ndarray]  # positions in `rows` of each fold

    def training_numbers(self, acts: ItemActivations, fold: np.ndarray) -> list[int]:
        return [int(acts.item_numbers[r]) for r in np.delete(self.rows, fold)]


def cv_folds(acts: ItemActivations, answers: Mapping[int, int]) -> Folds:
    rows = np.asarray([r for r, n in enumerate(acts.item_numbers) if int(n) in answers], dtype=np.int64)
    return Folds(rows, make_folds(len(rows), FOLDS))


def fit_candidates(plan: AlignPlan, found: Activations, folds: Folds, w_o: WoCache) -> list[Candidate]:
    """Per fold, the PAS fits on the other folds' answers, as unit vectors, for every candidate tried."""
    acts, n_layer = found.acts, plan.config.n_layer
    candidates: list[Candidate] = []
    if plan.residual_site:
        vectors = []
        for fold in folds.parts:
            train = restricted(plan.answers, folds.training_numbers(acts, fold))
            fit = residual_fit(acts, person_labels(train, acts.item_numbers), n_layer)
            vectors.append(to_unit(fit.placed(), acts.residual_norm))
        candidates.append(Candidate("letter", "residual", vectors))
    for name in plan.contrasts if plan.head_sites else []:
        combined, domain_sum = [], []
        for fold in folds.parts:
            train = restricted(plan.answers, folds.training_numbers(acts, fold))
            fit, domain_fits = fit_vectors(
                acts, train, plan.items, plan.request.heads, w_o, plan.min_layer, found.sources[name]
            )
            combined.append(to_unit(fit.placed(PLACEMENT_SHIFT), acts.residual_norm))
            parts = [f.placed(PLACEMENT_SHIFT) for f in domain_fits.values()]
            domain_sum.append(to_unit(summed(parts), acts.residual_norm))
        candidates.append(Candidate(name, "combined", combined))
        candidates.append(Candidate(name, "domain_sum", domain_sum))
    return candidates


# --- step 4: the strength, scored through llama.cpp ----------------------------------------------------------


@contextlib.contextmanager
def row_scorer(plan: AlignPlan, found: Activations, ledger: CostLedger) -> Iterator[RowScorer]:
    """Scores activation rows under a vector: llama.cpp (default), or the float32 torch reference. Every
    prompt scored is counted in `ledger`."""
    if plan.request.scoring == "torch":
        from paso_local.llm.chat_format import ChatFormat
        from paso_local.llm.readout import OptionTokens

        net = found.torch_model()  # the one already loaded, unless it computes in bfloat16
        if net.dtype != torch.float32:
            net = load_torch_model(plan.request.model_path, torch.float32)
        tokens = OptionTokens.from_chat_format(ChatFormat.from_model(plan.request.model_path))
        yield counted_torch_scorer(torch_row_scorer(net, found.acts, tokens), found.acts, ledger)
        return
    from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime

    runtime = plan.request.runtime
    owned = runtime is None
    if owned:
        runtime = open_scoring_runtime(plan.request.model_path, threads=plan.request.threads)
    ledger.watch_tokens(lambda: runtime.tokens_decoded)
    ledger.close("open the llama.cpp runtime" if owned else "llama.cpp runtime (eval's own)")
    cache = unsteered_cache_path(runtime.info.kernels_path or runtime.info.path, plan.items)  # its numerics
    unsteered = load_unsteered(cache)
    known = len(unsteered)
    try:
        yield llama_row_scorer(SteeredScorer(runtime), found.acts, plan.items, ledger.count, unsteered)
        if len(unsteered) > known:
            save_unsteered(cache, unsteered)
    finally:
        ledger.stop_watching()
        runtime.clear_steering()
        if owned:
            runtime.close()


def screen_proxy(plan: AlignPlan, found: Activations, ledger: CostLedger) -> RowScorer | None:
    """The torch model's steered passes as the llama.cpp search's screen (SearchPolicy.proxy_screen), where
    they are cheap: the model keeps every block's weights dequantised (SmolLM2 in bfloat16 on an AMX CPU: a
    seventh to a tenth of llama.cpp's time per item, docs/performance.md). None otherwise: then a pass would
    dequantise blocks again (on the 1.5B it took 0.8x llama.cpp's time), and align lets the torch model go."""
    from paso_local.converters.gguf_reader import read_config
    from paso_local.converters.model import fast_dtype
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.readout import OptionTokens

    path = plan.request.model_path
    config = read_config(path)
    if torch_cached_blocks(config, fast_dtype()) < config.n_layer:
        return None
    tokens = OptionTokens.from_chat_format(ChatFormat.from_model(path))
    score = torch_row_scorer(found.torch_model(), found.acts, tokens)

    def screened(
        rows: np.ndarray, directions: Mapping[int, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        ledger.count_screened(len(rows))
        return score(rows, directions)

    return screened


def counted_torch_scorer(score: RowScorer, acts: ItemActivations, ledger: CostLedger) -> RowScorer:
    """The torch reference's steered passes counted (its unsteered rows come from the activation pass)."""

    def counted(
        rows: np.ndarray, directions: Mapping[int, np.ndarray] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if directions:
            ledger.count(len(rows), int(acts.paren_lengths[rows].sum()))
        return score(rows, directions)

    return counted


def llama_row_scorer(
    scorer: Any,
    acts: ItemActivations,
    items: Sequence[Item],
    count: Callable[[int], None] = lambda n: None,
    unsteered: Unsteered | None = None,
) -> RowScorer:
    """Rows of `acts` asked through `scorer`. The unsteered answers (by item number) are asked once and kept
    in `unsteered`, which may arrive filled from the per-model cache. `count` is told how many prompts go to
    llama.cpp."""
    by_number = {i.number: i for i in items}
    row_items = [by_number[int(n)] for n in acts.item_numbers]
    unsteered = {} if unsteered is None else unsteered

    def score(rows: np.ndarray, directions: Mapping[int, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
        if directions:
            count(len(rows))
            found = scorer.score([row_items[r] for r in rows], directions)
            return found.dist, found.mass
        missing = [int(r) for r in rows if row_items[r].number not in unsteered]
        if missing:
            count(len(missing))
            found = scorer.score([row_items[r] for r in missing], None)
            for r, d, m in zip(missing, found.dist, found.mass, strict=True):
                unsteered[row_items[r].number] = (d, float(m))
        picked = [unsteered[row_items[int(r)].number] for r in rows]
        return np.asarray([d for d, _ in picked]), np.asarray([m for _, m in picked])

    return score


def cross_validate(
    plan: AlignPlan,
    candidates: Sequence[Candidate],
    folds: Folds,
    score: RowScorer,
    numbers: Sequence[int],
    ledger: CostLedger | None = None,
    proxy: RowScorer | None = None,
) -> None:
    """Search every candidate's strength (sets `candidate.search`). A contrast's domain sum is tried around
    the strength its combined vector chose; the residual vector on its finer grid. Each strength scored is a
    stage of `ledger`. `proxy`: the screen's cheaper scorer (`screen_proxy`), for the policy's searches."""
    ledger = ledger or CostLedger()
    policy = plan.request.search
    total = sum(planned_strengths(plan, c.kind) for c in candidates)
    chosen: dict[str, CurvePoint] = {}  # the combined vector's choice, per contrast
    score(folds.rows, None)  # the unsteered answers every candidate is compared with: asked once
    ledger.close("unsteered answers")
    with _progress(plan, total) as advance:
        for c in candidates:

            def scored(strength: float, c: Candidate = c) -> None:
                ledger.close(f"cv {c.contrast} {c.kind} {strength:+g}")
                advance()

            def search(
                grid: Sequence[float],
                refine: Sequence[float] = REFINE_FACTORS,
                policy: SearchPolicy | None = None,
                beat: float | None = None,
                start: float | None = None,
                c: Candidate = c,
            ) -> StrengthSearch:
                return cross_validated_search(
                    score,
                    numbers,
                    folds.rows,
                    folds.parts,
                    c.fold_vectors,
                    plan.answers,
                    plan.items,
                    grid,
                    refine,
                    progress=scored,
                    policy=policy,
                    beat=beat,
                    proxy=proxy,
                    start=start,
                )

            if c.kind == "residual":
                c.search = search(RESIDUAL_GRID)
            elif c.kind == "combined":
                c.search = search(plan.request.coarse, policy.refine, policy=policy)
                assert c.search.chosen is not None
                chosen[c.contrast] = c.search.chosen
            elif any(c.fold_vectors) and policy.domain_factors:
                combined = chosen[c.contrast]
                if combined.strength == 0.0 and not policy.domain_when_unsteered:
                    continue
                grid = domain_grid(combined.strength, policy.domain_factors)
                if policy.domain_in_full:
                    c.search = search(grid, refine=())
                else:  # the domain sum matters only if it beats the combined vector's choice
                    start = combined.strength if policy.domain_from_combined else None
                    c.search = search(grid, (), policy, beat=combined.aligned_score, start=start)


def planned_strengths(plan: AlignPlan, kind: str) -> int:
    """How many strengths a candidate's search scores at most (the progress bar's total)."""
    policy = plan.request.search
    if kind == "residual":
        return len(RESIDUAL_GRID) + len(REFINE_FACTORS)
    if kind == "domain_sum":
        return len(policy.domain_factors)
    if policy.name in ("full", "outward"):
        return len(plan.request.coarse) + len(policy.refine)
    return len(policy.anchors) + policy.confirm


@contextlib.contextmanager
def _progress(plan: AlignPlan, total: int) -> Iterator[Callable[[], None]]:
    from paso_local.progress import progress_bar

    with progress_bar("Cross-validating the strength", total, enabled=plan.request.show_progress) as bar:
        yield bar.advance
        bar.finish()  # the refinement is skipped when no strength helps: `total` is an upper bound


# --- step 5: the choice and the exported vector --------------------------------------------------------------


def best_candidate(candidates: Sequence[Candidate]) -> Candidate:
    """Lowest CV score; ties go to the earlier candidate (residual, then CONTRASTS order, combined first)."""
    searched = [c for c in candidates if c.search is not None and c.search.chosen is not None]
    return min(searched, key=lambda c: round(c.score, 9))


@dataclass
class FinalVector:
    directions: dict[int, np.ndarray]  # unit strength
    strength: float
    heads: list[tuple[int, int]] = field(default_factory=list)
    residual_blocks: list[int] = field(default_factory=list)
    domain_units: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    combined: StrengthSearch | None = None
    domain: StrengthSearch | None = None


def final_vector(
    plan: AlignPlan, found: Activations, best: Candidate, candidates: Sequence[Candidate], w_o: WoCache
) -> FinalVector:
    """The mean of the fold vectors that the CV scored (a refit on all answers differs from them, and its CV
    gain did not carry over to held-out items), at the chosen strength. Per-domain parts come from a refit on
    all answers, scaled so that their sum has the domain sum's units."""
    acts = found.acts
    assert best.search is not None and best.search.chosen is not None
    final = FinalVector(to_unit(summed(best.fold_vectors), acts.residual_norm), best.search.chosen.strength)
    if best.kind == "residual":
        final.residual_blocks = sorted(final.directions)
        final.combined = final.domain = best.search
        return final
    fit, domain_fits = fit_vectors(
        acts, plan.answers, plan.items, plan.request.heads, w_o, plan.min_layer, found.sources[best.contrast]
    )
    final.heads = fit.heads
    raw = {d: f.placed(PLACEMENT_SHIFT) for d, f in domain_fits.items()}
    units = vector_norm_units(summed(list(raw.values())), acts.residual_norm) or 1.0
    final.domain_units = {
        d: {b: (v / units).astype(np.float32) for b, v in vec.items()} for d, vec in raw.items()
    }
    own = {c.kind: c for c in candidates if c.contrast == best.contrast and c.search is not None}
    final.combined = own["combined"].search
    final.domain = own["domain_sum"].search if "domain_sum" in own else final.combined
    return final


# --- the whole path ------------------------------------------------------------------------------------------


@dataclass
class AlignOutcome:
    plan: AlignPlan
    best: Candidate
    candidates: list[Candidate]
    final: FinalVector
    activations: Activations
    seconds: float
    cost: CostLedger = field(default_factory=CostLedger)


def align_answers(plan: AlignPlan) -> AlignOutcome:
    """A person's answers, checked by `plan_alignment` -> their vector (`paso_local.converters.align_command` writes
    it). `outcome.cost` books every stage's prompts, tokens and seconds."""
    started = time.perf_counter()
    ledger = CostLedger()
    torch.manual_seed(0)
    found = read_activations(plan)
    if not found.cache_hit:  # three prompts per item (A, E and the readout's "("), the tokens computed
        ledger.count(3 * len(found.acts.item_numbers), found.acts.forward_tokens)
    ledger.close("activations" if not found.cache_hit else "activations (from the cache)")
    folds = cv_folds(found.acts, plan.answers)
    w_o = WoCache(found.torch_model)
    candidates = fit_candidates(plan, found, folds, w_o)
    ledger.close("probes and fold vectors")
    proxy = None
    if plan.request.scoring == "llama":
        proxy = screen_proxy(plan, found, ledger) if plan.request.search.proxy_screen else None
        if proxy is None:  # not needed beside llama.cpp (W_o of the layers used is kept)
            found.torch_model.release()
    numbers = [int(n) for n in found.acts.item_numbers]
    with row_scorer(plan, found, ledger) as score:
        cross_validate(plan, candidates, folds, score, numbers, ledger, proxy)
    best = best_candidate(candidates)
    final = final_vector(plan, found, best, candidates, w_o)
    ledger.close("final vector")
    return AlignOutcome(plan, best, candidates, final, found, time.perf_counter() - started, ledger)
