"""The sidebar: whose profile (five domain bars), the steering controls, all live, and the answers the last
message brought back when the answer memory is on."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static, Switch

from paso_local.llm.controlvector import NO_DIRECTION
from paso_local.llm.steering import Steering
from paso_local.person.inventory import DOMAINS
from paso_local.person.questionnaire_prompt import ANSWER_LABELS
from paso_local.person.recall import Recall
from paso_local.tui.chat.backend import BackendInfo
from paso_local.tui.chat.messages import CompareStrengthChanged, SteeringChanged, StrengthAdjusted
from paso_local.tui.chat.widgets.domain_bars import DomainBars
from paso_local.tui.chat.widgets.strength_control import StrengthControl

OVERALL = "strength"
COMPARE = "compare"
DOMAIN_PREFIX = "domain-"


class SteeringPanel(VerticalScroll):
    DEFAULT_CSS = """
    SteeringPanel { width: 40; padding: 0 1; border-left: solid $panel-lighten-2; }
    SteeringPanel .panel--title { text-style: bold; margin: 1 0 0 0; }
    SteeringPanel .panel--note { color: $text-muted; }
    SteeringPanel #steer-row { height: 3; }
    SteeringPanel #steer-row Label { padding: 1 1; }
    SteeringPanel #domain-controls { height: auto; }
    """

    def __init__(
        self,
        *,
        profile_name: str,
        scores: Mapping[str, float | None] | None,
        steering: Steering,
        compare_strength: float = 0.0,
        profile_note: str | None = None,
        reader: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.profile_name = profile_name
        self.scores = scores
        self.profile_note = profile_note
        self.steering = steering
        self.compare_strength = compare_strength
        self.has_vector = False  # a vector that steers: the controls are live
        self.vector_empty = False  # a vector was loaded but steers nothing (align kept it at strength 0)
        self.reader = reader  # the profile reader's file, when the chat applies it

    def compose(self) -> ComposeResult:
        yield Label(f"Profile · {self.profile_name}", classes="panel--title")
        if self.scores is not None:
            yield DomainBars(self.scores, id="domain-bars")
        else:
            yield Static(
                self.profile_note or f"No profile {self.profile_name!r} yet: run `paso-local onboard`.",
                classes="panel--note",
            )
        yield Label("Steering", classes="panel--title")
        with Horizontal(id="steer-row"):
            yield Switch(value=self.steering.enabled, id="steer-switch", disabled=True)
            yield Label("on" if self.steering.enabled else "off", id="steer-state")
        yield StrengthControl(OVERALL, "Strength", self.steering.strength, id="strength", disabled=True)
        yield Vertical(id="domain-controls")
        yield StrengthControl(COMPARE, "Compare at", self.compare_strength, id="compare-strength")
        yield Static("Loading…", id="vector-note", classes="panel--note")
        yield Label("Answers in use", classes="panel--title")
        yield Static("Answer memory off (ctrl+y).", id="answers-in-use", classes="panel--note")

    def configure(self, info: BackendInfo) -> None:
        """Enable the controls the loaded vector supports, or say why replies are unsteered."""
        self.vector_empty = info.vector_name is not None and info.vector_empty
        self.has_vector = info.vector_name is not None and not self.vector_empty
        switch = self.query_one("#steer-switch", Switch)
        switch.disabled = not self.has_vector
        self.query_one("#strength", StrengthControl).disabled = not self.has_vector
        if self.vector_empty:
            with switch.prevent(Switch.Changed):
                switch.value = False
            self.query_one("#steer-state", Label).update("off")
        self.query_one("#vector-note", Static).update(self._vector_note(info))
        self._mount_domain_controls(info.domains if self.has_vector else ())

    def _vector_note(self, info: BackendInfo) -> str:
        if self.vector_empty:
            return f"Vector: {info.vector_name}\n{NO_DIRECTION.capitalize()}."
        if self.has_vector:
            return f"Vector: {info.vector_name}\nCompare at 0.00 = unsteered."
        return " ".join(info.notices) or "No vector: replies are unsteered."

    def _mount_domain_controls(self, domains: tuple[str, ...]) -> None:
        controls = self.query_one("#domain-controls", Vertical)
        controls.remove_children()
        multipliers = dict(self.steering.domain_strengths)
        widgets = []
        for letter in domains:
            multipliers.setdefault(letter, 1.0)
            label = DOMAINS.get(letter, letter)
            control_id = f"domain-strength-{letter}"
            widgets.append(
                StrengthControl(DOMAIN_PREFIX + letter, f"  {label}", multipliers[letter], id=control_id)
            )
        if widgets:
            controls.mount(Label("Per domain", classes="panel--note"), *widgets)
        self.steering = Steering(self.steering.enabled, self.steering.strength, multipliers)

    def show_answers(self, on: bool, recall: Recall | None) -> None:
        """The person's answers the last message brought back (None: none sent since the memory changed)."""
        if not on:
            text = "Answer memory off (ctrl+y)."
        elif recall is None:
            text = "Answer memory on: from the next message."
        elif not recall.answers:
            text = "None: the last message matched no statement."
        else:
            text = "\n".join(f'"{r.item.text}" · {ANSWER_LABELS[r.option]}' for r in recall.answers)
        if self.reader:
            text = f"Profile reader on ({self.reader}): it reads these answers.\n{text}"
        self.query_one("#answers-in-use", Static).update(text)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.query_one("#steer-state", Label).update("on" if event.value else "off")
        self._change(Steering(event.value, self.steering.strength, self.steering.domain_strengths))

    def set_enabled(self, enabled: bool) -> None:
        """From the app's toggle key: flip the switch (which reports the change)."""
        switch = self.query_one("#steer-switch", Switch)
        if not switch.disabled:
            switch.value = enabled

    def on_strength_adjusted(self, event: StrengthAdjusted) -> None:
        event.stop()
        if event.name == COMPARE:
            self.compare_strength = event.value
            self.post_message(CompareStrengthChanged(event.value))
        elif event.name == OVERALL:
            self._change(Steering(self.steering.enabled, event.value, self.steering.domain_strengths))
        elif event.name.startswith(DOMAIN_PREFIX):
            domains = {**self.steering.domain_strengths, event.name[len(DOMAIN_PREFIX) :]: event.value}
            self._change(Steering(self.steering.enabled, self.steering.strength, domains))

    def _change(self, steering: Steering) -> None:
        self.steering = steering
        self.post_message(SteeringChanged(steering))
