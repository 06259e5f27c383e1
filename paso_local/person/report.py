"""Plain-terminal display of a profile's scores (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from paso_local.person.inventory import DOMAINS, facets
from paso_local.person.profile import Profile
from paso_local.person.scoring import to_percent

BAR_WIDTH = 20


def bar(score: float | None, width: int = BAR_WIDTH) -> str:
    if score is None:
        return "not enough answers"
    filled = round(to_percent(score) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def print_profile(profile: Profile, console: Console | None = None) -> None:
    console = console or Console()
    scores = profile.scores()
    total = len(profile.items)
    state = (
        "complete"
        if profile.complete
        else f"in progress (question {min(profile.position + 1, total)} of {total})"
    )
    console.print(
        f"[bold]Profile {profile.name!r}[/]: {scores.answered} of {total} answered, "
        f"{profile.form}-item form, {state}"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("Domain / facet")
    table.add_column("1..5", justify="right")
    table.add_column("0..100", justify="right")
    table.add_column("")
    facet_names = facets()
    for code, name in DOMAINS.items():
        value = scores.domains[code]
        table.add_row(
            f"[bold]{code} {name}[/]", _fmt(value, 2), _fmt(value and to_percent(value), 0), bar(value)
        )
        for facet in (f for f in facet_names if f.startswith(code)):
            value = scores.facets[facet]
            table.add_row(
                f"  {facet} {facet_names[facet]}",
                _fmt(value, 2),
                _fmt(value and to_percent(value), 0),
                bar(value, BAR_WIDTH // 2),
            )
    console.print(table)


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
