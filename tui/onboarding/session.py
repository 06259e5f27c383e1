"""The questionnaire as a small state machine over a Profile. Every change is saved to disk at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from paso_local.person.inventory import Item
from paso_local.person.profile import Profile, ProfileStore, now_iso, validate_profile_name
from paso_local.person.questionnaire_prompt import LETTER_VALUE
from paso_local.tui.onboarding.pace import Clock, PaceTracker, describe_time_left

LETTER_TO_ANSWER: dict[str, int] = {letter.lower(): v for letter, v in LETTER_VALUE.items()}  # the keys a..e


@dataclass(frozen=True)
class Opened:
    """A session and, when the stored profile differs from what was asked for, a sentence saying so."""

    session: QuestionnaireSession
    notice: str | None


class QuestionnaireSession:
    """Position in the form, answers and pace. Saves after each answer, skip, back or jump."""

    def __init__(self, store: ProfileStore, profile: Profile, clock: Clock = time.monotonic) -> None:
        self.store = store
        self.profile = profile
        self.pace = PaceTracker(clock)
        self.profile.position = min(max(profile.position, 0), self.total)

    @classmethod
    def open(cls, store: ProfileStore, name: str, form: str | None, clock: Clock = time.monotonic) -> Opened:
        """Load the profile (a damaged file raises PasoError and is left alone) or start a new one.

        `form=None` means no form was asked for: the profile's own form, or 120 for a new profile."""
        validate_profile_name(name)
        profile = store.load_or_none(name)
        notice = None
        if profile is None:
            profile = Profile(name=name, form=form or "120")
        elif form is None:
            pass
        elif profile.form != form and profile.complete:
            notice = (
                f"Profile {name!r} was completed with the {profile.form}-item form. "
                f"Press r to retake it as the {form}-item form (your answers are kept as defaults)."
            )
        elif profile.form != form:
            notice = f"Profile {name!r} was started with the {profile.form}-item form: continuing with it."
        return Opened(cls(store, profile, clock), notice)

    # --- reading --------------------------------------------------------------------------------------------

    @property
    def items(self) -> tuple[Item, ...]:
        return self.profile.items

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def position(self) -> int:
        return self.profile.position

    @property
    def at_end(self) -> bool:
        return self.position >= self.total

    @property
    def current(self) -> Item | None:
        return None if self.at_end else self.items[self.position]

    def answer_to(self, item: Item) -> int | None:
        return self.profile.answers.get(item.number)

    def was_skipped(self, item: Item) -> bool:
        return item.number in self.profile.skipped

    @property
    def answered(self) -> int:
        return len(self.profile.usable_answers())

    @property
    def skipped(self) -> int:
        numbers = {i.number for i in self.items}
        return len(self.profile.skipped & numbers)

    def first_unanswered(self) -> int | None:
        """Index of the first item without an answer (skipped or never reached), or None."""
        return next((k for k, i in enumerate(self.items) if i.number not in self.profile.answers), None)

    def time_left(self) -> str:
        return describe_time_left(self.pace.seconds_left(self.total - self.position))

    @property
    def path(self) -> Path:
        return self.store.path(self.profile.name)

    # --- changing (each saves) ------------------------------------------------------------------------------

    def answer(self, value: int) -> None:
        item = self._require_current()
        self.pace.answered()
        self.profile.answer(item.number, value)
        self._move_to(self.position + 1)

    def skip(self) -> None:
        item = self._require_current()
        self.profile.answer(item.number, None)
        self._move_to(self.position + 1)

    def back(self) -> bool:
        """Go to the previous question; False at the first one."""
        if self.position == 0:
            return False
        self._move_to(self.position - 1)
        return True

    def go_to(self, index: int) -> None:
        self._move_to(min(max(index, 0), self.total - 1))

    def finish(self) -> None:
        self.profile.completed_at = now_iso()
        self.profile.updated_at = self.profile.completed_at
        self.save()

    def retake(self, form: str | None = None) -> None:
        """Start over at question 1 with the old answers as defaults (optionally with another form)."""
        if form is not None:
            self.profile.form = form
        self.profile.completed_at = None
        self._move_to(0)

    def save(self) -> None:
        self.store.save(self.profile)

    def _move_to(self, position: int) -> None:
        self.profile.position = position
        self.profile.updated_at = now_iso()
        self.save()
        self.pace.question_shown()

    def _require_current(self) -> Item:
        item = self.current
        if item is None:
            raise RuntimeError("no current question: the questionnaire is at its end")
        return item
