"""Eval methods that show the model the person's own related answers before each held-out question.

For every held-out item, `paso_local.person.answer_memory` retrieves the k answers of the person's 120 most related to
it (same facet, then same domain, signed by the keys). Items whose contexts are the same are asked together,
so their shared context is evaluated once (`Asker.ask` shares the longest common prefix). The framings (turns,
list, both) and orders are `answer_memory.context_for`'s: in the inventory's order, every question that
retrieves the same answers shares one context, whatever its facet (14 contexts a person instead of 55 at
k = 16 with the same key).
The `-same-key` methods retrieve only answers keyed the way the question is (`answer_memory.retrieve`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paso_local.person.answer_memory import (
    DEFAULT_ORDER,
    AnswerMemory,
    Recalled,
    context_for,
    retrieve,
)
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import Context

# the retrieval methods' k, chosen on the 1.5B among 4, 8 and 16 (docs/results/2026-12-04-same-key-and-reader.md)
DEFAULT_K = 16
READER_K = 4  # the reader methods': the k their adapter is trained with (converters/reader.py uses it)


def method_k(reader: bool, asked: int | None) -> int:
    """How many answers a memory method shows: `--k` when given, else its own default."""
    if asked:
        return asked
    return READER_K if reader else DEFAULT_K


def memory_groups(
    answers: Mapping[int, int],
    items: Sequence[Item],
    k: int,
    framing: str,
    system_prompt: str,
    same_key: bool = False,
    order: str = DEFAULT_ORDER,
) -> list[tuple[Context, list[Item], list[Recalled]]]:
    """The held-out items grouped by the context they are asked after, in first-item order; each group with
    that context and its first item's retrieved answers."""
    memory = AnswerMemory.from_answers(answers)
    groups: dict[Context, tuple[list[Item], list[Recalled]]] = {}
    for item in items:
        recalled = retrieve(memory, item, k, same_key)
        context = context_for(recalled, framing, system_prompt, order)
        groups.setdefault(context, ([], list(recalled)))[0].append(item)
    return [(context, group, rec) for context, (group, rec) in groups.items()]
