"""What the chat does with whole conversations: start a new one (with the profile prompt or without it),
reopen a saved one, and turn the profile prompt on or off. A part of ChatScreen (mixed into it), kept apart
so each file stays readable; it uses the screen's session, conversation view, status line and backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paso_local.tui.chat.conversations_screen import ConversationsScreen
from paso_local.tui.chat.session import PROMPT_CAPTION, describe, replay

if TYPE_CHECKING:
    import threading

    from paso_local.store.conversations import ConversationStore
    from paso_local.tui.chat.backend import BackendInfo, ChatBackend
    from paso_local.tui.chat.session import ChatSession
    from paso_local.tui.chat.widgets.conversation_view import ConversationView
    from paso_local.tui.chat.widgets.prompt_input import PromptInput
    from paso_local.tui.chat.widgets.status_line import StatusLine


class ConversationActions:
    """Ctrl+N, Ctrl+O and Ctrl+P of the chat screen, and what a conversation opens with."""

    if TYPE_CHECKING:  # provided by ChatScreen (and Textual's Screen: app, call_later)
        session: ChatSession
        store: ConversationStore
        idle: threading.Event
        backend: ChatBackend
        info: BackendInfo | None
        conversation: ConversationView
        status: StatusLine
        prompt: PromptInput
        history: list[dict]

        def _busy(self) -> bool: ...
        def notify(self, message: str, **kwargs: object) -> None: ...

    async def _show_opening(self) -> None:
        """A new conversation that begins with the profile prompt shows it: what the model is told."""
        if self.session.system_prompt is not None:
            await self.conversation.add_message("note", self.session.system_prompt, caption=PROMPT_CAPTION)

    def _prompt_label(self) -> str:
        return "profile in the prompt" if self.session.system_prompt is not None else "no profile prompt"

    async def action_toggle_profile_prompt(self) -> None:
        """The profile prompt on or off: for this conversation while nothing is sent in it, else for the
        next one (a conversation keeps the system message it began with)."""
        if self.session.profile_prompt is None:
            self.notify(self.session.prompt_note or "No profile prompt.", severity="warning")
            return
        if self._busy():
            return
        state = "on" if not self.session.prompt_on else "off"
        if self.session.set_profile_prompt(not self.session.prompt_on):
            await self.conversation.clear()
            await self._show_opening()
            self.notify(f"Profile prompt {state}.")
        else:
            self.notify(
                f"Profile prompt {state} from the next conversation (Ctrl+N); this one keeps its own."
            )
        self.status.show(prompt=self._prompt_label())

    def action_toggle_memory(self) -> None:
        """The answer memory on or off, from the next message: the person's answers on what each message is
        about join the system message (paso_local.person.recall)."""
        if self.session.memory is None:
            self.notify(self.session.memory_note or "No answer memory.", severity="warning")
            return
        self.session.set_memory(not self.session.memory_on)
        self.panel.show_answers(self.session.memory_on, None)
        self.notify(f"Answer memory {'on' if self.session.memory_on else 'off'} from the next message.")

    async def action_new_conversation(self) -> None:
        if self._busy():
            return
        await self.conversation.clear()
        self.session.start_new()
        await self._show_opening()
        self.status.show(prompt=self._prompt_label())
        if self.info is not None:
            self.status.show(context=(0, self.info.n_ctx), activity="new conversation")
        self.prompt.focus()

    def action_open_conversations(self) -> None:
        if self._busy():
            return
        try:
            summaries = self.store.list()
        except Exception as exc:  # a damaged store: say so and keep chatting
            self.notify(describe(exc), title="Conversations", severity="error")
            return
        self.app.push_screen(ConversationsScreen(summaries), self._conversation_chosen)

    def _conversation_chosen(self, conversation_id: int | None) -> None:
        if conversation_id is not None:
            self.call_later(self.open_conversation, conversation_id)

    async def open_conversation(self, conversation_id: int) -> None:
        """Show a saved conversation and continue it."""
        try:
            saved = self.session.open(conversation_id)
        except Exception as exc:  # shown, never a crash
            self.notify(describe(exc), title="Conversations", severity="error")
            return
        await self.conversation.show_saved(replay(saved))
        self.prompt.set_history([m.content for m in saved.messages if m.role == "user"])
        self.status.show(
            context=self._context_of_history(),
            prompt=self._prompt_label(),
            activity=f"opened “{saved.title}”",
        )
        self.prompt.focus()

    def _context_of_history(self) -> tuple[int, int] | None:
        """How much of the context the reopened conversation fills (None: the model is not loaded)."""
        if self.info is None or not self.idle.is_set():
            return None
        try:
            return self.backend.count_tokens(self.history), self.info.n_ctx
        except Exception as exc:  # shown, never a crash: the count is only a display
            self.notify(describe(exc), title="Context", severity="warning")
            return None
