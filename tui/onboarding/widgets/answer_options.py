"""The five answer options, highlighted with the arrows and chosen with Enter."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from paso_local.person.questionnaire_prompt import ANSWER_LABELS, VALUE_LETTER
from paso_local.tui.onboarding.messages import Answered


def option_label(value: int) -> Text:
    """`1  E  Very Inaccurate`: the digit key, the paper's letter, the wording."""
    label = Text()
    label.append(f" {value} ", style="bold")
    label.append(f" {VALUE_LETTER[value]} ", style="dim")
    label.append(f"  {ANSWER_LABELS[value]}")
    return label


class AnswerOptions(OptionList):
    """Very Inaccurate (top) .. Very Accurate (bottom). Enter on an option posts `Answered`."""

    # Left means "previous question" here, not "scroll sideways".
    BINDINGS = [Binding("left", "screen.back", show=False)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(*(Option(option_label(v), id=str(v)) for v in ANSWER_LABELS), id=id)

    def show_answer(self, value: int | None) -> None:
        """Highlight the stored answer, or nothing for a question not answered yet."""
        self.highlighted = None if value is None else value - 1

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(Answered(int(event.option.id or 0)))
