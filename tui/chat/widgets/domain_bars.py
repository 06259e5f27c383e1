"""The profile's five Big Five domain scores as compact bars (0..100) for the sidebar."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widget import Widget

from paso_local.person.inventory import DOMAINS
from paso_local.person.scoring import to_percent

LABEL_WIDTH = 18
NUMBER_WIDTH = 4


class DomainBars(Widget):
    """`Agreeableness     ██████░░░░  62`, one line per domain; "–" for a domain with too few answers."""

    COMPONENT_CLASSES = {"domain-bars--filled", "domain-bars--empty"}
    DEFAULT_CSS = """
    DomainBars { height: 5; }
    DomainBars > .domain-bars--filled { color: $accent; }
    DomainBars > .domain-bars--empty { color: $foreground 30%; }
    """

    def __init__(self, scores: Mapping[str, float | None], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scores = dict(scores)  # domain letter -> 1..5 or None

    def render(self) -> Text:
        filled_style = self.get_component_rich_style("domain-bars--filled")
        empty_style = self.get_component_rich_style("domain-bars--empty")
        width = max(self.size.width - LABEL_WIDTH - NUMBER_WIDTH, 3)
        text = Text(no_wrap=True)
        for index, (letter, name) in enumerate(DOMAINS.items()):
            if index:
                text.append("\n")
            text.append(f"{name:<{LABEL_WIDTH}.{LABEL_WIDTH - 1}}")
            score = self.scores.get(letter)
            if score is None:
                text.append(" " * width + f"{'–':>{NUMBER_WIDTH}}")
                continue
            percent = to_percent(score)
            filled = round(percent / 100 * width)
            text.append("█" * filled, style=filled_style)
            text.append("░" * (width - filled), style=empty_style)
            text.append(f"{percent:>{NUMBER_WIDTH}.0f}")
        return text
