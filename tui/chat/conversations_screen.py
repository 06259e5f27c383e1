"""The saved conversations, most recent first: Enter reopens one, Esc goes back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from paso_local.store.conversations import ConversationSummary


class ConversationsScreen(ModalScreen[int | None]):
    CSS_PATH = "conversations_screen.tcss"
    BINDINGS = [Binding("escape", "dismiss_none", "back")]

    def __init__(self, summaries: list[ConversationSummary]) -> None:
        super().__init__()
        self.summaries = summaries

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Saved conversations (Enter opens, Esc goes back)", id="dialog-title")
            if self.summaries:
                yield OptionList(
                    *[
                        Option(
                            f"{s.title}  [dim]· {s.message_count} messages · {s.updated_at[:16]}[/dim]",
                            id=str(s.id),
                        )
                        for s in self.summaries
                    ],
                    id="conversation-list",
                )
            else:
                yield Label("No saved conversations yet.", id="empty")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
