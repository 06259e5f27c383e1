"""Reading answers from files: PAPI-style JSON subject lists (`i1`..`i300`) and `item,answer` CSV files.

Every value is validated; an error names the file, the record and the field, and nothing is written.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError


@dataclass(frozen=True)
class Subject:
    case: str  # the record's `case` id, or its index when it has none
    index: int
    answers: dict[int, int]  # 300-form item number -> 0..5 (0 = missing)


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


def _subject_from_record(record: object, index: int, path: Path, items: range) -> Subject:
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


def load_subjects(path: Path, items: range = range(1, 301)) -> list[Subject]:
    """All subjects of a PAPI-style JSON list, each checked for the given items."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise PasoError(f"{path}: expected a non-empty JSON list of subject objects with fields i1..i300")
    return [_subject_from_record(record, index, path, items) for index, record in enumerate(data)]


def select_subject(
    path: Path, *, index: int | None = None, case: str | None = None, items: range = range(1, 301)
) -> Subject:
    """One subject of a PAPI-style JSON list, chosen by position or by `case` id."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise PasoError(f"{path}: expected a non-empty JSON list of subject objects with fields i1..i300")
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
    return _subject_from_record(data[index], index, path, items)


def load_answer_csv(path: Path) -> dict[int, int]:
    """A CSV of `item,answer` rows (a header row is allowed). Returns item -> 0..5."""
    path = Path(path)
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
    return answers
