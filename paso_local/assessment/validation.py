"""The judge's validation, run every time on the statements being assessed: the unsteered model is told to
agree strongly and, separately, to disagree strongly; the judge rates both replies against the target "Very
Accurate". A judge worth trusting rates the agreeing replies higher: AUC (the probability that a random
agreeing reply gets a higher expected rating than a random disagreeing one, ties count half) and the mean gap
(agreeing minus disagreeing, on 1..6).

The same replies are rated again against "Very Inaccurate", where the order must turn (the inverse AUC: a
disagreeing reply above an agreeing one). A judge that reads only the reply's stance and ignores the person's
answer passes the first test and fails this one: measured, Qwen2.5-Coder-1.5B rated "Yes, I am often in a bad
mood." about 4.2 against every target. Below MIN_AUC on either the judge's figures are marked too weak."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.assessment.judge import Judgement, JudgeRequest
from paso_local.assessment.prompts import INVERSE_TARGET, STANCES, VALIDATION_TARGET
from paso_local.person.inventory import Item

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
    judgements: dict[str, list[Judgement]]  # stance -> judgement per item, target Very Accurate
    inverse: dict[str, list[Judgement]]  # the same replies, target Very Inaccurate

    @staticmethod
    def _expected(judgements: dict[str, list[Judgement]], stance: str) -> list[float]:
        return [j.expected for j in judgements[stance] if j.probs]

    @property
    def auc(self) -> float | None:
        """Target Very Accurate: agreeing replies above disagreeing ones."""
        return auc(self._expected(self.judgements, "agree"), self._expected(self.judgements, "disagree"))

    @property
    def inverse_auc(self) -> float | None:
        """Target Very Inaccurate: disagreeing replies above agreeing ones."""
        return auc(self._expected(self.inverse, "disagree"), self._expected(self.inverse, "agree"))

    @property
    def gap(self) -> float | None:
        return _gap(self._expected(self.judgements, "agree"), self._expected(self.judgements, "disagree"))

    @property
    def inverse_gap(self) -> float | None:
        return _gap(self._expected(self.inverse, "disagree"), self._expected(self.inverse, "agree"))

    @property
    def weak(self) -> bool:
        return any(value is None or value < MIN_AUC for value in (self.auc, self.inverse_auc))

    def summary(self) -> dict:
        every = [j for sets in (self.judgements, self.inverse) for js in sets.values() for j in js]
        masses = [j.mass for j in every if j.probs]
        return {
            "auc": _round(self.auc),
            "gap": _round(self.gap),
            "inverse_auc": _round(self.inverse_auc),
            "inverse_gap": _round(self.inverse_gap),
            "items": len(self.numbers),
            "skipped": sum(1 for j in every if not j.probs),
            "judge_mass": _round(float(np.mean(masses)) if masses else None),
            "weak": self.weak,
            "min_auc": MIN_AUC,
        }

    def as_json(self) -> dict:
        return {
            "numbers": list(self.numbers),
            "replies": self.replies,
            "judgements": {s: [j.as_json() for j in js] for s, js in self.judgements.items()},
            "inverse": {s: [j.as_json() for j in js] for s, js in self.inverse.items()},
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, data: dict) -> Validation:
        def judgements(key: str) -> dict[str, list[Judgement]]:
            return {s: [Judgement.from_json(j) for j in js] for s, js in data[key].items()}

        return cls(
            tuple(data["numbers"]),
            {s: list(r) for s, r in data["replies"].items()},
            judgements("judgements"),
            judgements("inverse"),
        )

    def mapped(self, change: Callable[[Judgement], Judgement]) -> Validation:
        """The same validation with every judgement passed through `change` (the checkpoint's rounding)."""
        return Validation(
            self.numbers,
            self.replies,
            {s: [change(j) for j in js] for s, js in self.judgements.items()},
            {s: [change(j) for j in js] for s, js in self.inverse.items()},
        )


def validate_judge(items: Sequence[Item], write: Callable[[Item, str], str], judge: object) -> Validation:
    """`write(item, stance)` is the unsteered model's reply told to take `stance` ("agree" or "disagree");
    `judge.rate(requests)` rates them against "Very Accurate", then against "Very Inaccurate"."""
    replies = {stance: [write(item, stance) for item in items] for stance in STANCES}

    def rated(target: int) -> dict[str, list[Judgement]]:
        return {
            stance: list(judge.rate([JudgeRequest(i, target, r) for i, r in zip(items, texts, strict=True)]))
            for stance, texts in replies.items()
        }

    return Validation(
        tuple(i.number for i in items), replies, rated(VALIDATION_TARGET), rated(INVERSE_TARGET)
    )


def _gap(higher: list[float], lower: list[float]) -> float | None:
    return float(np.mean(higher) - np.mean(lower)) if higher and lower else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
