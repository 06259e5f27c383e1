"""What one evaluated method produced, and how a subject's readings become a scored result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from paso_local.evaluation.asking import ItemReading
from paso_local.evaluation.methods import Method
from paso_local.evaluation.metrics import SubjectResult, score_subject
from paso_local.evaluation.references import loo_mean
from paso_local.evaluation.split import SplitSubject, held_out_numbers

Populations = dict[int, dict[int, float]]  # subject index -> held-out item -> leave-them-out mean answer


def population_means(pool: list[SplitSubject], targets: list[SplitSubject]) -> Populations:
    """Each target's leave-one-subject-out mean answer per held-out item (the deviation r's baseline)."""
    row_of = {s.index: row for row, s in enumerate(pool)}
    means = loo_mean(np.array([s.held_out_vector() for s in pool]), [row_of[s.index] for s in targets])
    numbers = held_out_numbers()
    return {
        s.index: {n: float(v) for n, v in zip(numbers, row, strict=True) if np.isfinite(v)}
        for s, row in zip(targets, means, strict=True)
    }


@dataclass
class MethodRun:
    """Everything one method produced: per-subject results and the seconds spent (align included)."""

    method: Method
    results: list[SubjectResult] = field(default_factory=list)
    seconds: float = 0.0


def score_readings(
    subject: SplitSubject, readings: list[ItemReading], seconds: float, population: dict[int, float]
) -> SubjectResult:
    result = score_subject(
        subject.case,
        subject.index,
        {r.number: r.answer for r in readings},
        {r.number: r.expected for r in readings},
        subject.held_out,
        population,
    )
    result.seconds = seconds
    result.extra = {
        "answers": [r.answer for r in readings],
        "expected": [round(r.expected, 4) for r in readings],
        "option_mass": round(sum(r.mass for r in readings) / len(readings), 4),
    }
    if readings and readings[0].reply is not None:
        result.extra["replies"] = [r.reply for r in readings]
    return result
