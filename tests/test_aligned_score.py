"""paso_local.person.aligned_score: the paper's metric on a hand-computed example."""

from __future__ import annotations

import pytest

from paso_local.person.aligned_score import aligned_score, aligned_score_floor, mean_aligned_score
from paso_local.person.inventory import Item


def item(number: int, domain: str) -> Item:
    return Item(number, None, "+", domain, f"{domain}1", "facet", f"statement {number}")


ITEMS = [item(1, "A"), item(2, "A"), item(3, "A"), item(4, "C"), item(5, "C"), item(6, "N")]


def test_hand_computed_example():
    person = {1: 5, 2: 1, 3: 0, 4: 3, 5: 4}  # item 3 missing (0): skipped; item 6 absent: skipped
    model = {1: 4, 2: 3, 3: 1, 4: 3.5, 5: 1, 6: 2}
    score = aligned_score(model, person, ITEMS)
    # A: (|4-5| + |3-1|) / 2 = 1.5 ; C: (0.5 + 3) / 2 = 1.75 ; N: no scored item
    assert score.per_domain == pytest.approx({"A": 1.5, "C": 1.75})
    assert score.counts == {"A": 2, "C": 2}
    assert score.total == pytest.approx(3.25)


def test_mean_over_subjects_is_per_domain():
    one = aligned_score({1: 5, 4: 1}, {1: 4, 4: 1}, ITEMS)  # A 1, C 0
    two = aligned_score({1: 5}, {1: 2}, ITEMS)  # A 3, C absent
    mean = mean_aligned_score([one, two])
    assert mean.per_domain == pytest.approx({"A": 2.0, "C": 0.0})
    assert mean.total == pytest.approx(2.0)


def test_the_floor_counts_pending_items_as_answered_without_error():
    person = {1: 5, 2: 1, 3: 0, 4: 3, 5: 4, 6: 2}
    asked = {1: 4, 4: 1}  # A: |4-5| = 1 ; C: |1-3| = 2
    # pending 2 (A), 3 (missing answer: never counts), 5 (C); 6 (N) neither asked nor pending: left out
    floor = aligned_score_floor(asked, person, ITEMS, pending=[2, 3, 5])
    assert floor == pytest.approx(1 / 2 + 2 / 2)
    # once every pending item is answered, the floor is the score, and it never lies above it
    full = {**asked, 2: 1, 5: 4}
    assert aligned_score_floor(full, person, ITEMS, pending=[]) == pytest.approx(
        aligned_score(full, person, ITEMS).total
    )
    assert floor <= aligned_score(full, person, ITEMS).total
