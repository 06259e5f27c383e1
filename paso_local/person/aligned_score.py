"""The paper's Aligned Score (lower is better): per Big Five domain, the mean |model answer - person's answer|
over the scored items (items the person left at 0 / unanswered are skipped), summed over the domains."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from paso_local.person.inventory import DOMAINS, Item


@dataclass(frozen=True)
class AlignedScore:
    per_domain: dict[
        str, float
    ]  # domain letter -> mean absolute error (domains with no scored item left out)
    counts: dict[str, int]  # domain letter -> items scored

    @property
    def total(self) -> float:
        return float(sum(self.per_domain.values()))


def aligned_score(
    model_answers: Mapping[int, float], person_answers: Mapping[int, int], items: Iterable[Item]
) -> AlignedScore:
    """Score `model_answers` (item number -> answer) against the person's (item number -> 1..5,0 = missing)"""
    errors: dict[str, list[float]] = {d: [] for d in DOMAINS}
    for item in items:
        truth = person_answers.get(item.number, 0)
        if not truth or item.number not in model_answers:
            continue
        errors[item.domain].append(abs(float(model_answers[item.number]) - float(truth)))
    per_domain = {d: sum(e) / len(e) for d, e in errors.items() if e}
    return AlignedScore(per_domain=per_domain, counts={d: len(e) for d, e in errors.items() if e})


def aligned_score_floor(
    model_answers: Mapping[int, float],
    person_answers: Mapping[int, int],
    items: Iterable[Item],
    pending: Iterable[int],
) -> float:
    """The lowest total `aligned_score` can still reach once the `pending` item numbers get answers too: at best
    they add no error, but each counts in its domain's mean. An exact bound, so a search may stop asking as soon
    as it rises above what would have to be beaten."""
    waiting = set(pending)
    errors: dict[str, float] = {d: 0.0 for d in DOMAINS}
    counts: dict[str, int] = {d: 0 for d in DOMAINS}
    for item in items:
        truth = person_answers.get(item.number, 0)
        if not truth:
            continue
        if item.number in model_answers:
            errors[item.domain] += abs(float(model_answers[item.number]) - float(truth))
            counts[item.domain] += 1
        elif item.number in waiting:
            counts[item.domain] += 1
    return float(sum(errors[d] / counts[d] for d in DOMAINS if counts[d]))


def mean_aligned_score(scores: Sequence[AlignedScore]) -> AlignedScore:
    """The paper's average over subjects: per domain, the mean of the subjects' domain scores."""
    per_domain: dict[str, float] = {}
    counts: dict[str, int] = {}
    for d in DOMAINS:
        values = [s.per_domain[d] for s in scores if d in s.per_domain]
        if values:
            per_domain[d] = sum(values) / len(values)
            counts[d] = sum(s.counts[d] for s in scores if d in s.counts)
    return AlignedScore(per_domain=per_domain, counts=counts)
