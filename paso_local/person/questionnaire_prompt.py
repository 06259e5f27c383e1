"""The paper's questionnaire prompt (PAS, Zhu et al. 2025): one IPIP statement, answered with one letter A..E.

Shared by `align` (contrastive activations, cross-validation) and `eval`, so both ask exactly the same
question. The one place of the 1..5 answer scale (`ANSWER_LABELS`, which onboarding and eval's few-shot prompt
show too) and of its letters: A=5 (Very Accurate) ... E=1 (Very Inaccurate).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from paso_local.person.inventory import Item

ANSWER_LABELS: dict[int, str] = {  # the IPIP answer scale, 1..5
    1: "Very Inaccurate",
    2: "Moderately Inaccurate",
    3: "Neither Accurate Nor Inaccurate",
    4: "Moderately Accurate",
    5: "Very Accurate",
}
LETTERS = "ABCDE"
LETTER_VALUE = {letter: 5 - i for i, letter in enumerate(LETTERS)}  # A=5 ... E=1
VALUE_LETTER = {value: letter for letter, value in LETTER_VALUE.items()}
SYSTEM_PROMPT = "You are a helpful, honest and concise assistant."
QUESTION_TEMPLATE = (
    'Given a statement of you: "You {statement}."\n'
    "Please choose from the following options to identify how accurately this statement describes you.\n"
    "Options:\n" + "\n".join(f"({letter}). {ANSWER_LABELS[LETTER_VALUE[letter]]}" for letter in LETTERS)
)
# What align's PAS probes contrast: the paper's answer letters ("A" against "E" after the question), the
# statements said in the model's own voice, agreed against rejected ones, or each statement against its denial
# (paso_local.converters.statement_activations); "auto" cross-validates all three on the person's answers.
CONTRASTS = ("letter", "statement", "negation", "auto")
DEFAULT_CONTRAST = "letter"
# Where the vector acts: PAS's chosen attention heads folded through W_o (the paper), or the residual-stream
# mean difference at one block (contrastive activation addition; letter contrast); "auto" cross-validates both.
SITES = ("heads", "residual", "auto")
DEFAULT_SITE = "heads"
PARSE_WINDOW = 12  # the paper parses a reply's first 12 characters
_PAPER_ANSWER = re.compile(r"[abcdeABCDE](?:[^a-zA-Z]|$)")
AGREE_LETTER = "A"  # the two answers contrasted by PAS
DISAGREE_LETTER = "E"


def statement(item: Item) -> str:
    """The item as the rest of "You ...": first letter lower-cased (keeping "I"), final period dropped."""
    text = item.text.strip().rstrip(".").strip()
    return text[:1].lower() + text[1:]


def question(item: Item) -> str:
    """The user message asking the model about itself."""
    return QUESTION_TEMPLATE.format(statement=statement(item))


Turn = tuple[str, str]  # an earlier exchange shown before the question: (user message, assistant reply)


@dataclass(frozen=True)
class Context:
    """What comes before an item's question: the system prompt and, optionally, earlier turns (e.g. the
    person's own answers to related items, as `paso_local.person.answer_memory` renders them)."""

    system_prompt: str = SYSTEM_PROMPT
    turns: tuple[Turn, ...] = ()


def answer_reply(value: int) -> str:
    """An option as the assistant's reply to an earlier question: "(B). Moderately Accurate"."""
    return f"({VALUE_LETTER[value]}). {ANSWER_LABELS[value]}"


def item_messages(
    item: Item, system_prompt: str = SYSTEM_PROMPT, turns: Sequence[Turn] = ()
) -> list[dict[str, str]]:
    """The chat for one item: system prompt, any earlier turns, the question (the answer is left to the model)."""
    messages = [{"role": "system", "content": system_prompt}]
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return messages + [{"role": "user", "content": question(item)}]


def value_for(letter: str) -> int:
    """Letter A..E -> its answer (A -> 5)."""
    return LETTER_VALUE[letter]


def parse_reply(reply: str) -> int | None:
    """The paper's parse of a generated reply: answer 5..1 for the first A..E not followed by a letter."""
    match = _PAPER_ANSWER.search(reply[:PARSE_WINDOW])
    return value_for(match.group()[0].upper()) if match else None


def prompt_fingerprint(system_prompt: str = SYSTEM_PROMPT) -> str:
    """A hash of everything that shapes the prompt text (template, system prompt, letters):a cache-key part"""
    parts = [QUESTION_TEMPLATE, system_prompt, LETTERS, AGREE_LETTER, DISAGREE_LETTER, "statement:v1"]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
