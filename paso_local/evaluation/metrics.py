"""Per-subject scores and their average over subjects.

- Aligned Score (the paper's, lower is better): `paso_local.aligned_score`, per domain over the held-out items
  the subject answered (0 = missing is skipped) and the method answered (an unparsable reply is skipped), then
  per domain averaged over subjects, and the five domain averages summed.
- Within-person correlation: Pearson's r across one subject's held-out items between the model's EXPECTED
  answer (the mean of its five-option distribution; a reference's prediction) and the subject's answer,
  then averaged over subjects (`paso_local.correlation`). It separates personalisation from a uniform shift: a method that gives every
  item the same answer (or a subject who did) has no correlation and is left out of that average
  (`n_correlated` says how many subjects had one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from paso_local.aligned_score import AlignedScore, aligned_score, mean_aligned_score
from paso_local.correlation import within_person_correlation
from paso_local.inventory import DOMAINS, held_out_items


@dataclass
class SubjectResult:
    """One subject under one method (or reference)."""

    case: str
    index: int
    score: AlignedScore
    correlation: float | None
    seconds: float = 0.0
    unparsable: int = 0
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out = {
            "case": self.case,
            "index": self.index,
            **{d: _round(self.score.per_domain.get(d)) for d in DOMAINS},
            "sum": _round(self.score.total),
            "correlation": _round(self.correlation),
            "seconds": round(self.seconds, 3),
            "unparsable": self.unparsable,
        }
        out.update(self.extra)
        return out


def score_subject(
    case: str,
    index: int,
    answers: Mapping[int, float | None],
    expected: Mapping[int, float | None],
    person_held_out: Mapping[int, int],
) -> SubjectResult:
    """One subject: `answers` for the Aligned Score (None = unparsable), `expected` for the correlation."""
    scored = {n: float(v) for n, v in answers.items() if v is not None and math.isfinite(v)}
    return SubjectResult(
        case=case,
        index=index,
        score=aligned_score(scored, person_held_out, held_out_items()),
        correlation=within_person_correlation(expected, person_held_out),
        unparsable=sum(1 for v in answers.values() if v is None),
    )


def summarise(results: Sequence[SubjectResult], seconds_per_subject: float | None = None) -> dict:
    """{"A".."O", "sum", "correlation", "n_correlated", "n_subjects", "seconds_per_subject", "unparsable"}."""
    mean = mean_aligned_score([r.score for r in results])
    correlations = [r.correlation for r in results if r.correlation is not None]
    out: dict = {d: _round(mean.per_domain.get(d)) for d in DOMAINS}
    out["sum"] = _round(mean.total) if len(mean.per_domain) == len(DOMAINS) else None
    out["correlation"] = _round(float(np.mean(correlations))) if correlations else None
    out["n_correlated"] = len(correlations)
    out["n_subjects"] = len(results)
    out["seconds_per_subject"] = None if seconds_per_subject is None else round(seconds_per_subject, 2)
    out["unparsable"] = sum(r.unparsable for r in results)
    return out


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)
