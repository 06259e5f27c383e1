"""Within-person correlation: Pearson's r across one person's items between what a model gives (an expected
answer, a reference's prediction) and the person's own answers. It separates personalisation from a uniform
shift: a model or person that gives every item the same answer has none. Used by eval's tables and by align's
strength choice."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

MIN_CORRELATED_ITEMS = 3


def within_person_correlation(
    model_values: Mapping[int, float], person_answers: Mapping[int, int]
) -> float | None:
    """Pearson r over items both sides answered; None when either side is constant (or < 3 items)."""
    pairs = [
        (float(v), float(person_answers[n]))
        for n, v in model_values.items()
        if person_answers.get(n, 0) and v is not None and math.isfinite(v)
    ]
    return pearson(pairs)


def pearson(pairs: list[tuple[float, float]]) -> float | None:
    """Pearson r of (x, y) pairs; None when either side is constant (or < 3 pairs)."""
    if len(pairs) < MIN_CORRELATED_ITEMS:
        return None
    x, y = np.array(pairs, dtype=float).T
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    if denominator < 1e-12 * max(1, len(pairs)):
        return None
    return float(x @ y) / denominator
