"""The scrolling conversation: user messages, assistant replies (with compares beside them) and notes."""

from __future__ import annotations

from collections.abc import Sequence

from textual.containers import VerticalScroll

from paso_local.tui.chat.session import Replayed
from paso_local.tui.chat.widgets.message_view import MessageView
from paso_local.tui.chat.widgets.reply_row import ReplyRow


class ConversationView(VerticalScroll):
    DEFAULT_CSS = """
    ConversationView { height: 1fr; padding: 0 1; }
    """

    async def add_message(self, role: str, text: str, *, caption: str = "") -> MessageView:
        view = MessageView(role, text, caption=caption)
        await self.mount(view)
        self.scroll_end(animate=False)
        return view

    async def add_reply(
        self,
        text: str = "",
        *,
        caption: str = "assistant",
        stored_id: int | None = None,
        steered: bool = False,
    ) -> MessageView:
        row = ReplyRow(stored_id=stored_id, steered=steered)
        await self.mount(row)
        view = MessageView("assistant", text, caption=caption)
        await row.mount(view)
        self.scroll_end(animate=False)
        return view

    async def add_compare(self, row: ReplyRow, text: str = "", *, caption: str) -> MessageView:
        """A second reply beside the one in `row` (a later compare replaces an earlier one)."""
        views = list(row.query(MessageView))
        for old in views[1:]:
            await old.remove()
        view = MessageView("assistant", text, caption=caption)
        await row.mount(view)
        self.scroll_end(animate=False)
        return view

    def row_for(self, stored_id: int) -> ReplyRow | None:
        for row in self.query(ReplyRow):
            if row.stored_id == stored_id:
                return row
        return None

    def last_reply_row(self) -> ReplyRow | None:
        rows = list(self.query(ReplyRow))
        return rows[-1] if rows else None

    def follow(self) -> None:
        """Keep the newest text in view unless the person scrolled up to read."""
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False)

    async def show_saved(self, messages: Sequence[Replayed]) -> None:
        """Show a saved conversation again (paso_local.tui.chat.session.replay), in place of what is shown."""
        await self.clear()
        for shown in messages:
            if shown.kind in ("user", "note"):
                await self.add_message(shown.kind, shown.content, caption=shown.caption)
            elif shown.kind == "reply":
                await self.add_reply(
                    shown.content, caption=shown.caption, stored_id=shown.stored_id, steered=shown.steered
                )
            elif shown.compare_of is not None:
                row = self.row_for(shown.compare_of)
                if row is not None:
                    await self.add_compare(row, shown.content, caption=shown.caption)

    async def clear(self) -> None:
        await self.remove_children()
