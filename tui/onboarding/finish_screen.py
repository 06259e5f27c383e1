"""After the last statement: a summary and a confirmation before the profile is marked complete."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from paso_local.tui.onboarding.messages import FinishConfirmed, QuitChosen, ReturnedToQuestion
from paso_local.tui.onboarding.session import QuestionnaireSession


class FinishScreen(Screen):
    """Enter finishes; the person can still go back, or jump to the first unanswered statement."""

    CSS_PATH = "finish_screen.tcss"
    BINDINGS = [
        Binding("enter", "finish", "finish & see profile"),
        Binding("u", "first_unanswered", "first unanswered"),
        Binding("backspace,left", "back", "back", key_display="⌫/←"),
        Binding("q,escape", "quit", "save & quit", key_display="q"),
    ]

    def __init__(self, session: QuestionnaireSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="finish-body"):
            yield Static("That was the last statement.", id="finish-title")
            yield Static(self._summary(), id="finish-summary")
            yield Static(
                "Press Enter to finish and see your profile. You can still go back and change answers.",
                id="finish-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        profile = self.session.profile
        self.title = "paso-local questionnaire"
        self.sub_title = f"profile {profile.name!r} · {profile.form}-item form"

    def _summary(self) -> str:
        answered, total = self.session.answered, self.session.total
        unanswered = total - answered
        text = f"You answered {answered} of {total} statements."
        if unanswered:
            text += (
                f" {unanswered} {'is' if unanswered == 1 else 'are'} unanswered: a score is shown only when"
                " at least half of its statements are answered. Press u to answer the first of them."
            )
        return text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "first_unanswered":
            return self.session.first_unanswered() is not None
        return True

    def action_finish(self) -> None:
        self.post_message(FinishConfirmed())

    def action_first_unanswered(self) -> None:
        index = self.session.first_unanswered()
        if index is not None:
            self.post_message(ReturnedToQuestion(index))

    def action_back(self) -> None:
        self.post_message(ReturnedToQuestion(self.session.total - 1))

    def action_quit(self) -> None:
        self.post_message(QuitChosen())
