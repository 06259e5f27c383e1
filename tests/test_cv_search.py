"""Align's strength search: the interpolated policy (by hand), the cost ledger and the per-model unsteered cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from paso_local.converters.align_cost import CostLedger
from paso_local.converters.strength import (
    FULL_SEARCH,
    INTERPOLATED_SEARCH,
    SearchPolicy,
    cross_validated_search,
    interpolated,
    make_folds,
)
from paso_local.converters.unsteered_cache import load_unsteered, save_unsteered
from paso_local.person.inventory import form_items


def test_interpolation_is_linear_in_log_probability_between_the_nearest_measured_strengths():
    d0 = np.array([[0.5, 0.5, 1e-12, 1e-12, 1e-12]])
    d1 = np.array([[0.125, 0.5, 1e-12, 1e-12, 1e-12]])
    measured = {0.0: (d0, np.array([1.0])), 1.0: (d1, np.array([0.25]))}
    dist, mass = interpolated(measured, 0.5)
    # log p halfway: option 1 sqrt(0.5 * 0.125) = 0.25, option 2 0.5, renormalised
    assert dist[0, :2] == pytest.approx([0.25 / 0.75, 0.5 / 0.75], rel=1e-9)
    assert mass[0] == pytest.approx(0.5)
    assert np.allclose(interpolated(measured, 1.0)[0], d1 / d1.sum())  # a measured strength is itself
    assert np.allclose(interpolated(measured, 3.0)[0], d1 / d1.sum())  # beyond: clamped, never extrapolated
    assert np.allclose(interpolated(measured, -1.0)[0], d0 / d0.sum())


def one_hot(answers: np.ndarray) -> np.ndarray:
    dist = np.full((len(answers), 5), 1e-9)
    dist[np.arange(len(answers)), answers - 1] = 1.0
    return dist / dist.sum(axis=1, keepdims=True)


class PlantedScorer:
    """A planted vector: every item's answer distribution is centred on 3 - 1.6 x strength (sharply), so the
    person's answer 2 is the median from about 0.31 to 0.94 strength units. Records the strengths asked."""

    def __init__(self):
        self.asked: list[float] = []
        self.items: dict[float, int] = {}  # strength -> item prompts asked at it

    def __call__(self, rows, directions):
        strength = 0.0 if not directions else float(next(iter(directions.values()))[0])
        self.asked.append(strength)
        self.items[round(strength, 6)] = self.items.get(round(strength, 6), 0) + len(rows)
        centre = 3 - 1.6 * strength
        logits = -4 * (np.arange(1, 6)[None, :] - centre) ** 2 * np.ones((len(rows), 1))
        dist = np.exp(logits - logits.max(axis=1, keepdims=True))
        return dist / dist.sum(axis=1, keepdims=True), np.ones(len(rows))


def search(policy: SearchPolicy, scorer=None, beat: float | None = None, proxy=None, n_items: int = 40):
    items = list(form_items("120"))[:n_items]
    numbers = [i.number for i in items]
    answers = {n: 2 for n in numbers}
    rows = np.arange(len(items))
    folds = make_folds(len(rows), 5)
    unit = [{3: np.ones(4, dtype=np.float32)} for _ in folds]
    scorer = scorer or PlantedScorer()
    found = cross_validated_search(
        scorer, numbers, rows, folds, unit, answers, items, policy=policy, beat=beat, proxy=proxy
    )
    return found, sorted({round(s, 6) for s in scorer.asked if s != 0.0})


def test_the_interpolated_search_measures_its_anchors_and_confirms_the_best_estimate():
    found, asked = search(INTERPOLATED_SEARCH)
    # anchors; then the estimates at 0.6 and 0.9 both answer 2 everywhere: the weaker is confirmed
    assert asked == [-1.2, 0.6, 1.2, 2.0]
    assert found.chosen.strength == pytest.approx(0.6) and found.chosen.aligned_score == 0.0
    assert {round(p.strength, 6) for p in found.curve} == {0.0, -1.2, 0.6, 1.2, 2.0}  # measured points only


def test_the_interpolated_search_asks_fewer_strengths_than_the_full_one_for_the_same_score():
    full, full_asked = search(FULL_SEARCH)
    fast, fast_asked = search(INTERPOLATED_SEARCH)
    assert full_asked == [
        -1.2,
        -0.5,
        0.375,
        0.5,
        0.65,
        1.2,
        2.0,
    ]  # the coarse grid, then 0.5 x 0.75 and x 1.3
    assert full.chosen.strength == pytest.approx(0.375)
    assert full.chosen.aligned_score == fast.chosen.aligned_score == 0.0
    assert len(fast_asked) == 4 < len(full_asked)


def test_the_ledger_books_counts_and_tokens_to_the_stage_that_closes_them():
    tokens = [0]
    ledger = CostLedger()
    ledger.watch_tokens(lambda: tokens[0])
    ledger.count(3, 30)  # counted by hand (torch)
    ledger.close("activations")
    ledger.count(10)
    tokens[0] = 700  # read from the runtime's counter
    ledger.close("cv +0.5")
    tokens[0] = 900
    ledger.stop_watching()  # the runtime closes: what it counted is kept, and its counter is read no more
    tokens[0] = 0
    ledger.close("final vector")
    rows = ledger.as_rows()
    assert [(r["stage"], r["evaluations"], r["tokens"]) for r in rows] == [
        ("activations", 3, 30),
        ("cv +0.5", 10, 700),
        ("final vector", 0, 200),
    ]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0, abs=1e-3)
    peaks = [r["peak_rss_mb"] for r in rows]  # the process's peak so far: never falls, and is this process's
    assert peaks == sorted(peaks) and peaks[0] > 0


def test_unsteered_answers_round_trip_exactly_through_their_cache(tmp_path):
    answers = {7: (np.array([0.1, 0.2, 0.3, 0.2, 0.2]), 0.9), 3: (np.array([0.0, 0.0, 0.0, 0.5, 0.5]), 0.5)}
    path = tmp_path / "u.npz"
    save_unsteered(path, answers)
    back = load_unsteered(path)
    assert sorted(back) == [3, 7]
    for n, (d, m) in answers.items():
        assert np.array_equal(back[n][0], d) and back[n][1] == m
    path.write_bytes(b"not an npz")
    assert load_unsteered(path) == {}  # unreadable: asked again, never trusted


def test_the_command_lines_search_names_are_the_converters_policies():
    from paso_local.cli_parser import CV_SEARCHES
    from paso_local.converters.strength import DEFAULT_SEARCH, SEARCH_POLICIES

    assert set(CV_SEARCHES) == set(SEARCH_POLICIES) and CV_SEARCHES[0] == DEFAULT_SEARCH


def test_the_outward_search_stops_each_sign_where_the_score_gets_worse_and_chooses_as_the_full_one():
    from paso_local.converters.strength import OUTWARD_SEARCH

    full, full_asked = search(FULL_SEARCH)
    outward, asked = search(dataclasses.replace(OUTWARD_SEARCH, screen=0.0))
    # +: 0.5 answers 2 (better than the unsteered 3), 1.2 answers 1 (worse): 2.0 is never asked;
    # -: -0.5 is already worse: -1.2 is never asked; then the refinement around 0.5, as the full search does
    assert asked == [-0.5, 0.375, 0.5, 0.65, 1.2]
    assert outward.chosen.strength == full.chosen.strength == pytest.approx(0.375)
    assert len(asked) < len(full_asked)


def test_the_outward_search_stops_asking_a_strength_once_it_cannot_win():
    from paso_local.converters.strength import OUTWARD_SEARCH, STOP_CHUNK

    scorer = PlantedScorer()
    found, asked = search(dataclasses.replace(OUTWARD_SEARCH, screen=0.0), scorer)
    assert asked == [-0.5, 0.375, 0.5, 0.65, 1.2]  # the same strengths as asking every item
    # 40 items, 8 per domain, in 5 folds of 8 (one chunk each, STOP_CHUNK >= 8). Unsteered every answer is 3
    # against the person's 2: 1 per domain, 5 in all, so a strength must score <= 4.95. At -0.5 every answer is 4
    # (error 2): after 2 folds the floor is 2 x 16 / 8 = 4, after 3 it is 2 x 24 / 8 = 6 > 5: stop, 16 unasked.
    assert STOP_CHUNK >= 8
    assert scorer.items[-0.5] == 24
    stopped = next(p for p in found.curve if p.strength == -0.5)
    assert not stopped.complete and stopped.aligned_score == pytest.approx(6.0)
    # at +1.2 every answer is 1 (error 1 per item). It can be chosen only if it beats every point found so far,
    # +0.5's 0 among them, so its first chunk (fold 0's 8 items) stops it...
    assert scorer.items[1.2] == 8
    # ...where with the bar at the unsteered model's 4.95 (before 2026-12-06) its 5.0 showed only with every item
    loose = PlantedScorer()
    search(dataclasses.replace(OUTWARD_SEARCH, screen=0.0, bar_at_best=False), loose)
    assert loose.items[1.2] == 40
    assert all(scorer.items[s] == 40 for s in (0.375, 0.5, 0.65))
    assert found.chosen.strength == pytest.approx(0.375) and found.chosen.complete


class RandomScorer:
    """Each (strength, item) gets a fixed random answer distribution, sharper or flatter at random."""

    def __init__(self, seed: int):
        self.seed = seed
        self.asked: list[float] = []
        self.items = 0

    def __call__(self, rows, directions):
        strength = 0.0 if not directions else float(next(iter(directions.values()))[0])
        self.asked.append(strength)
        self.items += len(rows) if directions else 0
        dists = []
        for r in rows:
            rng = np.random.default_rng([self.seed, int(r), int(round(strength * 1000)) + 10_000])
            logits = rng.normal(0, 3, 5) + (2 - abs(strength)) * np.array([0, 1, 2, 1, 0])
            dists.append(np.exp(logits - logits.max()))
        dist = np.array(dists)
        return dist / dist.sum(axis=1, keepdims=True), np.ones(len(rows))


@pytest.mark.parametrize("seed", range(12))
def test_stopping_early_never_changes_what_the_outward_search_chooses(seed):
    from paso_local.converters.strength import OUTWARD_SEARCH

    every = RandomScorer(seed)
    reference, reference_asked = search(dataclasses.replace(OUTWARD_SEARCH, stop_early=False), every)
    early = RandomScorer(seed)
    found, asked = search(dataclasses.replace(OUTWARD_SEARCH, screen=0.0), early)
    assert asked == reference_asked
    assert found.chosen == reference.chosen
    truth = {p.strength: p.aligned_score for p in reference.curve}
    for point in found.curve:
        if point.complete:
            assert point.aligned_score == pytest.approx(truth[point.strength], abs=1e-12)
        else:  # a floor never lies above the score asking every item gives
            assert point.aligned_score <= truth[point.strength] + 1e-12
    assert early.items <= every.items


@pytest.mark.parametrize("seed", range(12))
def test_a_search_that_must_beat_another_candidate_stops_sooner_and_never_misses_a_winner(seed):
    """The domain sum's search: bounded by the combined vector's CV score, a strength stops once it cannot get
    below it, and whenever the unbounded search would have found something below it, the choice is the same."""
    from paso_local.converters.strength import OUTWARD_SEARCH

    policy = dataclasses.replace(OUTWARD_SEARCH, screen=0.0)
    free = RandomScorer(seed)
    reference, _ = search(policy, free)
    scores = sorted(p.aligned_score for p in reference.curve if p.complete)
    for beat in (scores[0] - 1.0, scores[0] - 0.01, scores[len(scores) // 2], scores[-1] + 0.01):
        bounded = RandomScorer(seed)
        found, _ = search(policy, bounded, beat=beat)
        assert bounded.items <= free.items
        if reference.chosen.strength != 0.0 and reference.chosen.aligned_score < beat:
            assert found.chosen == reference.chosen
        else:  # nothing below the bound: whatever it chose does not beat the other candidate
            assert found.chosen.strength == 0.0 or found.chosen.aligned_score >= beat - 1e-9


def test_an_item_subset_keeps_a_seeded_share_of_every_fold():
    from paso_local.converters.strength import item_subset

    rows = np.arange(100, 140)
    folds = make_folds(40, 5)
    kept_rows, kept_folds = item_subset(rows, folds, 0.5)
    assert [len(f) for f in kept_folds] == [4] * 5
    assert np.array_equal(np.concatenate(kept_folds), np.arange(20))  # folds over the kept rows, in turn
    for fold, part in zip(folds, kept_folds, strict=True):
        assert set(kept_rows[part]) <= set(rows[fold])  # each fold keeps only its own rows
    again_rows, _ = item_subset(rows, folds, 0.5)
    assert np.array_equal(kept_rows, again_rows)  # seeded


def test_a_search_on_half_the_items_asks_half_the_prompts():
    from paso_local.converters.strength import OUTWARD_SEARCH

    every = PlantedScorer()
    search(dataclasses.replace(OUTWARD_SEARCH, stop_early=False), every)
    half = PlantedScorer()
    found, _ = search(dataclasses.replace(OUTWARD_SEARCH, stop_early=False, item_share=0.5), half)
    assert {s: n // 2 for s, n in every.items.items()} == half.items
    assert found.chosen.strength == pytest.approx(0.375)


def test_a_screened_strength_is_dropped_only_when_its_estimate_lies_two_standard_errors_beyond_the_bar():
    from paso_local.converters.strength import SCREEN_Z, screened_point

    items = list(form_items("120"))[:40]  # 8 items in each of the five domains
    numbers = [i.number for i in items]
    answers = {n: 3 for n in numbers}  # the unsteered model answers 3 too: every unsteered error is 0
    steered = np.full(40, 3)
    pending = set(range(40))
    for domain in "ACENO":
        rows = [r for r, i in enumerate(items) if i.domain == domain][:4]
        steered[rows] = [4, 4, 3, 5]  # changes 1, 1, 0, 2: mean 1, sample variance 2/3
        pending -= set(rows)
    dist = one_hot(steered)
    # per domain: estimate 0 + 1, variance of the mean (2/3) / 4 x (1 - 4/8) = 1/12; five domains: 5 and 5/12
    bar = 5 - SCREEN_Z * np.sqrt(5 / 12)  # 3.709 with SCREEN_Z 2
    args = (dist, np.ones(40), np.zeros(40), numbers, pending, answers, items)
    dropped = screened_point(0.5, *args, stop_above=bar - 0.01)
    assert dropped is not None and not dropped.complete and dropped.aligned_score == pytest.approx(5.0)
    assert screened_point(0.5, *args, stop_above=bar + 0.01) is None  # within noise of the bar: asked in full


def test_the_screen_drops_a_strength_that_cannot_win_after_half_its_items_and_chooses_as_before():
    from paso_local.converters.strength import OUTWARD_SEARCH

    scorer = PlantedScorer()
    found, asked = search(OUTWARD_SEARCH, scorer)  # align's default: screened on half
    assert asked == [-0.5, 0.375, 0.5, 0.65, 1.2]
    # +1.2 answers 1 everywhere: with the bar at +0.5's 0, the exact floor stops it after the first chunk of its
    # random half (4 items)
    assert scorer.items[1.2] == 4
    assert (
        scorer.items[-0.5] == 20
    )  # the exact floor stops it at the same point (5 chunks of 4: 2 x 20 / 8 = 5)
    assert all(scorer.items[s] == 40 for s in (0.375, 0.5, 0.65))  # the winners are asked in full
    assert found.chosen.strength == pytest.approx(0.375) and found.chosen.complete


# each screen, set apart from the default: (policy changes, the proxy scorer for a seed or None)
SCREENS = {
    "on half": ({"screen": 0.5}, None),
    "against the measured curve, on a quarter": ({"curve_screen": 0.25}, None),
    # a proxy that knows nothing (another seed's answers) widens the screen's estimate instead of misleading it
    "by an unrelated proxy": ({}, lambda seed: RandomScorer(seed + 100)),
}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("seed", range(12))
def test_a_screened_search_scores_every_point_it_keeps_on_all_items(seed, screen):
    """Every strength kept is scored on all its items, as asking every item scores it."""
    from paso_local.converters.strength import OUTWARD_SEARCH

    changes, proxy = SCREENS[screen]
    reference, _ = search(dataclasses.replace(OUTWARD_SEARCH, stop_early=False), RandomScorer(seed))
    policy = dataclasses.replace(OUTWARD_SEARCH, **changes)
    found, _ = search(policy, RandomScorer(seed), proxy=proxy(seed) if proxy else None)
    assert_kept_points_scored_in_full(found, reference)


def assert_kept_points_scored_in_full(found, reference) -> None:
    """Every complete point of `found` scores what asking every item (`reference`) scored; the choice is one."""
    truth = {p.strength: p.aligned_score for p in reference.curve}
    for point in found.curve:
        if point.complete and point.strength in truth:
            assert point.aligned_score == pytest.approx(truth[point.strength], abs=1e-12)
    assert found.chosen.complete


def test_a_proxys_known_errors_narrow_the_screen_to_the_sampled_differences():
    """The difference estimator by hand: per domain the proxy's mean error over every row plus the sample's mean
    (asked error - proxy error), its variance the sample's over the rows asked, finite-population corrected."""
    from paso_local.converters.strength import SCREEN_Z, screened_point

    items = list(form_items("120"))[:40]  # 8 items in each of the five domains
    numbers = [i.number for i in items]
    answers = {n: 3 for n in numbers}
    steered = np.full(40, 3)
    known = np.ones(40)  # the proxy's error: 1 on every row...
    pending = set(range(40))
    for domain in "ACENO":
        rows = [r for r, i in enumerate(items) if i.domain == domain][:4]
        steered[rows] = [4, 4, 3, 5]  # asked errors 1, 1, 0, 2
        known[rows] = [1, 1, 0, 1]  # ...but 0 and 1 on two asked rows: differences 0, 0, 0, 1
        pending -= set(rows)
    # per domain: 7/8 + 1/4 = 9/8, variance 0.25 / 4 x (1 - 4/8) = 1/32; five domains: 45/8 and 5/32
    bar = 45 / 8 - SCREEN_Z * np.sqrt(5 / 32)  # 4.834 with SCREEN_Z 2
    args = (one_hot(steered), np.ones(40), known, numbers, pending, answers, items)
    dropped = screened_point(0.5, *args, stop_above=bar - 0.01)
    assert dropped is not None and dropped.aligned_score == pytest.approx(45 / 8)
    assert screened_point(0.5, *args, stop_above=bar + 0.01) is None


def test_a_proxy_that_answers_as_llama_does_screens_on_a_quarter_and_chooses_as_before():
    from paso_local.converters.strength import OUTWARD_SEARCH

    scorer, proxy = PlantedScorer(), PlantedScorer()
    found, _ = search(OUTWARD_SEARCH, scorer, proxy=proxy, n_items=120)  # 24 items in each domain
    assert OUTWARD_SEARCH.proxy_screen == 0.25
    # -0.5 (every answer 4: 10.0 against the unsteered 5.0) is dropped after the quarter (6 items of each fold's
    # 24), the proxy's estimate exact and no asked answer differing from it; +1.2 (every answer 1) after its
    # first 6 by the exact floor (above +0.5's 0); the proxy scored every item of every strength
    assert scorer.items[-0.5] == 30 and scorer.items[1.2] == 6
    assert all(scorer.items[s] == 120 for s in (0.375, 0.5, 0.65))  # the winners are asked in full
    assert all(proxy.items[s] == 120 for s in (-0.5, 0.375, 0.5, 0.65, 1.2))
    assert found.chosen.strength == pytest.approx(0.375) and found.chosen.complete


def test_the_torch_model_holds_every_block_of_a_small_model_and_not_of_the_15b():
    from types import SimpleNamespace

    from paso_local.converters.align_inputs import torch_cached_blocks

    smollm2 = SimpleNamespace(n_embd=576, n_head=9, n_head_kv=3, head_dim=64, n_ff=1536, n_layer=30)
    coder_15b = SimpleNamespace(n_embd=1536, n_head=12, n_head_kv=2, head_dim=128, n_ff=8960, n_layer=28)
    assert torch_cached_blocks(smollm2, torch.bfloat16) == 30  # the torch screen's condition (screen_proxy)
    assert torch_cached_blocks(coder_15b, torch.bfloat16) == 11  # 94 MB a block: 11 in the 1 GiB cache


def test_a_strength_beside_one_asked_in_full_is_screened_against_the_measured_curve_on_a_quarter():
    """+1.2 is screened against +0.5's answers (asked in full before it), a quarter of its items; -0.5, with no
    strength of its sign measured, against the unsteered answers on half, as before."""
    from paso_local.converters.strength import OUTWARD_SEARCH

    scorer = PlantedScorer()
    # the bar at the unsteered model (4.95), so that the screen, not the exact floor, drops +1.2
    policy = dataclasses.replace(OUTWARD_SEARCH, curve_screen=0.25, bar_at_best=False)
    found, asked = search(policy, scorer, n_items=120)
    assert asked == [-0.5, 0.375, 0.5, 0.65, 1.2]
    # +1.2 answers 1 where +0.5 answered 2: every sampled difference is +1, so the estimate is exact (0 + 5 x 1
    # = 5.0 against 4.95) and it is dropped after 6 of each fold's 24 items
    assert scorer.items[1.2] == 30
    assert scorer.items[-0.5] == 60  # the unsteered screen, on half
    assert all(scorer.items[s] == 120 for s in (0.375, 0.5, 0.65))  # the winners are asked in full
    assert found.chosen.strength == pytest.approx(0.375) and found.chosen.complete


def test_with_the_bar_at_the_best_a_strength_stops_once_it_cannot_beat_the_best_point_found():
    from paso_local.converters.strength import OUTWARD_SEARCH

    scorer = PlantedScorer()
    assert OUTWARD_SEARCH.bar_at_best  # align's default
    found, asked = search(OUTWARD_SEARCH, scorer)
    assert asked == [-0.5, 0.375, 0.5, 0.65, 1.2]
    # +0.5 scores 0; +1.2 answers 1 where the person answered 2, so its first chunk (4 items of fold 0's random
    # half) already puts its floor above 0: it cannot be chosen nor let the sign go on (20 items with the bar at
    # the unsteered model's 4.95)
    assert scorer.items[1.2] == 4
    assert scorer.items[-0.5] == 20  # the other sign starts from the unsteered model
    assert all(scorer.items[s] == 40 for s in (0.375, 0.5, 0.65))  # ties with the best are asked in full
    assert found.chosen.strength == pytest.approx(0.375) and found.chosen.complete


@pytest.mark.parametrize("seed", range(12))
def test_the_bar_at_the_best_never_changes_what_the_exact_stop_chooses(seed):
    from paso_local.converters.strength import OUTWARD_SEARCH

    exact = dataclasses.replace(OUTWARD_SEARCH, screen=0.0)
    loose_scorer, tight_scorer = RandomScorer(seed), RandomScorer(seed)
    reference, reference_asked = search(dataclasses.replace(exact, bar_at_best=False), loose_scorer)
    found, asked = search(dataclasses.replace(exact, bar_at_best=True), tight_scorer)
    assert asked == reference_asked and found.chosen == reference.chosen
    assert tight_scorer.items <= loose_scorer.items


def domain_like_search(start: float | None, beat: float):
    """The domain sum's search: its grid around a combined strength of 0.5, `beat` the combined vector's score."""
    from paso_local.converters.strength import OUTWARD_SEARCH, domain_grid

    items = list(form_items("120"))[:40]
    numbers = [i.number for i in items]
    rows, folds = np.arange(40), make_folds(40, 5)
    unit = [{3: np.ones(4, dtype=np.float32)} for _ in folds]
    scorer = PlantedScorer()
    found = cross_validated_search(
        scorer,
        numbers,
        rows,
        folds,
        unit,
        {n: 2 for n in numbers},
        items,
        domain_grid(0.5),
        (),
        policy=OUTWARD_SEARCH,
        beat=beat,
        start=start,
    )
    return found, scorer.items


def test_a_walk_from_the_combined_strength_goes_on_both_ways_only_where_it_wins():
    from paso_local.converters.strength import walks_from

    assert walks_from((0.25, 0.5, 1.0), 0.5) == [[1.0], [0.25]]
    assert walks_from((-0.6, -0.3, -1.2, 0.5), -0.6) == [[-1.2], [-0.3]]
    # from 0.25 (0.5x) out, the walk asks +0.25 in full (it ties the unsteered 5.0, so the sign goes on)
    walked, walked_items = domain_like_search(None, beat=0.5)
    assert walked_items[0.25] == 40 and walked.chosen.strength == 0.5
    # from +0.5 (1x), which scores 0 and beats 0.5: +1.0 and +0.25 each stop at their first 4 items (above 0)
    started, started_items = domain_like_search(0.5, beat=0.5)
    assert started_items[0.25] == started_items[1.0] == 4 and started.chosen.strength == 0.5
    # where +0.5 cannot beat what the combined vector scored, nothing else is asked
    _, lost_items = domain_like_search(0.5, beat=-1.0)
    assert set(lost_items) == {0.0, 0.5}
