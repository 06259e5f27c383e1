"""The trait-content screen's measures (paso_local.evaluation.trait_screen) against hand-computed values, its strength
walk with a scripted scorer, and one pass through the real llama.cpp runtime; the candidate directions'
constructions (paso_local.converters.trait_directions) on hand values and on a tiny GGUF through torch."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.converters import trait_directions as td
from paso_local.evaluation.trait_screen import (
    PASS_MASS_RATIO,
    keyed_contrast,
    run_screen,
    screen_items,
    screen_point,
    shrinkage_tau,
)
from paso_local.llm.steered_scoring import OptionScores
from paso_local.person.inventory import DOMAINS, Item, held_out_items


def make_items() -> list[Item]:
    """Two +keyed and two -keyed items per domain, in domain order."""
    items, number = [], 1
    for domain in DOMAINS:
        for key in "++--":
            items.append(Item(number, None, key, domain, f"{domain}1", "facet", f"Statement {number}."))
            number += 1
    return items


def test_keyed_contrast_by_hand():
    items = make_items()
    values = np.zeros(len(items))
    values[0:4] = [5, 3, 2, 1]  # domain A: + mean 4, - mean 1.5
    assert keyed_contrast(values, items, "A") == pytest.approx((4 - 1.5) / 2)
    assert keyed_contrast(values, items, "C") == 0.0


def test_tau_removes_a_proportional_shrink_exactly():
    base = {"A": 0.2, "C": 0.4, "E": -0.2, "N": 0.1, "O": 0.3}
    delta = {d: -0.5 * b for d, b in base.items()}  # every domain's pattern shrunk by half ...
    delta["E"] += 0.3  # ... plus 0.3 that is E's own
    lam, tau = shrinkage_tau(delta, base, "E")
    assert lam == pytest.approx(0.5)
    assert tau == pytest.approx(0.3)


def test_screen_point_measures_and_verdict():
    items = make_items()
    base = np.full(len(items), 3.0)
    steered = base.copy()
    steered[8:10] += 0.6  # E's +keyed items agreed with more
    steered[10:12] -= 0.6  # E's -keyed items less
    point = screen_point(base, 0.5, steered, np.full(len(items), 0.4), items, "E", 0.1)
    assert point.sel == pytest.approx(0.6)
    assert point.knob == pytest.approx(0.0)
    assert point.max_leak == pytest.approx(0.0)
    assert point.mass_ratio == pytest.approx(0.8)
    assert point.tau == pytest.approx(0.6)  # the unsteered pattern is flat: nothing to shrink
    assert point.passes
    lost = screen_point(base, 0.5, steered, np.full(len(items), 0.2), items, "E", 0.1)
    assert lost.mass_ratio < PASS_MASS_RATIO and not lost.passes
    leaky = steered.copy()
    leaky[0:2] += 0.8  # A moves more than E
    assert not screen_point(base, 0.5, leaky, np.full(len(items), 0.4), items, "E", 0.1).passes


class ScriptedScorer:
    """Moves the target domain's keyed items apart by `strength` and spends mass as the strength grows."""

    def __init__(self, items):
        self.items = items
        self.calls: list[float] = []

    def score(self, items, directions):
        dist = np.full((len(items), 5), 0.2)
        if directions is None:
            expected, mass = np.full(len(items), 3.0), np.full(len(items), 0.6)
        else:
            ((block, vector),) = directions.items()
            strength, domain = float(vector[0]), DOMAINS_BY_CODE[int(round(vector[1] / vector[0]))]
            self.calls.append(strength)
            sign = np.array([(1 if i.plus_keyed else -1) if i.domain == domain else 0 for i in items])
            expected = 3.0 + strength * sign
            mass = np.full(len(items), 0.6 * (1 - strength))
        return FixedScores(tuple(i.number for i in items), dist, mass, expected)


DOMAINS_BY_CODE = dict(enumerate(DOMAINS))


class FixedScores(OptionScores):
    def __init__(self, numbers, dist, mass, expected):
        super().__init__(numbers, dist, mass)
        object.__setattr__(self, "_expected", expected)

    @property
    def expected(self):
        return self._expected


def test_run_screen_walks_strengths_and_stops_when_mass_is_lost():
    items = make_items()
    units = {d: {3: np.array([1.0, float(k)], dtype=np.float32)} for k, d in enumerate(DOMAINS)}
    scorer = ScriptedScorer(items)
    counted = []
    result = run_screen(scorer, items, units, (0.6, 0.3, 0.1), on_scored=counted.append)
    # per domain 0.1 and 0.3 keep >= half the mass, 0.6 (mass 0.4 of 0.6 ... 0.24/0.6) is measured then ends
    assert np.allclose(scorer.calls, [0.1, 0.3, 0.6] * 5)
    assert sum(counted) == 5 * 3 * len(items)
    e_points = [p for p in result.points if p.domain == "E"]
    assert [round(p.sel, 6) for p in e_points] == [0.1, 0.3, 0.6]
    assert result.passing_domains() == list(DOMAINS)  # 0.3 >= 0.25 with mass 0.7 of the base
    assert result.passes


def test_screen_items_are_a_seeded_held_out_stratified_subset():
    subset = screen_items(per_key=5)
    assert len(subset) == 50
    assert Counter((i.domain, i.keyed) for i in subset) == {(d, k): 5 for d in DOMAINS for k in "+-"}
    assert {i.number for i in subset} <= {i.number for i in held_out_items()}
    assert all(i.neo120 is None for i in subset)  # never a 120-form item
    assert screen_items(per_key=5) == subset
    assert len(screen_items()) == 180


def test_keyed_difference_and_pair_pca_by_hand():
    items = make_items()[:4]  # A: two +, two -
    values = np.array([[2.0, 0.0], [4.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    np.testing.assert_allclose(td.keyed_difference(values, items, "A"), [3.0, 0.0])
    pc = td.pca_pair_direction(values, items, "A")
    # pair differences (2,-2) (2,2) (4,-2) (4,2): centred, the largest spread is along y; signed by the mean
    # difference (3, 0) and scaled to its length
    assert abs(pc[1]) == pytest.approx(3.0, abs=1e-5) and abs(pc[0]) < 1e-5


@pytest.mark.model
def test_statement_spans_are_the_statements_tokens(smollm2_path):
    from paso_local.llm.chat_format import ChatFormat

    chat = ChatFormat.from_model(smollm2_path)
    items = [i for i in held_out_items() if i.domain == "N"][:3]
    for voice in td.VOICES:
        for item, row in zip(items, td.statement_rows(chat, items, voice), strict=True):
            said = chat.detokenize(row.tokens[row.start : row.end]).strip()
            assert said == td.self_statement(item), voice


def test_span_features_match_a_manual_forward(tmp_path):
    import torch

    from paso_local.converters.model import load_model

    path = write_tiny_model(tmp_path / "tiny.gguf", TinySpec(n_layer=3))
    model = load_model(path)
    rows = [td.Row([5, 6, 7, 8, 9], 2, 5), td.Row([11, 12, 13], 1, 2)]
    feats = td.span_features(model, rows, pad=0, title="test")
    for k, row in enumerate(rows):
        h = model.embed(torch.tensor([row.tokens]))
        for block in range(3):
            h = model.run_blocks(h, block, block + 1)
            want = h[0, row.start : row.end].float().mean(0).numpy()
            np.testing.assert_allclose(feats.means[k, block], want, rtol=1e-4, atol=1e-5)
    model.close()


@pytest.mark.model
def test_zero_strength_through_llama_cpp_changes_nothing(tmp_path):
    """A direction at strength 0 on the real runtime gives exactly the unsteered answers; a strong one moves
    them (the screen reads what the runtime applies)."""
    from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime

    path = write_tiny_model(tmp_path / "tiny.gguf", TinySpec(n_layer=4))
    items = screen_items(per_key=2)
    with open_scoring_runtime(path, threads=1) as runtime:
        rng = np.random.default_rng(0)
        unit = {"A": {2: rng.standard_normal(runtime.info.n_embd).astype(np.float32)}}
        result = run_screen(SteeredScorer(runtime), items, unit, (0.0, 50.0))
    still, moved = result.points
    assert still.sel == 0.0 and still.knob == 0.0 and still.mass_ratio == 1.0
    assert abs(moved.knob) + abs(moved.sel) + abs(moved.mass_ratio - 1) > 1e-3
