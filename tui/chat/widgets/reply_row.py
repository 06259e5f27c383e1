"""An assistant reply and, after a compare, its regenerated twin beside it."""

from __future__ import annotations

from textual.containers import Horizontal

from paso_local.llm.generation import DEFAULT_SEED


class ReplyRow(Horizontal):
    DEFAULT_CSS = """
    ReplyRow { height: auto; }
    ReplyRow > MessageView { width: 1fr; }
    """

    def __init__(
        self, *, stored_id: int | None = None, steered: bool = False, seed: int = DEFAULT_SEED
    ) -> None:
        super().__init__()
        self.stored_id = stored_id  # the saved reply's id, for compare replies saved beside it
        self.steered = steered  # whether the reply was steered: a compare regenerates it the other way
        self.seed = seed  # the sampling seed of the reply; its compare samples with the same one
