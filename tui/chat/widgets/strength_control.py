"""A number the person nudges with ← → (or - +, or a click on an arrow): a steering strength."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.reactive import reactive
from textual.widget import Widget

from paso_local.llm.steering import MAX_STRENGTH
from paso_local.tui.chat.messages import StrengthAdjusted

LABEL_WIDTH = 20  # room for the longest domain name, indented: "  Conscientiousness"


class StrengthControl(Widget, can_focus=True):
    """`Strength      ◀ 1.00 ▶`. Posts StrengthAdjusted(name, value) after every change."""

    BINDINGS = [
        Binding("left,minus", "nudge(-1)", "less", show=False),
        Binding("right,plus,equals_sign", "nudge(1)", "more", show=False),
    ]
    DEFAULT_CSS = """
    StrengthControl { height: 1; }
    StrengthControl:focus { background: $accent 30%; }
    StrengthControl:disabled { color: $text-disabled; }
    """

    value: reactive[float] = reactive(1.0)

    def __init__(
        self,
        name: str,
        label: str,
        value: float,
        *,
        low: float = 0.0,
        high: float = MAX_STRENGTH,
        step: float = 0.1,
        id: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, disabled=disabled)
        self.label = label
        self.low, self.high, self.step = low, high, step
        self.set_reactive(StrengthControl.value, self._clamp(value))

    def _clamp(self, value: float) -> float:
        return round(min(self.high, max(self.low, value)), 4)

    def render(self) -> Text:
        return Text(f"{self.label:<{LABEL_WIDTH}.{LABEL_WIDTH - 1}}◀ {self.value:4.2f} ▶", no_wrap=True)

    def action_nudge(self, direction: int) -> None:
        self.set_value(self.value + direction * self.step)

    def set_value(self, value: float) -> None:
        new = self._clamp(value)
        if new != self.value:
            self.value = new
            self.post_message(StrengthAdjusted(self.name or "", new))

    def on_click(self, event: Click) -> None:
        """A click left of the number lowers it, right of it raises it (on the label: focus only)."""
        if event.x < LABEL_WIDTH:
            return
        self.action_nudge(-1 if event.x < LABEL_WIDTH + 4 else 1)
