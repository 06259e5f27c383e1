"""`paso-local onboard`: the IPIP-NEO questionnaire in the terminal, saved after every answer."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.person.profile import DEFAULT_PROFILE, ProfileStore
from paso_local.store.paths import require_writable_dir
from paso_local.tui.onboarding.finish_screen import FinishScreen
from paso_local.tui.onboarding.messages import (
    Answered,
    FinishConfirmed,
    QuitChosen,
    RetakeChosen,
    ReturnedToQuestion,
    Skipped,
    WentBack,
)
from paso_local.tui.onboarding.pace import Clock
from paso_local.tui.onboarding.profile_screen import ProfileScreen
from paso_local.tui.onboarding.question_screen import QuestionScreen
from paso_local.tui.onboarding.session import QuestionnaireSession


class OnboardingApp(App[None]):
    """Owns the session; screens only post what the person chose. A damaged profile raises PasoError here."""

    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+c,ctrl+q", "save_and_quit", "quit", show=False, priority=True)]

    def __init__(
        self,
        profile_name: str = DEFAULT_PROFILE,
        form: str | None = None,
        store: ProfileStore | None = None,
        *,
        clock: Clock = time.monotonic,
        resume_command: str | None = None,
    ) -> None:
        super().__init__()
        opened = QuestionnaireSession.open(store or ProfileStore(), profile_name, form, clock)
        self.resume_command = resume_command  # what the farewell says to run to go on (a script's name)
        self.session = opened.session
        self.requested_form = form or self.session.profile.form
        self.notice = opened.notice

    def on_mount(self) -> None:
        self.push_screen(self._screen_for_state())
        if self.notice:
            self.notify(self.notice, title="Form", timeout=20)
        elif 0 < self.session.position < self.session.total and not self.session.profile.complete:
            self.notify(f"Welcome back: continuing at question {self.session.position + 1}.", timeout=5)

    # --- what the screens post ----------------------------------------------------------------------------

    def on_answered(self, message: Answered) -> None:
        if self.session.current is not None and not self.session.profile.complete:
            self._change(lambda: self.session.answer(message.value))

    def on_skipped(self, message: Skipped) -> None:
        if self.session.current is not None and not self.session.profile.complete:
            self._change(self.session.skip)

    def on_went_back(self, message: WentBack) -> None:
        if not self.session.back():
            self.notify("This is the first question.", timeout=3)
        self._show_state()

    def on_returned_to_question(self, message: ReturnedToQuestion) -> None:
        self._change(lambda: self.session.go_to(message.index))

    def on_finish_confirmed(self, message: FinishConfirmed) -> None:
        self._change(self.session.finish)

    def on_retake_chosen(self, message: RetakeChosen) -> None:
        form = self.requested_form if self.requested_form != self.session.profile.form else None
        self._change(lambda: self.session.retake(form))

    def on_quit_chosen(self, message: QuitChosen) -> None:
        self.action_save_and_quit()

    def action_save_and_quit(self) -> None:
        try:
            self.session.save()
        except PasoError as exc:
            self.exit(return_code=1, message=f"Error: {exc}")
            return
        self.exit(message=self.farewell())

    def exit_status(self, unfinished: int = 0) -> int:
        """After the app closed: its error status, else 0 for a complete profile and `unfinished` otherwise."""
        if self.return_code:
            return self.return_code
        return 0 if self.session.profile.complete else unfinished

    # --- helpers ------------------------------------------------------------------------------------------

    def farewell(self) -> str:
        """What is printed after the app closes: where the answers are and how to go on."""
        session, profile = self.session, self.session.profile
        flag = "" if profile.name == DEFAULT_PROFILE else f" --profile {profile.name}"
        if profile.complete:
            return with_command_name(
                f"Profile saved to {session.path}.\n"
                f"Next: `paso-local align{flag}` builds your personality vector; "
                f"`paso-local profile{flag}` shows these scores again."
            )
        where = (
            "to finish"
            if session.at_end
            else f"to continue at question {session.position + 1} of {session.total}"
        )
        resume = self.resume_command or with_command_name(f"paso-local onboard{flag}")
        return (
            f"Saved {session.answered} of {session.total} answers to {session.path}.\nRun `{resume}` {where}."
        )

    def _change(self, change: Callable[[], object]) -> None:
        """Apply a change to the session (which saves it), then show the screen for the new state."""
        try:
            change()
        except PasoError as exc:
            self.exit(return_code=1, message=f"Error: {exc}")
            return
        self._show_state()

    def _screen_for_state(self) -> Screen:
        if self.session.profile.complete:
            return ProfileScreen(self.session.profile)
        if self.session.at_end:
            return FinishScreen(self.session)
        return QuestionScreen(self.session)

    def _show_state(self) -> None:
        if isinstance(self.screen, QuestionScreen) and self.session.current is not None:
            self.screen.show_question()
        else:
            self.switch_screen(self._screen_for_state())


def run_onboarding(
    profile_name: str = DEFAULT_PROFILE,
    form: str | None = None,
    *,
    resume_command: str | None = None,
    unfinished_status: int = 0,
) -> int:
    """Run the questionnaire app for `profile_name`; the exit status for the CLI (`unfinished_status` when the
    person leaves before the end: a script can stop there)."""
    store = ProfileStore()
    app = OnboardingApp(profile_name, form, store, resume_command=resume_command)  # a damaged file stops here
    require_writable_dir(store.root, "your answers")  # before the first screen, not after the first answer
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise PasoError(
            "`paso-local onboard` needs an interactive terminal. "
            "To take answers from a file instead, use `paso-local onboard --import FILE`."
        )
    app.run()
    return app.exit_status(unfinished_status)
