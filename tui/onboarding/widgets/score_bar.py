"""One domain or facet score as a labelled horizontal bar on 0..100, or "not enough answers"."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from paso_local.person.scoring import to_percent

LABEL_WIDTH = 22  # the longest facet name, "Achievement-Striving", fits
NUMBER_WIDTH = 5  # " 100"
MIN_BAR_WIDTH = 5
MISSING = "not enough answers"


class ScoreBar(Widget):
    """`Anxiety            ███████░░░░░░   61`. The bar takes the width the label and number leave."""

    COMPONENT_CLASSES = {"score-bar--filled", "score-bar--empty", "score-bar--missing"}

    DEFAULT_CSS = """
    ScoreBar { height: 1; }
    ScoreBar > .score-bar--filled { color: $accent; }
    ScoreBar > .score-bar--empty { color: $foreground 30%; }
    ScoreBar > .score-bar--missing { color: $text-muted; text-style: italic; }
    """

    def __init__(self, label: str, score: float | None, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.label = label
        self.score = score  # 1..5, None when too few of its statements were answered

    @property
    def percent(self) -> float | None:
        return None if self.score is None else to_percent(self.score)

    def render(self) -> Text:
        text = Text(f"{self.label:<{LABEL_WIDTH}.{LABEL_WIDTH}}", no_wrap=True, overflow="ellipsis")
        width = max(self.size.width - LABEL_WIDTH - NUMBER_WIDTH, MIN_BAR_WIDTH)
        percent = self.percent
        if percent is None:
            room = width + NUMBER_WIDTH  # the bar and the number
            words = MISSING if len(MISSING) <= room else "missing"
            text.append(f"{words:<{room}.{room}}", style=self.get_component_rich_style("score-bar--missing"))
            return text
        filled = round(percent / 100 * width)
        text.append("█" * filled, style=self.get_component_rich_style("score-bar--filled"))
        text.append("░" * (width - filled), style=self.get_component_rich_style("score-bar--empty"))
        text.append(f"{percent:>{NUMBER_WIDTH}.0f}")
        return text
