"""One message of the conversation: a caption line and its text rendered as Markdown (streamed in place)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Markdown


class MessageView(Vertical):
    """`role` is "user", "assistant" or "note"; the caption says who wrote it and how it was steered."""

    DEFAULT_CSS = """
    MessageView { height: auto; padding: 0 1; margin: 0 0 1 0; }
    MessageView > .message-view--caption { color: $text-muted; text-style: bold; }
    MessageView.-user { border-left: thick $primary; background: $boost; }
    MessageView.-assistant { border-left: thick $accent; }
    MessageView.-note { border-left: thick $warning; color: $text-muted; }
    MessageView > Markdown { margin: 0; padding: 0; }
    """

    def __init__(self, role: str, text: str = "", *, caption: str = "", id: str | None = None) -> None:
        super().__init__(classes=f"-{role}", id=id)
        self.role = role
        self.text = text
        self._caption = caption or role

    def compose(self) -> ComposeResult:
        yield Label(self._caption, classes="message-view--caption")
        yield Markdown(self.text)

    @property
    def caption(self) -> str:
        return self._caption

    def set_caption(self, caption: str) -> None:
        self._caption = caption
        self.query_one(".message-view--caption", Label).update(caption)

    async def append(self, text: str) -> None:
        """Add streamed text; Markdown re-parses only from the last complete block."""
        self.text += text
        await self.query_one(Markdown).append(text)
