"""Onboarding without the TUI: importing answers from a file into a profile."""

from __future__ import annotations

from pathlib import Path

from paso_local.errors import PasoError
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore, now_iso, validate_profile_name
from paso_local.person.subjects import default_orientation, load_answer_csv, select_subject


def read_answer_file(
    path: str | Path, *, form: str, index: int | None, case: str | None, orientation: str | None = None
) -> dict[int, int]:
    """Chosen options (item -> 0..5) for the form's items from a PAPI JSON list or an item,answer CSV;
    `orientation` None: the file type's default (subjects.default_orientation)."""
    path = Path(path)
    orientation = orientation or default_orientation(path)
    numbers = [i.number for i in form_items(form)]
    if path.suffix.lower() == ".csv":
        if index is not None or case is not None:
            raise PasoError(
                f"{path} is a CSV of one person's answers: --index and --case apply to JSON lists only"
            )
        answers = load_answer_csv(path, orientation=orientation)
    else:
        subject = select_subject(
            path,
            index=index,
            case=case,
            items=range(1, 301) if form == "300" else numbers,
            orientation=orientation,
        )
        answers = subject.answers
    return {n: answers.get(n, 0) for n in numbers}


def import_answers(
    path: str | Path,
    *,
    profile_name: str,
    form: str = "120",
    index: int | None = None,
    case: str | None = None,
    replace: bool = False,
    orientation: str | None = None,
    store: ProfileStore | None = None,
) -> tuple[Profile, Path]:
    """Validate the whole file first, then write the profile once: a bad file leaves everything untouched."""
    store = store or ProfileStore()
    validate_profile_name(profile_name)
    existing = store.load_or_none(profile_name)  # raises on a damaged file before anything is written
    orientation = orientation or default_orientation(Path(path))
    answers = read_answer_file(path, form=form, index=index, case=case, orientation=orientation)
    if existing is not None and existing.answers and not replace:
        raise PasoError(
            f"profile {profile_name!r} already has {len(existing.answers)} answers ({store.path(profile_name)}). "
            "Add --replace to overwrite them, or import into another --profile NAME."
        )
    profile = Profile(name=profile_name, form=form, source=f"import:{Path(path).name} ({orientation})")
    if existing is not None:
        profile.created_at = existing.created_at
    for number, value in answers.items():
        if value:
            profile.answers[number] = value
        else:
            profile.skipped.add(number)
    profile.position = len(form_items(form))
    profile.completed_at = now_iso()
    return profile, store.save(profile)
