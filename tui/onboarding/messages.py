"""What the screens tell the app. The app owns the session and is the only one that changes it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class Answered(Message):
    """The person chose an answer (1 = Very Inaccurate .. 5 = Very Accurate) to the current question."""

    value: int


@dataclass
class Skipped(Message):
    """The person left the current question unanswered."""


@dataclass
class WentBack(Message):
    """The person asked for the previous question."""


@dataclass
class ReturnedToQuestion(Message):
    """From the end screen: back to question `index` (0-based) of the form."""

    index: int


@dataclass
class FinishConfirmed(Message):
    """The person confirmed the end of the questionnaire."""


@dataclass
class RetakeChosen(Message):
    """From the profile screen: take the questionnaire again, old answers as defaults."""


@dataclass
class QuitChosen(Message):
    """Save and leave."""
