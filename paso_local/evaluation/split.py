"""The paper's split of one subject's 300 answers: the 120-form items align, the other 180 are held out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from paso_local.errors import PasoError
from paso_local.person.inventory import form_items, held_out_items
from paso_local.person.subjects import Subject


@lru_cache(maxsize=1)
def alignment_numbers() -> tuple[int, ...]:
    """300-form numbers of the 120 alignment items, in short-form order."""
    return tuple(i.number for i in form_items("120"))


@lru_cache(maxsize=1)
def held_out_numbers() -> tuple[int, ...]:
    """300-form numbers of the 180 held-out items, in 300-form order."""
    return tuple(i.number for i in held_out_items())


@dataclass(frozen=True)
class SplitSubject:
    """One subject: the answers the method may see (120) and those it is scored on (180). 0 = missing."""

    case: str
    index: int
    alignment: dict[int, int]
    held_out: dict[int, int]

    def alignment_vector(self) -> np.ndarray:
        """[120] answers in short-form order (0 = missing)."""
        return np.array([self.alignment[n] for n in alignment_numbers()], dtype=float)

    def held_out_vector(self) -> np.ndarray:
        """[180] answers in 300-form order (0 = missing)."""
        return np.array([self.held_out[n] for n in held_out_numbers()], dtype=float)


def split_subject(subject: Subject) -> SplitSubject:
    return SplitSubject(
        case=subject.case,
        index=subject.index,
        alignment={n: subject.answers[n] for n in alignment_numbers()},
        held_out={n: subject.answers[n] for n in held_out_numbers()},
    )


def select_subjects(
    subjects: Sequence[Subject], *, index: str | None = None, cases: str | None = None
) -> list[Subject]:
    """The subjects to evaluate: all, `--index A:B` (0-based, B exclusive, a Python slice) or `--cases`."""
    if index and cases:
        raise PasoError("give --index A:B or --cases ID,..., not both")
    if cases:
        wanted = [c.strip() for c in cases.split(",") if c.strip()]
        by_case = {s.case: s for s in subjects}
        missing = [c for c in wanted if c not in by_case]
        if missing:
            raise PasoError(f"--cases: no subject has case {', '.join(missing)}")
        if len(set(wanted)) != len(wanted):
            raise PasoError("--cases: a case is listed twice")
        return [by_case[c] for c in wanted]
    if index:
        start, sep, stop = index.partition(":")
        if not sep or not (start.strip() or stop.strip()):
            raise PasoError(f"--index {index!r}: use A:B (subjects A..B-1, 0-based), e.g. 0:10")
        try:
            a = int(start) if start.strip() else 0
            b = int(stop) if stop.strip() else len(subjects)
        except ValueError:
            raise PasoError(f"--index {index!r}: A and B must be whole numbers, e.g. 0:10") from None
        if not 0 <= a < b <= len(subjects):
            raise PasoError(
                f"--index {index}: the file holds {len(subjects)} subjects; use 0 <= A < B <= {len(subjects)}"
            )
        return list(subjects[a:b])
    return list(subjects)
