"""SVG snapshots of the onboarding screens (pytest-textual-snapshot). Update with `--snapshot-update`."""

from __future__ import annotations

from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.tui.onboarding import OnboardingApp


class StoppedClock:
    """Time does not move: the time-left estimate stays at the default pace, the same on every run."""

    def __call__(self) -> float:
        return 0.0


def saved_profile(*, complete: bool) -> None:
    """120 fixed answers with the four Anxiety (N1) statements skipped, so one facet shows as missing."""
    profile = Profile(name="default", form="120", position=120)
    for k, item in enumerate(form_items("120")):
        profile.answer(item.number, None if item.facet == "N1" else (k * 7 + 3) % 5 + 1)
    if complete:
        profile.completed_at = "2025-01-01T00:00:00+00:00"
    ProfileStore().save(profile)


def test_question_screen_revisiting_an_answer(snap_compare):
    app = OnboardingApp("default", "120", ProfileStore(), clock=StoppedClock())
    assert snap_compare(app, press=["1", "5", "backspace"], terminal_size=(100, 32))


def test_end_screen_with_unanswered_statements(snap_compare):
    saved_profile(complete=False)
    app = OnboardingApp("default", "120", ProfileStore(), clock=StoppedClock())
    assert snap_compare(app, terminal_size=(100, 24))


def test_profile_screen(snap_compare):
    saved_profile(complete=True)
    app = OnboardingApp("default", "120", ProfileStore(), clock=StoppedClock())
    assert snap_compare(app, terminal_size=(110, 38))
