"""The person's own answers that bear on one chat message, for the system prompt of chat and ask.

The message is matched to facets locally (`paso_local.person.message_facets`); the person's answers on the best
three facets (at most RECALLED of them) are shown to the model beside the profile prompt, as a list
("- "Love large parties.": Moderately Accurate"). Which answers were used is reported (the chat's sidebar,
`ask --json`). Default: config.json's "answer_memory", else off. On the questionnaire a person's answers shown
to the 1.5B as earlier turns (eval's `retrieval`) make it personal but no better than the population mean on
people held apart (3.05 against 3.02, dev 15-18), and a list like this one did worse (4.52 with four same-keyed
answers, dev 10-14); its effect on free-text replies is not measured
(docs/results/2026-12-04-same-key-and-reader.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from paso_local.errors import PasoError
from paso_local.person.answer_memory import AnswerMemory, Recalled, answers_on_facets, as_list
from paso_local.person.message_facets import match_facets
from paso_local.person.profile import ProfileStore
from paso_local.person.questionnaire_prompt import ANSWER_LABELS
from paso_local.store.config import flag

CONFIG_KEY = "answer_memory"
FACETS_MATCHED = 3
RECALLED = 8
MEMORY_LEAD = "Your own answers to related statements of your personality questionnaire:"


@dataclass(frozen=True)
class Recall:
    """What one message brings back: the text for the system prompt ("" when nothing) and the answers."""

    text: str
    answers: tuple[Recalled, ...]

    def as_json(self) -> list[dict]:
        return [
            {
                "item": r.item.number,
                "statement": r.item.text,
                "facet": r.item.facet,
                "answer": ANSWER_LABELS[r.option],
            }
            for r in self.answers
        ]


NOTHING = Recall("", ())


def recall_wanted(wanted: bool | None) -> bool:
    """--memory / --no-memory; None: config.json's "answer_memory", else off."""
    return flag(CONFIG_KEY, False) if wanted is None else wanted


def load_memory(profile_name: str) -> tuple[AnswerMemory | None, str | None]:
    """The profile's answers as a memory, or None and why (a missing or damaged profile never stops a chat)."""
    try:
        profile = ProfileStore().load_or_none(profile_name)
    except PasoError as exc:
        return None, f"No answer memory: {exc}"
    if profile is None or not profile.usable_answers():
        return None, f"No answer memory: profile {profile_name!r} has no answers yet."
    return AnswerMemory.from_answers(profile.usable_answers()), None


def recall_for(memory: AnswerMemory | None, message: str, k: int = RECALLED) -> Recall:
    """The person's answers on the facets the message is most about."""
    if memory is None:
        return NOTHING
    recalled = answers_on_facets(memory, match_facets(message, FACETS_MATCHED), k)
    if not recalled:
        return NOTHING
    return Recall(f"{MEMORY_LEAD}\n{as_list(recalled)}", tuple(recalled))


def with_recall(messages: list[dict], recall: Recall) -> list[dict]:
    """`messages` with the recalled answers added to the system message (one is added when there is none);
    the conversation's stored messages are left as they are."""
    if not recall.text:
        return messages
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{recall.text}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": recall.text}, *messages]
