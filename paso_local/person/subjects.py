"""Reading answers from files: PAPI-style JSON subject lists (`i1`..`i300`) and `item,answer` CSV files.

Files come in one of two orientations, and everything this module returns is in the first:
- `chosen`: the option the person picked, 1..5 (5 = Very Accurate), as `paso-local onboard` records it;
- `keyed`: the trait-direction score, i.e. 6 - the chosen option on minus-keyed items. The published PAPI
  files (and ../shared/data/papi_dev.json) store this.
The conversion happens once, here, at read time; 0 (missing) stays 0. On a file of 20 or more subjects the
stated orientation is checked against the data: within a domain, a person's mean over the plus-keyed items
and over the minus-keyed items correlate positively across people in keyed values and negatively in chosen
ones. A file that contradicts its stated orientation is refused.

Every value is validated; an error names the file, the record and the field, and nothing is written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paso_local.errors import PasoError
from paso_local.person.inventory import DOMAINS, item

ORIENTATIONS = ("keyed", "chosen")
MIN_CHECKED_SUBJECTS = 20  # below this the +/- keyed correlation is too noisy to check
CONTRADICTION = 0.2  # a mean within-domain r this far on the wrong side of 0 refuses the file
_NOUN = {
    "keyed": "keyed scores (6 - the chosen option on minus-keyed items)",
    "chosen": "the options people chose",
}


@dataclass(frozen=True)
class Subject:
    case: str  # the record's `case` id, or its index when it has none
    index: int
    answers: dict[int, int]  # 300-form item number -> chosen option 1..5 (0 = missing)


def flip_minus_keyed(answers: Mapping[int, int]) -> dict[int, int]:
    """Chosen options <-> keyed scores: 6 - v on minus-keyed items, 0 stays missing. Its own inverse."""
    return {n: (6 - v if v and not item(n).plus_keyed else v) for n, v in answers.items()}


def default_orientation(path: Path) -> str:
    """What a file holds unless told otherwise: `chosen` for an item,answer CSV (one person's own answers),
    `keyed` for a PAPI-style JSON list (what the published files store)."""
    return "chosen" if Path(path).suffix.lower() == ".csv" else "keyed"


def check_orientation_name(orientation: str) -> str:
    if orientation not in ORIENTATIONS:
        raise PasoError(f"--orientation {orientation!r}: use one of {', '.join(ORIENTATIONS)}")
    return orientation


def key_agreement(rows: Sequence[Mapping[int, int]]) -> dict[str, float | None]:
    """Per domain, Pearson r across people between their mean over the domain's answered plus-keyed items and
    their mean over its minus-keyed items, in the values as given (None: fewer than 3 people have both)."""
    out: dict[str, float | None] = {}
    for domain in DOMAINS:
        pairs = []
        for answers in rows:
            plus = [v for n, v in answers.items() if v and item(n).domain == domain and item(n).plus_keyed]
            minus = [
                v for n, v in answers.items() if v and item(n).domain == domain and not item(n).plus_keyed
            ]
            if plus and minus:
                pairs.append((np.mean(plus), np.mean(minus)))
        x, y = np.array(pairs, dtype=float).T if len(pairs) >= 3 else (np.zeros(0), np.zeros(0))
        spread = float(x.std() * y.std()) if x.size else 0.0
        out[domain] = float(np.corrcoef(x, y)[0, 1]) if spread > 1e-12 else None
    return out


def check_orientation(path: Path, rows: Sequence[Mapping[int, int]], orientation: str) -> None:
    """Refuse a file of >= 20 people whose values contradict `orientation` (see the module docstring)."""
    if len(rows) < MIN_CHECKED_SUBJECTS:
        return
    agreement = key_agreement(rows)
    known = [r for r in agreement.values() if r is not None]
    if not known:
        return
    mean = float(np.mean(known))
    wrong = mean < -CONTRADICTION if orientation == "keyed" else mean > CONTRADICTION
    if not wrong:
        return
    fits = "chosen" if orientation == "keyed" else "keyed"
    figures = ", ".join(f"{d} {r:+.2f}" for d, r in agreement.items() if r is not None)
    sign = "positively" if orientation == "keyed" else "negatively"
    raise PasoError(
        f"{path} does not hold {orientation} values: across its {len(rows)} subjects, a person's mean over the "
        f"plus-keyed and over the minus-keyed items of a domain correlate {figures} (mean {mean:+.2f}). In "
        f"{_NOUN[orientation]} they correlate {sign}; these figures fit --orientation {fits}. Give "
        f"--orientation {fits} if the file holds {_NOUN[fits]}. Nothing was written."
    )


def _answer_value(value: object, where: str) -> int:
    """0..5 from an int, an integral float or a digit string; '' and None mean missing (0)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise PasoError(f"{where}: {value!r} is not an answer; use 1..5, or 0/empty for missing")
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return 0
        if not value.isdigit():
            raise PasoError(f"{where}: {value!r} is not an answer; use 1..5, or 0/empty for missing")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise PasoError(f"{where}: {value!r} must be a whole number 0..5; use 1..5, or 0/empty for missing")
    if not 0 <= value <= 5:
        raise PasoError(f"{where}: {value!r} is outside 0..5; use 1..5, or 0/empty for missing")
    return value


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PasoError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PasoError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PasoError(f"{path} is not valid JSON: {exc}") from exc


def _subject_from_record(record: object, index: int, path: Path, items: Iterable[int]) -> Subject:
    where = f"{path}, record {index}"
    if not isinstance(record, dict):
        raise PasoError(f"{where}: expected an object with fields i1..i300, got {type(record).__name__}")
    case = record.get("case", index)
    where = f"{path}, record {index} (case {case})"
    answers: dict[int, int] = {}
    for number in items:
        key = f"i{number}"
        if key not in record:
            raise PasoError(
                f"{where}: field {key!r} is missing; every subject needs answers i1..i300 (0 = missing)"
            )
        answers[number] = _answer_value(record[key], f"{where}, field {key!r}")
    return Subject(case=str(case), index=index, answers=answers)


def _as_chosen(subject: Subject, orientation: str) -> Subject:
    if orientation == "chosen":
        return subject
    return Subject(case=subject.case, index=subject.index, answers=flip_minus_keyed(subject.answers))


def _read_list(path: Path) -> list:
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise PasoError(f"{path}: expected a non-empty JSON list of subject objects with fields i1..i300")
    return data


def load_subjects(
    path: Path, items: Iterable[int] = range(1, 301), *, orientation: str = "keyed"
) -> list[Subject]:
    """All subjects of a PAPI-style JSON list, each checked for the given items, answers in chosen options."""
    path = Path(path)
    check_orientation_name(orientation)
    stored = [
        _subject_from_record(record, index, path, items) for index, record in enumerate(_read_list(path))
    ]
    check_orientation(path, [s.answers for s in stored], orientation)
    return [_as_chosen(s, orientation) for s in stored]


def _parsable_rows(data: list, path: Path, items: Iterable[int]) -> list[dict[int, int]]:
    """The stored answers of every record that parses (for the orientation check; bad ones are skipped
    here and refused only if they are the one asked for)."""
    rows = []
    for index, record in enumerate(data):
        try:
            rows.append(_subject_from_record(record, index, path, items).answers)
        except PasoError:
            continue
    return rows


def select_subject(
    path: Path,
    *,
    index: int | None = None,
    case: str | None = None,
    items: Iterable[int] = range(1, 301),
    orientation: str = "keyed",
) -> Subject:
    """One subject of a PAPI-style JSON list, chosen by position or by `case` id, in chosen options. The
    orientation is checked on the whole file."""
    path = Path(path)
    check_orientation_name(orientation)
    data = _read_list(path)
    if case is not None:
        matches = [i for i, r in enumerate(data) if isinstance(r, dict) and str(r.get("case")) == str(case)]
        if not matches:
            raise PasoError(f"{path}: no record has case {case!r}")
        index = matches[0]
    elif index is None:
        if len(data) != 1:
            raise PasoError(f"{path} holds {len(data)} subjects: choose one with --index N or --case ID")
        index = 0
    if not 0 <= index < len(data):
        raise PasoError(
            f"{path}: --index {index} is out of range (the file holds {len(data)} subjects, 0..{len(data) - 1})"
        )
    subject = _subject_from_record(data[index], index, path, items)
    check_orientation(path, _parsable_rows(data, path, items), orientation)
    return _as_chosen(subject, orientation)


def load_answer_csv(path: Path, *, orientation: str = "chosen") -> dict[int, int]:
    """A CSV of `item,answer` rows (a header row is allowed). Returns item -> chosen option 0..5."""
    path = Path(path)
    check_orientation_name(orientation)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PasoError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PasoError(f"cannot read {path}: {exc}") from exc
    answers: dict[int, int] = {}
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line_no == 1 and row[0].strip().lower() in {"item", "number"}:
            continue
        where = f"{path}, line {line_no}"
        if len(row) != 2:
            raise PasoError(f"{where}: expected two columns `item,answer`, got {len(row)}")
        item_text = row[0].strip().lstrip("iI")
        if not item_text.isdigit() or not 1 <= int(item_text) <= 300:
            raise PasoError(f"{where}: item {row[0]!r} is not an item number 1..300")
        number = int(item_text)
        if number in answers:
            raise PasoError(f"{where}: item {number} appears twice")
        answers[number] = _answer_value(row[1], f"{where}, answer to item {number}")
    if not answers:
        raise PasoError(f"{path} holds no answers; expected rows of `item,answer`")
    return answers if orientation == "chosen" else flip_minus_keyed(answers)
