"""paso_local.llm.readout: option tables from a vocabulary, marginalisation, statistics (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

from paso_local.llm.readout import (
    OptionTokens,
    answer_statistic,
    argmax_answer,
    expected_answer,
    median_answer,
    option_distribution,
)

# A toy vocabulary: ids 0..12
PIECES = ["A", " B", "(C", "(D)", "E", "(", " (", "All", "x", "A)", "B.", "C", "D"]


def tables() -> OptionTokens:
    return OptionTokens.from_pieces(PIECES)


def logits_for(probs: dict[int, float]) -> np.ndarray:
    """Logits whose softmax is `probs` (ids not named get ~0)."""
    p = np.full(len(PIECES), 1e-30)
    for token, value in probs.items():
        p[token] = value
    return np.log(p)


def test_tables_find_each_way_of_starting_an_answer():
    t = tables()
    direct = dict(zip(t.direct_ids.tolist(), t.direct_value.tolist(), strict=False))
    # "A"=5, " B"=4, "(C"=3, "(D)"=2, "E"=1, "A)"=5, "B."=4, "C"=3, "D"=2; never "All" or "x"
    assert direct == {0: 5, 1: 4, 2: 3, 3: 2, 4: 1, 9: 5, 10: 4, 11: 3, 12: 2}
    assert sorted(t.paren_ids.tolist()) == [5, 6]
    assert t.paren_token == 5  # the exact "(" piece
    after = dict(zip(t.after_paren_ids.tolist(), t.after_paren_value.tolist(), strict=False))
    assert after == {0: 5, 1: 4, 4: 1, 9: 5, 10: 4, 11: 3, 12: 2}  # "(C" / "(D)" do not follow a "("


def test_marginalises_first_token_and_after_paren():
    t = tables()
    # first position: "A" 0.1, "(C" 0.1, "(" 0.4, " (" 0.1, "All" 0.3
    first = logits_for({0: 0.1, 2: 0.1, 5: 0.4, 6: 0.1, 7: 0.3})
    # after "(": "B." 0.5, "D" 0.3, "x" 0.2
    after = logits_for({10: 0.5, 12: 0.3, 8: 0.2})
    dist, mass = option_distribution(first, after, t)
    # raw by value 1..5: E 0, D 0.5*0.3=0.15, C 0.1, B 0.5*0.5=0.25, A 0.1
    raw = np.array([0.0, 0.15, 0.1, 0.25, 0.1])
    assert mass == pytest.approx(0.6)
    np.testing.assert_allclose(dist, raw / 0.6, atol=1e-12)


def test_batched_distribution_matches_rows():
    t = tables()
    first = np.stack([logits_for({0: 1.0}), logits_for({5: 1.0})])
    after = np.stack([logits_for({4: 1.0}), logits_for({4: 1.0})])
    dist, mass = option_distribution(first, after, t)
    np.testing.assert_allclose(dist, [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(mass, [1, 1])


def test_statistics_by_hand():
    dist = np.array(
        [
            [0.1, 0.2, 0.15, 0.05, 0.5],  # cdf 0.1 0.3 0.45 0.5 -> median 4; mean 3.65; argmax 5
            [0.5, 0.0, 0.0, 0.0, 0.5],  # cdf reaches 0.5 at value 1 -> median 1; mean 3
            [0.0, 0.0, 1.0, 0.0, 0.0],
        ]
    )
    assert median_answer(dist).tolist() == [4, 1, 3]
    np.testing.assert_allclose(expected_answer(dist), [3.65, 3.0, 3.0])
    assert argmax_answer(dist).tolist() == [5, 1, 3]
    assert answer_statistic(dist, "median").tolist() == [4, 1, 3]
    with pytest.raises(ValueError):
        answer_statistic(dist, "mode")


def test_median_minimises_expected_absolute_error():
    rng = np.random.default_rng(0)
    dist = rng.dirichlet(np.ones(5), size=50)
    values = np.arange(1, 6)
    errors = np.stack([(dist * np.abs(values - v)).sum(axis=1) for v in values], axis=1)  # [50, 5]
    best = errors.min(axis=1)
    chosen = errors[np.arange(50), median_answer(dist) - 1]
    np.testing.assert_allclose(chosen, best, atol=1e-12)


def test_vocabulary_without_letters_is_rejected():
    with pytest.raises(ValueError):
        OptionTokens.from_pieces(["x", "y", "("])
