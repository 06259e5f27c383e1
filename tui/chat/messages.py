"""What the chat's worker threads and widgets tell the screen: past-tense events, handled on the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from paso_local.llm.generation import GenerationStats
from paso_local.llm.steering import Steering
from paso_local.tui.chat.backend import BackendInfo


@dataclass
class ModelLoaded(Message):
    """The backend finished loading the model (and the vector, when there is one)."""

    info: BackendInfo


@dataclass
class ModelLoadFailed(Message):
    error: str


@dataclass
class ReplyStreamed(Message):
    """More text of the reply being written into `job`'s view."""

    job: int
    text: str


@dataclass
class ReplyFinished(Message):
    """The reply of `job` is complete (or was stopped: stats.finish_reason == "cancelled"); `rest` is the text
    not yet sent by ReplyStreamed."""

    job: int
    rest: str
    stats: GenerationStats | None


@dataclass
class GenerationFailed(Message):
    job: int
    error: str


@dataclass
class SteeringChanged(Message):
    """The person changed the steering in the sidebar; it applies from the next reply on."""

    steering: Steering


@dataclass
class CompareStrengthChanged(Message):
    """The strength the compare action regenerates at (0: unsteered)."""

    strength: float


@dataclass
class StrengthAdjusted(Message):
    """A strength control moved to `value`."""

    name: str
    value: float
