"""Big Five scoring of IPIP-NEO answers.

An answer is 1..5 (5 = Very Accurate); 0 or absent means missing. A plus-keyed item scores its answer, a
minus-keyed item scores 6 - answer. A domain or facet score is the mean keyed score of its answered items, on 1..5,
and on 0..100 as (mean - 1) / 4 * 100.

Missing rule: a score is reported as missing (None) when fewer than half of the items the form gives it are
answered (a 120-form facet has 4 items and needs 2; a 120-form domain has 24 and needs 12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from paso_local.person.inventory import DOMAINS, Item, facets, form_items

MIN_ANSWERED_FRACTION = 0.5


def keyed_score(item: Item, answer: int) -> int:
    """The trait-direction score of one answer (1..5)."""
    if not 1 <= answer <= 5:
        raise ValueError(f"answer to item {item.number} must be 1..5, got {answer}")
    return answer if item.plus_keyed else 6 - answer


def to_percent(score: float) -> float:
    """1..5 -> 0..100."""
    return (score - 1.0) / 4.0 * 100.0


@dataclass(frozen=True)
class Scores:
    domains: dict[str, float | None]  # 1..5
    facets: dict[str, float | None]  # 1..5
    answered: int
    form: str

    def as_json(self) -> dict:
        return {
            "domains": {k: _round(v) for k, v in self.domains.items()},
            "facets": {k: _round(v) for k, v in self.facets.items()},
            "answered": self.answered,
            "form": self.form,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mean_or_missing(scores: list[int], n_items: int) -> float | None:
    if n_items == 0 or len(scores) < MIN_ANSWERED_FRACTION * n_items:
        return None
    return sum(scores) / len(scores)


def score_answers(answers: Mapping[int, int], form: str = "300") -> Scores:
    """Score answers keyed by 300-form item number. Items outside `form` are ignored."""
    items = form_items(form)
    by_domain: dict[str, list[int]] = {d: [] for d in DOMAINS}
    by_facet: dict[str, list[int]] = {f: [] for f in facets()}
    domain_size = {d: 0 for d in DOMAINS}
    facet_size = {f: 0 for f in facets()}
    answered = 0
    for it in items:
        domain_size[it.domain] += 1
        facet_size[it.facet] += 1
        answer = answers.get(it.number, 0)
        if answer:
            answered += 1
            by_domain[it.domain].append(keyed_score(it, answer))
            by_facet[it.facet].append(keyed_score(it, answer))
    return Scores(
        domains={d: _mean_or_missing(by_domain[d], domain_size[d]) for d in DOMAINS},
        facets={f: _mean_or_missing(by_facet[f], facet_size[f]) for f in facets()},
        answered=answered,
        form=form,
    )


__all__ = ["Scores", "keyed_score", "score_answers", "to_percent"]
