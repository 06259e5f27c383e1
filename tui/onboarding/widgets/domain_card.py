"""A Big Five domain and its six facets, as score bars in a bordered card."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from paso_local.person.inventory import DOMAINS, facets
from paso_local.person.scoring import Scores
from paso_local.tui.onboarding.widgets.score_bar import ScoreBar


class DomainCard(Vertical):
    """`Neuroticism` first (bold), then its facets, e.g. `Anxiety`, `Anger`, ..."""

    DEFAULT_CSS = """
    DomainCard {
        height: auto;
        border: round $primary;
        padding: 0 1;
    }
    DomainCard > ScoreBar.domain { text-style: bold; margin-bottom: 1; }
    """

    def __init__(self, domain: str, scores: Scores) -> None:
        super().__init__(id=f"domain-{domain}")
        self.domain = domain
        self.scores = scores
        self.border_title = f"{DOMAINS[domain]} ({domain})"

    def compose(self) -> ComposeResult:
        yield ScoreBar(DOMAINS[self.domain], self.scores.domains[self.domain], classes="domain")
        for code, name in facets().items():
            if code.startswith(self.domain):
                yield ScoreBar(name, self.scores.facets[code], classes="facet")
