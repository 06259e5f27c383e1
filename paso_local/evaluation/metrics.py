"""Per-subject scores and their average over subjects.

- Aligned Score (the paper's, lower is better): `paso_local.person.aligned_score`, per domain over the held-out items
  the subject answered (0 = missing is skipped) and the method answered (an unparsable reply is skipped), then
  per domain averaged over subjects, and the five domain averages summed.
- Within-person correlation: Pearson's r across one subject's held-out items between the model's EXPECTED
  answer (the mean of its five-option distribution; a reference's prediction) and the subject's answer,
  then averaged over subjects (`paso_local.person.correlation`). It separates personalisation from a uniform shift: a method that gives every
  item the same answer (or a subject who did) has no correlation and is left out of that average
  (`n_correlated` says how many subjects had one).
- Deviation correlation: the same r between (prediction - the item's population mean) and (the person's
  answer - the same mean), the population mean leave-one-subject-out. It is the part that is about this
  person; how a person uses the scale moves it for any predictor, even a constant one, so read it against the
  other-person control.
- Other-person control (`other_person_results`): subject i scored on the predictions the same method made
  from subject i+1's answers (cyclically over the evaluated subjects). The personalised part is the
  difference.
- Paper protocol: the Aligned Score against the values the PAPI files store (keyed scores: 6 - the chosen
  option on minus-keyed items), as the paper's code scores it, so it can stand beside its published figures.

Every target is a chosen option (paso_local.person.subjects converts at read time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from paso_local.person.aligned_score import AlignedScore, aligned_score, mean_aligned_score
from paso_local.person.correlation import pearson, within_person_correlation
from paso_local.person.inventory import DOMAINS, held_out_items
from paso_local.person.subjects import flip_minus_keyed


@dataclass
class SubjectResult:
    """One subject under one method (or reference)."""

    case: str
    index: int
    score: AlignedScore
    correlation: float | None
    deviation_correlation: float | None = None
    paper_score: AlignedScore | None = None  # against the stored keyed values, as the paper scores
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
            "deviation_correlation": _round(self.deviation_correlation),
            "paper_protocol_sum": _round(self.paper_score.total) if self.paper_score else None,
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
    population: Mapping[int, float] | None = None,
) -> SubjectResult:
    """One subject: `answers` for the Aligned Score (None = unparsable), `expected` for the correlations;
    `population`: each held-out item's leave-this-subject-out mean answer, for the deviation correlation."""
    scored = {n: float(v) for n, v in answers.items() if v is not None and math.isfinite(v)}
    items = held_out_items()
    return SubjectResult(
        case=case,
        index=index,
        score=aligned_score(scored, person_held_out, items),
        correlation=within_person_correlation(expected, person_held_out),
        deviation_correlation=deviation_correlation(expected, person_held_out, population),
        paper_score=aligned_score(scored, flip_minus_keyed(person_held_out), items),
        unparsable=sum(1 for v in answers.values() if v is None),
    )


def deviation_correlation(
    predicted: Mapping[int, float | None],
    person: Mapping[int, int],
    population: Mapping[int, float] | None,
) -> float | None:
    """r of (prediction - population mean) with (person - population mean) over the items all three have."""
    if population is None:
        return None
    pairs = []
    for number, value in predicted.items():
        mean = population.get(number)
        if value is None or mean is None or not math.isfinite(value) or not math.isfinite(mean):
            continue
        if person.get(number, 0):
            pairs.append((float(value) - mean, person[number] - mean))
    return pearson(pairs)


def other_person_results(
    results: Sequence[SubjectResult],
    held_out: Sequence[Mapping[int, int]],
    populations: Sequence[Mapping[int, float] | None],
    numbers: Sequence[int],
) -> list[SubjectResult]:
    """Subject i scored on subject (i+1 mod n)'s predictions (their extra "answers" and "expected", in
    `numbers` order). Fewer than two subjects: no control (an empty list)."""
    n = len(results)
    if n < 2:
        return []
    out = []
    for i, own in enumerate(results):
        other = results[(i + 1) % n].extra
        answers = dict(zip(numbers, other["answers"], strict=True))
        expected = dict(zip(numbers, other.get("expected", other["answers"]), strict=True))
        out.append(score_subject(own.case, own.index, answers, expected, held_out[i], populations[i]))
    return out


def versus(results: Sequence[SubjectResult], baseline: Sequence[SubjectResult]) -> dict[str, int]:
    """Per subject, is the summed Aligned Score lower (helped), equal to 4 decimals (tied) or higher (worse)
    than the baseline's for the same subject?"""
    by_index = {r.index: round(r.score.total, 4) for r in baseline}
    counts = {"helped": 0, "tied": 0, "worse": 0}
    for result in results:
        base = by_index.get(result.index)
        if base is None:
            continue
        own = round(result.score.total, 4)
        counts["helped" if own < base else "tied" if own == base else "worse"] += 1
    return counts


def _mean_of(values: Sequence[float | None]) -> tuple[float | None, int]:
    known = [v for v in values if v is not None]
    return (_round(float(np.mean(known))) if known else None), len(known)


def summarise(results: Sequence[SubjectResult], seconds_per_subject: float | None = None) -> dict:
    """{"A".."O", "sum", "correlation", "deviation_correlation", "n_correlated", "n_subjects",
    "seconds_per_subject", "unparsable", "paper_protocol"}."""
    mean = mean_aligned_score([r.score for r in results])
    out: dict = {d: _round(mean.per_domain.get(d)) for d in DOMAINS}
    out["sum"] = _round(mean.total) if len(mean.per_domain) == len(DOMAINS) else None
    out["correlation"], out["n_correlated"] = _mean_of([r.correlation for r in results])
    out["deviation_correlation"], _ = _mean_of([r.deviation_correlation for r in results])
    out["n_subjects"] = len(results)
    out["seconds_per_subject"] = None if seconds_per_subject is None else round(seconds_per_subject, 2)
    out["unparsable"] = sum(r.unparsable for r in results)
    papers = [r.paper_score for r in results if r.paper_score is not None]
    paper = mean_aligned_score(papers) if papers else None
    out["paper_protocol"] = (
        {"sum": _round(paper.total), "label": "as the paper scores it (against the stored keyed values)"}
        if paper is not None and len(paper.per_domain) == len(DOMAINS)
        else None
    )
    return out


def control_summary(control: Sequence[SubjectResult]) -> dict | None:
    """The other-person control's sum, r and deviation r (None without a control)."""
    if not control:
        return None
    summary = summarise(control)
    return {k: summary[k] for k in ("sum", "correlation", "deviation_correlation", "n_subjects")}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)
