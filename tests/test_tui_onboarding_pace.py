"""The time-left estimate of the questionnaire: the person's own median pace, after a default."""

from __future__ import annotations

import pytest

from paso_local.tui.onboarding.pace import (
    DEFAULT_SECONDS_PER_ITEM,
    MIN_SAMPLES,
    PaceTracker,
    describe_time_left,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answer_after(pace: PaceTracker, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    pace.answered()
    pace.question_shown()


def test_default_pace_until_enough_answers():
    clock = Clock()
    pace = PaceTracker(clock)
    for _ in range(MIN_SAMPLES - 1):
        answer_after(pace, clock, 2.0)
    assert pace.seconds_per_item == DEFAULT_SECONDS_PER_ITEM
    answer_after(pace, clock, 2.0)
    assert pace.seconds_per_item == 2.0


def test_median_ignores_one_slow_answer_and_breaks_are_not_counted():
    clock = Clock()
    pace = PaceTracker(clock)
    for seconds in (4.0, 5.0, 6.0, 5.0, 90.0, 3600.0):  # 3600 s is a break, 90 s a slow answer
        answer_after(pace, clock, seconds)
    assert pace.seconds_per_item == 5.0  # median of 4, 5, 6, 5, 90
    assert pace.seconds_left(12) == 60.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "done"), (30, "under a minute left"), (60, "about 1 min left"), (14 * 60 + 20, "about 14 min left")],
)
def test_describe_time_left(seconds, text):
    assert describe_time_left(seconds) == text
