"""The finished profile: the five domains and thirty facets as bars on 0..100."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from paso_local.person.profile import Profile
from paso_local.tui.onboarding.messages import QuitChosen, RetakeChosen
from paso_local.tui.onboarding.widgets.domain_card import DomainCard

NARROW_BELOW = 100  # columns: under this the cards stack in one column
DOMAIN_ORDER = "OCEAN"  # the order people know the Big Five by


class ProfileScreen(Screen):
    """Read-only view of the saved scores. `r` retakes the questionnaire with the old answers as defaults."""

    CSS_PATH = "profile_screen.tcss"
    BINDINGS = [
        Binding("r", "retake", "retake questionnaire"),
        Binding("q,escape", "quit", "quit", key_display="q"),
    ]

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile
        self.scores = profile.scores()

    def compose(self) -> ComposeResult:
        yield Header()
        total = len(self.profile.items)
        yield Static(
            f"Your Big Five profile: {self.scores.answered} of {total} statements answered "
            f"({self.profile.form}-item form). Scores run from 0 to 100; a score needs at least half of its "
            "statements answered.",
            id="profile-summary",
        )
        with VerticalScroll(id="profile-scroll"):
            with Grid(id="score-grid"):
                for domain in DOMAIN_ORDER:
                    yield DomainCard(domain, self.scores)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "paso-local · your personality profile"
        self.sub_title = f"profile {self.profile.name!r}"

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_BELOW, "-narrow")

    def action_retake(self) -> None:
        self.post_message(RetakeChosen())

    def action_quit(self) -> None:
        self.post_message(QuitChosen())
