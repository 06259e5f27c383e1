"""The judge's validation, run every time on the statements being assessed: the unsteered model is told to
agree strongly and, separately, to disagree strongly; the judge rates both replies against the target "Very
Accurate". A judge worth trusting rates the agreeing replies higher: AUC (the probability that a random
agreeing reply gets a higher expected rating than a random disagreeing one, ties count half) and the mean gap
(agreeing minus disagreeing, on 1..6). Below MIN_AUC the judge's figures are marked too weak."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.assessment.judge import Judgement, JudgeRequest
from paso_local.assessment.prompts import STANCES, VALIDATION_TARGET
from paso_local.inventory import Item

MIN_AUC = 0.8


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """Mann-Whitney AUC of `positive` over `negative` (ties count half); None when either side is empty."""
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if not pos.size or not neg.size:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


@dataclass(frozen=True)
class Validation:
    numbers: tuple[int, ...]
    replies: dict[str, list[str]]  # stance -> reply per item
    judgements: dict[str, list[Judgement]]  # stance -> judgement per item

    def _expected(self, stance: str) -> list[float]:
        return [j.expected for j in self.judgements[stance] if j.probs]

    @property
    def auc(self) -> float | None:
        return auc(self._expected("agree"), self._expected("disagree"))

    @property
    def gap(self) -> float | None:
        agree, disagree = self._expected("agree"), self._expected("disagree")
        if not agree or not disagree:
            return None
        return float(np.mean(agree) - np.mean(disagree))

    @property
    def weak(self) -> bool:
        value = self.auc
        return value is None or value < MIN_AUC

    def summary(self) -> dict:
        skipped = sum(1 for js in self.judgements.values() for j in js if not j.probs)
        masses = [j.mass for js in self.judgements.values() for j in js if j.probs]
        return {
            "auc": _round(self.auc),
            "gap": _round(self.gap),
            "items": len(self.numbers),
            "skipped": skipped,
            "judge_mass": _round(float(np.mean(masses)) if masses else None),
            "weak": self.weak,
            "min_auc": MIN_AUC,
        }

    def as_json(self) -> dict:
        return {
            "numbers": list(self.numbers),
            "replies": self.replies,
            "judgements": {s: [j.as_json() for j in js] for s, js in self.judgements.items()},
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Validation:
        return cls(
            tuple(data["numbers"]),
            {s: list(r) for s, r in data["replies"].items()},
            {s: [Judgement.from_json(j) for j in js] for s, js in data["judgements"].items()},
        )


def validate_judge(items: Sequence[Item], write: Callable[[Item, str], str], judge: object) -> Validation:
    """`write(item, stance)` is the unsteered model's reply told to take `stance` ("agree" or "disagree");
    `judge.rate(requests)` rates them against "Very Accurate"."""
    replies = {stance: [write(item, stance) for item in items] for stance in STANCES}
    judgements = {
        stance: list(
            judge.rate([JudgeRequest(i, VALIDATION_TARGET, r) for i, r in zip(items, texts, strict=True)])
        )
        for stance, texts in replies.items()
    }
    return Validation(tuple(i.number for i in items), replies, judgements)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
