"""Progress bars for long work: counts, elapsed and time left, on stderr (stdout stays clean for --json)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

_stderr = Console(stderr=True)


class TimeLeftColumn(ProgressColumn):
    """Time left at the average pace since the start. rich's own estimate only uses steps finished in its
    last 30 s, so work whose steps take longer (a cross-validation pass) showed "-:--:--" throughout."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text("0:00:00", style="progress.remaining")
        if not task.completed or task.elapsed is None or task.total is None:
            return Text("-:--:--", style="progress.remaining")
        left = task.elapsed / task.completed * (task.total - task.completed)
        return Text(str(timedelta(seconds=int(left))), style="progress.remaining")


LOG_EVERY_SECONDS = 30.0  # a log that is not a terminal gets a progress line this often


def _time_left(elapsed: float, done: float, total: float) -> str:
    if not done:
        return "-:--:--"
    return str(timedelta(seconds=int(elapsed / done * max(total - done, 0))))


class Bar:
    """One task of a rich Progress; `advance()` after each unit of work. When stderr is not a terminal (a
    log file), rich draws nothing until the end, so the bar writes a plain line every LOG_EVERY_SECONDS."""

    def __init__(self, progress: Progress | None, task_id: int | None):
        self._progress = progress
        self._task = task_id
        self._log = progress is not None and not progress.console.is_terminal
        self._logged_at = time.monotonic()

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)
            if self._log and time.monotonic() - self._logged_at >= LOG_EVERY_SECONDS:
                self._log_line()

    def _log_line(self) -> None:
        task = next(t for t in self._progress.tasks if t.id == self._task)
        elapsed = task.elapsed or 0.0
        self._progress.console.print(
            f"{task.description}: {task.completed:.0f}/{task.total:.0f}, elapsed "
            f"{timedelta(seconds=int(elapsed))}, left {_time_left(elapsed, task.completed, task.total or 0)}",
            highlight=False,
            soft_wrap=True,  # one line per report in a log, whatever width rich assumes
        )
        self._logged_at = time.monotonic()

    def finish(self) -> None:
        """Fill the bar: for work whose unit count was an upper bound (e.g. a search that stopped early)."""
        if self._progress is not None:
            total = next(t.total for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, completed=total)

    def describe(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=description)


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[Bar]:
    if not enabled:
        yield Bar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeLeftColumn(),
        console=_stderr,
        transient=False,
    )
    with progress:
        yield Bar(progress, progress.add_task(description, total=total))


def status(message: str) -> None:
    """A one-line note on stderr."""
    _stderr.print(message, highlight=False)
