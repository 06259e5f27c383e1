"""Honest strength: k-fold cross-validation over the person's OWN questionnaire answers.

For each fold, PAS is fit on the other folds' answers; the left-out items are asked with the fold's vector
added to block outputs at every position, the answer is read with paso_local.llm.readout (median), and the
Aligned Score over all left-out items gives one point of the CV curve per strength (sign included). align
asks through llama.cpp (`paso_local.llm.steered_scoring`: the numerics the chat runs); the torch model's steered
passes (`torch_row_scorer`, restarting from the cached residual at the checkpoint block) remain as the
reference the llama.cpp path is measured against.

Strength units: a vector v (block -> [n_embd]) is rescaled so that sum_b |v_b| equals the mean residual norm
of the steered blocks; strength s then adds s x that (0.1 = a tenth of a typical residual norm, spread over
the blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from paso_local.converters.activations import ItemActivations, answer_logits
from paso_local.errors import PasoError
from paso_local.llm.readout import (
    DEFAULT_STATISTIC,
    OptionTokens,
    answer_statistic,
    expected_answer,
    option_distribution,
)
from paso_local.person.aligned_score import AlignedScore, aligned_score, aligned_score_floor
from paso_local.person.correlation import within_person_correlation
from paso_local.person.inventory import Item

FOLDS = 5
FOLD_SEED = 0
COARSE_GRID = (
    -1.2,
    -0.5,
    0.5,
    1.2,
    2.0,
)  # measured on SmolLM2: 1 nudges answers, 3 turns every answer to "A"
# The residual-stream mean difference lands in one block: on SmolLM2 +-0.5 already sends every CV answer to an
# extreme (subjects 0-1: CV score 3.6 -> 4.7 / 11-13), so its grid is finer.
RESIDUAL_GRID = (-0.3, -0.12, 0.12, 0.3)
REFINE_FACTORS = (0.75, 1.3)
DOMAIN_FACTORS = (0.5, 1.0, 2.0)  # the domain sum's scale, relative to the combined vector's chosen strength
MIN_MASS_RATIO = 0.5  # a strength is eligible only if it keeps >= half the base probability on the options
# Steer only for a clear CV gain (on the 5-domain sum): a gain within CV noise did not carry over to held-out
# items on the dev subjects, and an unsteered model is the safe default.
MIN_CV_GAIN = 0.05
# Items per llama.cpp call while a strength may stop early: each call re-decodes the shared head (26 tokens on
# SmolLM2, a third of one item), so about 3% more tokens for ten chances per strength to stop.
STOP_CHUNK = 12
# A screened strength is dropped after a random share of its items only if its estimated score lies this many
# standard errors above what it must beat: a loss far beyond sampling noise, never a close call (set a priori).
SCREEN_Z = 2.0
SCORE_TOLERANCE = 1e-9  # choose() compares scores rounded to 9 decimals: a floor must clear that to stop


def domain_grid(combined_strength: float, factors: Sequence[float] = DOMAIN_FACTORS) -> tuple[float, ...]:
    """Strengths tried for the domain-sum vector: around the combined vector's choice (same units and sign)"""
    if combined_strength == 0.0:
        return (-0.5, 0.5)
    return tuple(round(combined_strength * f, 6) for f in factors)


def make_folds(n: int, k: int = FOLDS, seed: int = FOLD_SEED) -> list[np.ndarray]:
    """Seeded partition of 0..n-1 into k folds of nearly equal size."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def vector_norm_units(directions: Mapping[int, np.ndarray], residual_norm: np.ndarray) -> float:
    """sum_b |v_b| / mean residual norm over the steered blocks (0 for an empty vector)."""
    if not directions:
        return 0.0
    total = float(sum(np.linalg.norm(v) for v in directions.values()))
    typical = float(np.mean([residual_norm[b] for b in directions]))
    return total / typical if typical > 0 else 0.0


def to_unit(directions: Mapping[int, np.ndarray], residual_norm: np.ndarray) -> dict[int, np.ndarray]:
    """The vector rescaled to strength units (see the module docstring)."""
    units = vector_norm_units(directions, residual_norm)
    if units == 0:
        return {}
    return {b: (v / units).astype(np.float32) for b, v in directions.items()}


def shared_prefix_length(tokens: np.ndarray, lengths: np.ndarray) -> int:
    """Leading positions every row of a right-padded batch [N, S] has in common (the chat template's system
    turn and the question's start), kept at least two short of the shortest row (the readout positions)."""
    same = np.all(tokens == tokens[:1], axis=0)
    common = int(np.argmin(same)) if not same.all() else tokens.shape[1]
    return max(0, min(common, int(lengths.min()) - 2))


def steered_distributions(
    model, acts: ItemActivations, rows: np.ndarray, directions: Mapping[int, np.ndarray], tokens: OptionTokens
) -> tuple[np.ndarray, np.ndarray]:
    """Option distributions [len(rows), 5] and masses of the readout prompts under block-output steering.
    The positions all prompts share are computed once per block, then attended to by every row."""
    start = acts.checkpoint_block
    if directions and min(directions) < start:
        raise ValueError(f"vector steers block {min(directions)}, before the checkpoint block {start}")
    lengths = acts.paren_lengths[rows]
    width = int(lengths.max())
    shared = shared_prefix_length(acts.paren_tokens[rows, :width], lengths)
    h = torch.from_numpy(np.ascontiguousarray(acts.checkpoint[rows, shared:width])).to(model.dtype)
    prefix = torch.from_numpy(np.ascontiguousarray(acts.checkpoint[rows[:1], :shared])).to(model.dtype)
    add = {
        b: torch.from_numpy(np.asarray(v, dtype=np.float32)).to(model.dtype) for b, v in directions.items()
    }
    with torch.inference_mode():
        for block in range(start, model.config.n_layer):
            if shared:
                prefix, h = model.run_block_after_prefix(block, prefix, h)
            else:
                h = model.run_blocks(h, block, block + 1)
            if block in add:
                # llama.cpp: direction.L added to the output of block L, every position
                prefix, h = prefix + add[block], h + add[block]
        first, after = answer_logits(model, h, torch.from_numpy(lengths - shared))
    return option_distribution(first, after, tokens)


@dataclass(frozen=True)
class CurvePoint:
    strength: float
    aligned_score: float
    per_domain: dict[str, float]
    mean_mass: float
    distinct_answers: int
    correlation: float | None = None  # within person: expected answer vs the person's, over the CV items
    # False: asking stopped once the strength could no longer win; aligned_score is then the floor it could
    # still have reached (aligned_score_floor), the other fields cover the items asked
    complete: bool = True

    def as_dict(self) -> dict:
        return {
            "strength": round(self.strength, 6),
            "aligned_score": round(self.aligned_score, 6),
            "per_domain": {d: round(v, 6) for d, v in self.per_domain.items()},
            "mean_mass": round(self.mean_mass, 6),
            "distinct_answers": self.distinct_answers,
            "correlation": None if self.correlation is None else round(self.correlation, 4),
            "complete": self.complete,
        }


@dataclass
class StrengthSearch:
    base: CurvePoint
    curve: list[CurvePoint] = field(default_factory=list)
    chosen: CurvePoint | None = None


def curve_point(
    strength: float,
    dist: np.ndarray,
    mass: np.ndarray,
    numbers: Sequence[int],
    answers: Mapping[int, int],
    items: Sequence[Item],
    statistic: str = DEFAULT_STATISTIC,
) -> CurvePoint:
    predicted = answer_statistic(dist, statistic)
    model_answers = {int(n): float(a) for n, a in zip(numbers, predicted, strict=False)}
    score: AlignedScore = aligned_score(model_answers, answers, items)
    expected = {int(n): float(v) for n, v in zip(numbers, expected_answer(dist), strict=False)}
    return CurvePoint(
        float(strength),
        score.total,
        score.per_domain,
        float(np.mean(mass)),
        len(set(predicted.tolist())),
        within_person_correlation(expected, answers),
    )


def choose(base: CurvePoint, curve: Sequence[CurvePoint]) -> CurvePoint:
    """Lowest CV Aligned Score among strengths that keep enough probability on the options; ties -> weaker.
    A strength whose asking stopped early never is (it stopped because it could not be)."""
    eligible = [p for p in curve if p.complete and p.mean_mass >= MIN_MASS_RATIO * base.mean_mass] + [base]
    best = min(eligible, key=lambda p: (round(p.aligned_score, 9), abs(p.strength)))
    return best if best.aligned_score <= base.aligned_score - MIN_CV_GAIN else base


# a strength and the score above which its asking may stop (None: ask every item) -> its CV point
Evaluate = Callable[[float, float | None], CurvePoint]


def search_strength(
    evaluate: Evaluate,
    base: CurvePoint,
    coarse: Sequence[float] = COARSE_GRID,
    refine: Sequence[float] = REFINE_FACTORS,
    outward: bool = False,
    stop_early: bool = False,
    beat: float | None = None,
    bar_at_best: bool = False,
    start: float | None = None,
) -> StrengthSearch:
    """The `coarse` strengths (both signs), then `refine` multiples of the best non-zero one. `outward`: each
    sign's strengths from the weakest out, stopping that sign at the first one that scores worse than the
    point before it (the unsteered model first): the CV curve is taken to rise beyond it. `stop_early`: stop
    asking a strength's items once its score can no longer decide anything (be chosen, or let an outward sign
    go on), by the exact floor (the choice is then the one asking every item gives) and, with a policy's
    screen, by the screen's estimate (`screened_point`: a strength that would have won may be dropped).
    `beat`: a score another candidate already reached; a strength that cannot get below it cannot win.
    `bar_at_best`: a strength can be chosen only if it beats every point found so far, so it is asked only
    until it cannot beat the best of them (or let its sign go on); False: only until it cannot beat the
    unsteered model by MIN_CV_GAIN (or `beat`). `start` (outward): one strength of `coarse` asked first; only
    if it can be chosen does the walk go on from it, both ways (`walks_from`)."""
    search = StrengthSearch(base=base)
    done = {0.0: base}
    must_beat = base.aligned_score - MIN_CV_GAIN  # what a chosen strength scores at most
    if beat is not None:
        must_beat = min(must_beat, beat)

    def best_so_far() -> CurvePoint:
        return choose(base, [p for s, p in done.items() if s != 0.0])

    def stop_above(also: float) -> float | None:
        if not stop_early:
            return None
        if not bar_at_best:
            return max(also, must_beat)
        return max(also, min(must_beat, best_so_far().aligned_score))

    signs = [sorted((s for s in coarse if s > 0), key=abs), sorted((s for s in coarse if s < 0), key=abs)]
    walks = signs if outward else [list(coarse)]
    first = base  # the point each walk starts from
    if outward and start is not None:
        first = done[float(start)] = evaluate(float(start), stop_above(must_beat))
        walks = walks_from(coarse, float(start)) if first.aligned_score <= must_beat else []
    for direction in walks:
        previous = first.aligned_score
        for s in direction:
            done[float(s)] = evaluate(float(s), stop_above(previous if outward else must_beat))
            if outward and done[float(s)].aligned_score > previous:
                break
            previous = done[float(s)].aligned_score
    if refine:
        best = best_so_far()
        if best.strength != 0.0:
            for factor in refine:
                s = round(best.strength * factor, 6)
                if s not in done:
                    done[s] = evaluate(s, stop_above(best.aligned_score))
    search.curve = sorted(done.values(), key=lambda p: p.strength)
    search.chosen = choose(base, [p for p in search.curve if p.strength != 0.0])
    return search


def walks_from(coarse: Sequence[float], start: float) -> list[list[float]]:
    """The strengths of `start`'s sign beyond it (outward first), then those between it and 0 (toward 0)."""
    same_sign = [s for s in coarse if s * start > 0 and s != start]
    return [
        sorted((s for s in same_sign if abs(s) > abs(start)), key=abs),
        sorted((s for s in same_sign if abs(s) < abs(start)), key=abs, reverse=True),
    ]


# rows of the activation set and a vector (block -> [n_embd]; None: unsteered) -> (dist [n, 5], mass [n])
RowScorer = Callable[[np.ndarray, Mapping[int, np.ndarray] | None], tuple[np.ndarray, np.ndarray]]
Measured = tuple[np.ndarray, np.ndarray]  # (dist [n, 5], mass [n]) of every CV row at one strength


def interpolated(measured: Mapping[float, Measured], strength: float) -> Measured:
    """Each item's option distribution at `strength`, read off the measured strengths (0 = unsteered
    included): log-probabilities and log-mass interpolated linearly between the two nearest measured
    strengths, clamped to the outermost ones. Linear, so no item's curve overshoots what was measured."""
    known = sorted(measured)
    upper = min(max(np.searchsorted(known, strength), 1), len(known) - 1)
    lo, hi = known[upper - 1], known[upper]
    t = float(np.clip((strength - lo) / (hi - lo), 0.0, 1.0))
    (d0, m0), (d1, m1) = measured[lo], measured[hi]
    logp = (1 - t) * np.log(np.clip(d0, 1e-12, None)) + t * np.log(np.clip(d1, 1e-12, None))
    dist = np.exp(logp - logp.max(axis=1, keepdims=True))
    dist /= dist.sum(axis=1, keepdims=True)
    mass = np.exp((1 - t) * np.log(np.clip(m0, 1e-12, None)) + t * np.log(np.clip(m1, 1e-12, None)))
    return dist, mass


@dataclass(frozen=True)
class SearchPolicy:
    """Which strengths the CV asks. `full`: every `coarse` strength, then `refine` multiples of the best.
    `outward`: the same, but each sign walked from its weakest strength out and stopped at the first one that
    scores worse than the point before it (see `search_strength`). `interpolated`: only the `anchors`; every strength of `grid` is estimated from them per item
    (`interpolated`), and the `confirm` best estimates not yet measured are measured before the choice,
    which is always made among measured strengths."""

    name: str = "full"
    anchors: tuple[float, ...] = ()
    grid: tuple[float, ...] = ()
    confirm: int = 1
    domain_factors: tuple[float, ...] = DOMAIN_FACTORS  # the domain sum's strengths; () skips that candidate
    domain_when_unsteered: bool = True  # try the domain sum (at +-0.5) when the combined vector chose 0
    stop_early: bool = False  # stop asking a strength that can no longer be chosen (search_strength)
    refine: tuple[float, ...] = REFINE_FACTORS  # multiples of the combined vector's best strength tried after
    # False: the domain sum's strengths are searched as the policy searches the combined vector's, and stop once
    # they cannot beat its choice; True: each asked on every item (every search before 2026-12-06)
    domain_in_full: bool = False
    item_share: float = 1.0  # the share of each fold's items asked at all (a seeded subset; 1: every item)
    # with stop_early: a seeded random share of each strength's items asked first, the strength dropped there if
    # its estimated score is SCREEN_Z standard errors beyond what it must beat (`screened_point`); 0: no screen
    screen: float = 0.0
    # with a proxy scorer (align's torch model, where it holds every block's weights): each strength is first
    # scored on every item by the proxy, and the screen then asks this share of llama.cpp's items and
    # corrects the proxy's estimate by their difference (`screened_point`); 0: the proxy is not used
    proxy_screen: float = 0.0
    # with `screen` and no proxy: a strength with a strength of its sign already asked in full is screened
    # against each item's answer read off the measured curve (`interpolated`: its nearest measured neighbours)
    # instead of the unsteered answer, on this share of its items; 0: the unsteered answers and `screen`
    curve_screen: float = 0.0
    bar_at_best: bool = False  # search_strength's
    # the domain sum's walk starts at the combined vector's strength and goes on (both ways) only if it wins there
    domain_from_combined: bool = False

    @property
    def outward(self) -> bool:
        return self.name == "outward"


FULL_SEARCH = SearchPolicy(domain_in_full=True)
INTERPOLATED_SEARCH = SearchPolicy(
    "interpolated",
    anchors=(-1.2, 1.2, 2.0),
    grid=(-1.2, -0.9, -0.6, -0.3, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0),
    confirm=1,
    domain_when_unsteered=False,
)
# the screen on half: the same choice as asking every item for 20 of 20 SmolLM2 dev subjects, 0.83 of the prompts
# of stopping at the exact floor alone; the bar at the best, the curve's screen and the domain sum from the
# combined strength: the same choice for 20 of 20, 0.79 of the prompts (docs/performance.md)
OUTWARD_SEARCH = SearchPolicy(
    "outward",
    domain_when_unsteered=False,
    stop_early=True,
    screen=0.5,
    proxy_screen=0.25,
    curve_screen=0.5,
    bar_at_best=True,
    domain_from_combined=True,
)
# what `align --cv-search` offers; the interpolated policy is measured in benchmarks/cv_search.py only: its
# estimates between saturated anchors were far off (docs/performance.md)
SEARCH_POLICIES = {"outward": OUTWARD_SEARCH, "full": FULL_SEARCH}
DEFAULT_SEARCH = "outward"


def search_policy(name: str, *, torch_screen: bool = True) -> SearchPolicy:
    """`--cv-search NAME`; `torch_screen` False (`--no-torch-screen`): every strength screened by llama.cpp alone."""
    if name not in SEARCH_POLICIES:
        raise PasoError(f"--cv-search {name!r}: choose one of {', '.join(SEARCH_POLICIES)}")
    policy = SEARCH_POLICIES[name]
    return policy if torch_screen else replace(policy, proxy_screen=0.0)


def cross_validated_search(
    score: RowScorer,
    numbers: Sequence[int],
    rows: np.ndarray,
    folds: Sequence[np.ndarray],
    fold_vectors: Sequence[Mapping[int, np.ndarray]],
    answers: Mapping[int, int],
    items: Sequence[Item],
    coarse: Sequence[float] = COARSE_GRID,
    refine: Sequence[float] = REFINE_FACTORS,
    progress: Callable[[float], None] | None = None,
    policy: SearchPolicy | None = None,
    beat: float | None = None,
    proxy: RowScorer | None = None,
    start: float | None = None,
) -> StrengthSearch:
    """CV curve for unit-strength fold vectors: fold f's vector answers rows[folds[f]] (items never fit on).
    `numbers[r]` is the item number of activation row r; `score` is llama.cpp's (align) or torch's;
    `progress(strength)` is called after each strength is scored; `policy` None or "full" searches `coarse`
    then `refine`, as every align did before 2026-12-04 (SearchPolicy has the others); `beat`: the score
    another candidate reached (`search_strength`); `proxy`: a cheaper scorer the screen starts from (used
    only where the policy's `proxy_screen` is set and it stops early)."""
    if policy is not None and policy.item_share < 1.0:
        rows, folds = item_subset(rows, folds, policy.item_share)
    asked = [int(numbers[r]) for r in rows]
    measured: dict[float, Measured] = {0.0: score(rows, None)}
    base = curve_point(0.0, *measured[0.0], asked, answers, items)
    base_errors = answer_errors(measured[0.0][0], asked, answers)
    screen = policy.screen if policy is not None else 0.0
    chunks, screened = (
        screening_order(folds, base_errors, screen) if screen else (stopping_order(folds, base_errors), 0)
    )
    proxy_share = policy.proxy_screen if policy is not None and proxy is not None else 0.0
    curve_share = policy.curve_screen if policy is not None else 0.0

    def every_fold(scorer: RowScorer, strength: float) -> Measured:
        """Every CV row scored by `scorer`, each fold under its own vector at `strength`."""
        dist = np.zeros((len(rows), 5))
        mass = np.zeros(len(rows))
        for fold, vector in zip(folds, fold_vectors, strict=False):
            scaled = {b: v * np.float32(strength) for b, v in vector.items()}
            dist[fold], mass[fold] = scorer(rows[fold], scaled or None)
        return dist, mass

    def proxy_errors(strength: float) -> np.ndarray:
        """|the proxy's steered answer - the person's| for every CV row (0 where unanswered)."""
        return answer_errors(every_fold(proxy, strength)[0], asked, answers)

    def measure(strength: float) -> Measured:
        return measure_done(strength, *every_fold(score, strength))

    def measure_until(strength: float, stop_above: float) -> CurvePoint:
        """The strength's items chunk by chunk, stopping once even error-free answers to the rest would leave
        its score above `stop_above`."""
        dist = np.zeros((len(rows), 5))
        mass = np.zeros(len(rows))
        pending = set(range(len(rows)))
        known, order, screen_turns = base_errors, chunks, screened
        if proxy_share:  # the proxy's errors known for every row: its worst first, a smaller screen
            known = proxy_errors(strength)
            order, screen_turns = screening_order(folds, -known, proxy_share)
        elif screened and curve_share and any(s * strength > 0 for s in measured):
            known = answer_errors(interpolated(measured, strength)[0], asked, answers)
            order, screen_turns = screening_order(folds, -known, curve_share)
        for turn, (fold, chunk) in enumerate(order, start=1):
            scaled = {b: v * np.float32(strength) for b, v in fold_vectors[fold].items()}
            dist[chunk], mass[chunk] = score(rows[chunk], scaled or None)
            pending.difference_update(int(r) for r in chunk)
            stopped = stopped_point(strength, dist, mass, asked, pending, answers, items, stop_above)
            if stopped is None and turn == screen_turns:
                stopped = screened_point(
                    strength, dist, mass, known, asked, pending, answers, items, stop_above
                )
            if stopped is not None:
                if progress is not None:
                    progress(strength)
                return stopped
        return curve_point(strength, *measure_done(strength, dist, mass), asked, answers, items)

    def measure_done(strength: float, dist: np.ndarray, mass: np.ndarray) -> Measured:
        if progress is not None:
            progress(strength)
        measured[strength] = (dist, mass)
        return dist, mass

    def evaluate(strength: float, stop_above: float | None = None) -> CurvePoint:
        if stop_above is not None:
            return measure_until(strength, stop_above)
        return curve_point(strength, *measure(strength), asked, answers, items)

    if policy is None or policy.name in ("full", "outward"):
        outward, stop_early = (policy.outward, policy.stop_early) if policy else (False, False)
        return search_strength(
            evaluate,
            base,
            coarse,
            refine,
            outward=outward,
            stop_early=stop_early,
            beat=beat,
            bar_at_best=policy is not None and policy.bar_at_best,
            start=start,
        )
    return interpolated_search(
        policy, measure, measured, lambda s, m: curve_point(s, *m, asked, answers, items)
    )


def stopped_point(
    strength: float,
    dist: np.ndarray,
    mass: np.ndarray,
    numbers: Sequence[int],
    pending: set[int],
    answers: Mapping[int, int],
    items: Sequence[Item],
    stop_above: float,
) -> CurvePoint | None:
    """The incomplete CV point of a strength whose rows outside `pending` are asked, if even error-free answers
    to the pending rows would leave its score above `stop_above`; None while it could still get there."""
    if not pending:
        return None
    done, predicted = asked_answers(dist, len(numbers), pending)
    so_far = {int(numbers[r]): float(a) for r, a in zip(done, predicted, strict=True)}
    floor = aligned_score_floor(so_far, answers, items, [int(numbers[r]) for r in pending])
    if floor <= stop_above + SCORE_TOLERANCE:
        return None
    return incomplete_point(strength, floor, mass[done], predicted)


def asked_answers(dist: np.ndarray, rows: int, pending: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """The rows asked so far (all but `pending`) and the answers read from them."""
    done = np.array(sorted(set(range(rows)) - pending))
    return done, answer_statistic(dist[done], DEFAULT_STATISTIC)


def incomplete_point(strength: float, score: float, mass: np.ndarray, predicted: np.ndarray) -> CurvePoint:
    """A strength whose asking stopped: `score` stands in for its CV score, the rest covers the rows asked."""
    return CurvePoint(
        strength, score, {}, float(np.mean(mass)), len(set(predicted.tolist())), None, complete=False
    )


def screened_point(
    strength: float,
    dist: np.ndarray,
    mass: np.ndarray,
    known_errors: np.ndarray,
    numbers: Sequence[int],
    pending: set[int],
    answers: Mapping[int, int],
    items: Sequence[Item],
    stop_above: float,
) -> CurvePoint | None:
    """The incomplete CV point of a strength whose asked rows (a random sample of each fold) put its estimated
    score SCREEN_Z standard errors above `stop_above`; None otherwise. `known_errors`: an error known for every
    row without asking it (the unsteered model's, or a proxy's steered answers). Per domain, the estimate is
    their mean plus the sample's mean paired difference (steered error minus known error), its variance the
    sample's over the rows asked, with the finite-population correction; the total sums the domains (a
    difference estimator: the closer the known errors follow the asked ones, the narrower it is)."""
    domain_of = {item.number: item.domain for item in items}
    done, predicted = asked_answers(dist, len(numbers), pending)
    truth = np.array([answers.get(int(numbers[r]), 0) for r in done], dtype=float)
    change = np.abs(predicted - truth) - known_errors[done]
    answered = np.array([answers.get(int(n), 0) > 0 for n in numbers])
    domains = np.array([domain_of[int(numbers[r])] for r in range(len(numbers))])
    estimate, variance = 0.0, 0.0
    for domain in sorted(set(domains[answered])):
        population = answered & (domains == domain)
        sample = (truth > 0) & (domains[done] == domain)
        n, total = int(sample.sum()), int(population.sum())
        if n < 2:
            return None
        estimate += float(known_errors[population].mean() + change[sample].mean())
        variance += float(change[sample].var(ddof=1)) / n * (1 - n / total)
    if estimate - SCREEN_Z * np.sqrt(variance) <= stop_above + SCORE_TOLERANCE:
        return None
    return incomplete_point(strength, estimate, mass[done], predicted)


def item_subset(
    rows: np.ndarray, folds: Sequence[np.ndarray], share: float, seed: int = FOLD_SEED
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A seeded `share` of each fold's rows (at least one), as new rows and folds over them."""
    rng = np.random.default_rng(seed)
    kept = [np.sort(rng.permutation(fold)[: max(1, round(share * len(fold)))]) for fold in folds]
    starts = np.cumsum([0] + [len(k) for k in kept])
    new_folds = [np.arange(starts[f], starts[f + 1]) for f in range(len(kept))]
    return rows[np.concatenate(kept)], new_folds


def answer_errors(dist: np.ndarray, numbers: Sequence[int], answers: Mapping[int, int]) -> np.ndarray:
    """|answer read from `dist` - the person's| per CV row (0 where the person left the item unanswered)."""
    predicted = answer_statistic(dist, DEFAULT_STATISTIC)
    truth = np.array([answers.get(int(n), 0) for n in numbers], dtype=float)
    return np.where(truth > 0, np.abs(predicted - truth), 0.0)


def stopping_order(folds: Sequence[np.ndarray], key: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(fold, positions) chunks of at most STOP_CHUNK in the order a stoppable strength asks them: within each
    fold by ascending `key` (the unsteered errors: the items the unsteered model already answers best first,
    where steering can only add error, so a losing strength shows it soonest; a proxy's steered errors
    negated: its worst answers first), and the folds take turns so every domain fills evenly."""
    queues = []
    for fold in folds:
        ordered = fold[np.argsort(key[fold], kind="stable")]
        queues.append(np.array_split(ordered, max(1, -(-len(ordered) // STOP_CHUNK))))
    return [
        (f, queue[turn])
        for turn in range(max((len(q) for q in queues), default=0))
        for f, queue in enumerate(queues)
        if turn < len(queue) and len(queue[turn])
    ]


def screening_order(
    folds: Sequence[np.ndarray], key: np.ndarray, share: float, seed: int = FOLD_SEED
) -> tuple[list[tuple[int, np.ndarray]], int]:
    """A seeded random `share` of each fold first (the screen: an unbiased sample, folds taking turns), then
    each fold's other items in `stopping_order` by `key`; and how many chunks the screen fills."""
    rng = np.random.default_rng(seed)
    shuffled = [rng.permutation(fold) for fold in folds]
    cut = [max(2, round(share * len(fold))) for fold in folds]
    screen = stopping_order([np.sort(f[:c]) for f, c in zip(shuffled, cut, strict=True)], np.zeros_like(key))
    rest = stopping_order([np.sort(f[c:]) for f, c in zip(shuffled, cut, strict=True)], key)
    return screen + rest, len(screen)


def interpolated_search(
    policy: SearchPolicy,
    measure: Callable[[float], Measured],
    measured: dict[float, Measured],
    point: Callable[[float, Measured], CurvePoint],
) -> StrengthSearch:
    """The anchors measured, the grid estimated from them, the best estimates confirmed (see SearchPolicy)."""
    for s in policy.anchors:
        if float(s) not in measured:
            measure(float(s))
    base = point(0.0, measured[0.0])
    estimates = [point(float(s), interpolated(measured, float(s))) for s in policy.grid]
    ranked = sorted(estimates, key=lambda p: (round(p.aligned_score, 9), abs(p.strength)))
    eligible = [p for p in ranked if p.mean_mass >= MIN_MASS_RATIO * base.mean_mass]
    anchored = choose(base, [point(s, m) for s, m in measured.items() if s != 0.0])
    # only an estimate that would be chosen over what was measured is worth measuring (as the full search
    # refines only around a strength that helps)
    could_win = [
        p
        for p in eligible
        if p.aligned_score <= min(base.aligned_score - MIN_CV_GAIN, anchored.aligned_score)
    ]
    for p in [p for p in could_win if p.strength not in measured][: policy.confirm]:
        measure(p.strength)
    search = StrengthSearch(base=base)
    search.curve = sorted((point(s, m) for s, m in measured.items()), key=lambda p: p.strength)
    search.chosen = choose(base, [p for p in search.curve if p.strength != 0.0])
    return search


def torch_row_scorer(model, acts: ItemActivations, tokens: OptionTokens) -> RowScorer:
    """Scores rows with the torch model's steered passes (the reference the llama.cpp path is checked
    against); unsteered rows come from the activation pass itself."""

    def score(rows: np.ndarray, directions: Mapping[int, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
        if not directions:
            return acts.base_dist[rows], acts.base_mass[rows]
        return steered_distributions(model, acts, rows, directions, tokens)

    return score
