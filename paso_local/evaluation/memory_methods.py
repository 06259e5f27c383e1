"""Eval methods that show the model the person's own related answers before each held-out question.

For every held-out item, `paso_local.person.answer_memory` retrieves the k answers of the person's 120 most related to
it (same facet, then same domain, signed by the keys). Items whose retrieved sets are the same are asked
together, so their shared context is evaluated once (`Asker.ask` shares the longest common prefix). Framings:
- `turns`: the retrieved answers as earlier turns of the same questionnaire, the paper's question and the
  person's option as the assistant's reply ("(B). Moderately Accurate"), the most related last;
- `list`: a compact list in the system prompt (`- "Worry about things.": Very Accurate`);
- `both`: the list in the system prompt and the same answers as earlier turns.
The `-same-key` methods retrieve only answers keyed the way the question is (`answer_memory.retrieve`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paso_local.person.answer_memory import AnswerMemory, Recalled, as_list, as_turns, retrieve
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import Context

FRAMINGS = ("turns", "list", "both")
DEFAULT_K = 4  # the one k measured so far (docs/results/2026-12-04-chosen-space.md)
LIST_LEAD = "Earlier in this questionnaire you answered these related statements:"


def context_for(recalled: Sequence[Recalled], framing: str, system_prompt: str) -> Context:
    """The system prompt and earlier turns that show `recalled` in the given framing."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing {framing!r}: choose one of {', '.join(FRAMINGS)}")
    ordered = sorted(recalled, key=lambda r: abs(r.relatedness))  # the most related closest to the question
    turns = tuple(as_turns(ordered)) if framing in ("turns", "both") else ()
    if framing == "turns":
        return Context(system_prompt, turns)
    return Context(f"{system_prompt}\n\n{LIST_LEAD}\n{as_list(ordered)}", turns)


def memory_groups(
    answers: Mapping[int, int],
    items: Sequence[Item],
    k: int,
    framing: str,
    system_prompt: str,
    same_key: bool = False,
) -> list[tuple[Context, list[Item], list[Recalled]]]:
    """The held-out items grouped by their retrieved set, each group with its context, in first-item order."""
    memory = AnswerMemory.from_answers(answers)
    groups: dict[tuple[int, ...], tuple[list[Item], list[Recalled]]] = {}
    for item in items:
        recalled = retrieve(memory, item, k, same_key)
        key = tuple(r.item.number for r in recalled)
        groups.setdefault(key, ([], list(recalled)))[0].append(item)
    return [(context_for(rec, framing, system_prompt), group, rec) for group, rec in groups.values()]
