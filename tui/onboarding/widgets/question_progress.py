"""The progress line under a question: a bar, the count and the estimated time left."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class QuestionProgress(Horizontal):
    """`[=====     ]  37/120 · about 10 min left`."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_percentage=False, show_eta=False, id="progress-bar")
        yield Label(id="progress-text")

    def show(self, *, position: int, total: int, time_left: str) -> None:
        """`position` questions are behind the person; the one shown is number position + 1."""
        self.query_one(ProgressBar).update(total=total, progress=position)
        shown = min(position + 1, total)
        self.query_one("#progress-text", Label).update(f"{shown}/{total} · {time_left}")
