"""`paso-local chat`: the app holds the backend, the conversation store and the profile; the screen chats."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.llm.steering import Steering
from paso_local.person.profile import DEFAULT_PROFILE, ProfileStore
from paso_local.store.conversations import ConversationStore
from paso_local.tui.chat.backend import ChatBackend
from paso_local.tui.chat.chat_screen import ChatScreen
from paso_local.tui.chat.session import NO_ANSWER_RECALL, NO_PROFILE_PROMPT, AnswerRecall, ProfilePrompt


def profile_scores(profile_name: str) -> tuple[dict[str, float | None] | None, str | None]:
    """The profile's domain scores (1..5), or None and a note saying why there are none."""
    try:
        profile = ProfileStore().load_or_none(profile_name)
    except PasoError as exc:
        return None, with_command_name(str(exc))
    if profile is None:
        return None, with_command_name(
            f"No profile {profile_name!r} yet: run `paso-local onboard`, then `paso-local align`."
        )
    return dict(profile.scores().domains), None


class ChatApp(App[None]):
    TITLE = "paso-local chat"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("ctrl+q", "quit", "quit", priority=True),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        backend: ChatBackend,
        *,
        store: ConversationStore | None = None,
        profile_name: str = DEFAULT_PROFILE,
        steering: Steering | None = None,
        compare_strength: float = 0.0,
        profile_prompt: ProfilePrompt = NO_PROFILE_PROMPT,
        answer_recall: AnswerRecall = NO_ANSWER_RECALL,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.store = store if store is not None else ConversationStore()
        scores, note = profile_scores(profile_name)
        self.chat = ChatScreen(
            backend,
            self.store,
            profile_name=profile_name,
            scores=scores,
            profile_note=note,
            steering=steering or Steering(),
            compare_strength=compare_strength,
            profile_prompt=profile_prompt,
            answer_recall=answer_recall,
        )

    def on_mount(self) -> None:
        self.push_screen(self.chat)

    async def action_quit(self) -> None:
        """Stop a reply being written first: the worker thread must let go before the app can end."""
        self.chat.action_stop()
        self.exit()

    def stop_and_wait(self, timeout: float = 10.0) -> bool:
        return self.chat.stop_and_wait(timeout)
