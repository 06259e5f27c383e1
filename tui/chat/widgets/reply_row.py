"""An assistant reply and, after a compare, its regenerated twin beside it."""

from __future__ import annotations

from textual.containers import Horizontal


class ReplyRow(Horizontal):
    DEFAULT_CSS = """
    ReplyRow { height: auto; }
    ReplyRow > MessageView { width: 1fr; }
    """

    def __init__(self, *, stored_id: int | None = None, steered: bool = False) -> None:
        super().__init__()
        self.stored_id = stored_id  # the saved reply's id, for compare replies saved beside it
        self.steered = steered  # whether the reply was steered: a compare regenerates it the other way
