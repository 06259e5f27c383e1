"""The bottom line: model, steering, the profile prompt, speed of the last reply, and how full the context is."""

from __future__ import annotations

from textual.widgets import Static

from paso_local.llm.controlvector import NO_DIRECTION
from paso_local.llm.generation import GenerationStats
from paso_local.llm.steering import Steering


def steering_text(steering: Steering, has_vector: bool, *, vector_empty: bool = False) -> str:
    if vector_empty:
        return NO_DIRECTION
    if not has_vector:
        return "unsteered (no vector)"
    if not steering.enabled:
        return "steering off"
    return f"steered ×{steering.strength:.2f}"


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Loading the model…", id=id)
        self.model = ""
        self.steering_label = ""
        self.prompt_label = ""
        self.speed = ""
        self.context = ""
        self.activity = "loading the model…"

    def show(
        self,
        *,
        model: str | None = None,
        steering: str | None = None,
        prompt: str | None = None,
        stats: GenerationStats | None = None,
        context: tuple[int, int] | None = None,
        activity: str | None = None,
    ) -> None:
        if model is not None:
            self.model = model
        if steering is not None:
            self.steering_label = steering
        if prompt is not None:
            self.prompt_label = prompt
        if stats is not None:
            self.speed = f"{stats.tokens_per_second:.1f} tok/s"
            context = (stats.context_used, stats.context_size)
        if context is not None:
            self.context = f"context {context[0]}/{context[1]}"
        if activity is not None:
            self.activity = activity
        parts = [self.model, self.steering_label, self.prompt_label, self.speed, self.context, self.activity]
        self.update(" · ".join(p for p in parts if p))
