"""One statement at a time, with the five answer options and the progress line."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static

from paso_local.person.questionnaire_prompt import ANSWER_LABELS
from paso_local.tui.onboarding.messages import Answered, QuitChosen, Skipped, WentBack
from paso_local.tui.onboarding.session import LETTER_TO_ANSWER, QuestionnaireSession
from paso_local.tui.onboarding.widgets.answer_options import AnswerOptions
from paso_local.tui.onboarding.widgets.question_progress import QuestionProgress

INSTRUCTIONS = (
    "Describe yourself as you generally are now, not as you wish to be.\n"
    "Answer with 1-5 or A-E, or choose with ↑ ↓ and Enter."
)


def _answer_bindings() -> list[Binding]:
    """1-5 and A-E (either case); the footer shows one key of each kind under one "answer" label."""
    group = Binding.Group("answer")
    digits = [
        Binding(str(v), f"answer({v})", "answer", key_display="1-5", show=v == 1, group=group)
        for v in ANSWER_LABELS
    ]
    letters = [
        Binding(f"{k},{k.upper()}", f"answer({v})", "answer", key_display="A-E", show=k == "a", group=group)
        for k, v in LETTER_TO_ANSWER.items()
    ]
    return digits + letters


class QuestionScreen(Screen):
    """Shows the session's current question. Posts Answered / Skipped / WentBack / QuitChosen to the app."""

    CSS_PATH = "question_screen.tcss"
    AUTO_FOCUS = "#options"
    BINDINGS = [
        *_answer_bindings(),
        Binding("s", "skip", "skip"),
        Binding("backspace,left", "back", "back", key_display="⌫/←"),
        Binding("q,escape", "quit", "save & quit", key_display="q"),
    ]

    def __init__(self, session: QuestionnaireSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="question-body"):
            yield Label(id="question-number")
            yield Static(id="statement")
            yield Static(INSTRUCTIONS, id="instructions")
            yield AnswerOptions(id="options")
            yield Label(id="earlier")
        yield QuestionProgress(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        profile = self.session.profile
        self.title = "paso-local questionnaire"
        self.sub_title = f"profile {profile.name!r} · {profile.form}-item form"
        self.show_question()

    def show_question(self) -> None:
        """Redraw for the session's current question (called by the app after every change)."""
        item = self.session.current
        if item is None:
            return
        total = self.session.total
        self.query_one("#question-number", Label).update(f"Question {self.session.position + 1} of {total}")
        self.query_one("#statement", Static).update(item.text)
        answer = self.session.answer_to(item)
        self.query_one(AnswerOptions).show_answer(answer)
        if answer is not None:
            earlier = f"Your answer so far: {ANSWER_LABELS[answer]}. Enter keeps it."
        elif self.session.was_skipped(item):
            earlier = "You skipped this one earlier."
        else:
            earlier = ""
        self.query_one("#earlier", Label).update(earlier)
        self.query_one(QuestionProgress).show(
            position=self.session.position, total=total, time_left=self.session.time_left()
        )

    def action_answer(self, value: int) -> None:
        self.post_message(Answered(value))

    def action_skip(self) -> None:
        self.post_message(Skipped())

    def action_back(self) -> None:
        self.post_message(WentBack())

    def action_quit(self) -> None:
        self.post_message(QuitChosen())
