"""The person's own answering pace, for an honest "time left" estimate."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

DEFAULT_SECONDS_PER_ITEM = 7.0  # used until the person has given MIN_SAMPLES timed answers
MIN_SAMPLES = 5
WINDOW = 30  # the median of the most recent answers follows a person who speeds up
LONGEST_COUNTED = 120.0  # a longer gap is a break, not answering time

Clock = Callable[[], float]


class PaceTracker:
    """Seconds between a question appearing and its answer; median of the recent ones."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._shown_at = clock()
        self._samples: list[float] = []

    def question_shown(self) -> None:
        self._shown_at = self._clock()

    def answered(self) -> None:
        elapsed = self._clock() - self._shown_at
        if 0.0 <= elapsed <= LONGEST_COUNTED:
            self._samples = [*self._samples, elapsed][-WINDOW:]

    @property
    def seconds_per_item(self) -> float:
        if len(self._samples) < MIN_SAMPLES:
            return DEFAULT_SECONDS_PER_ITEM
        return statistics.median(self._samples)

    def seconds_left(self, remaining_items: int) -> float:
        return max(remaining_items, 0) * self.seconds_per_item


def describe_time_left(seconds: float) -> str:
    """'about 12 min left', 'under a minute left', 'done'."""
    if seconds <= 0:
        return "done"
    if seconds < 60:
        return "under a minute left"
    return f"about {round(seconds / 60)} min left"
