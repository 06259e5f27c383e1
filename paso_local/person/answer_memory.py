"""The person's own answers as a memory, and which of them bear on a question.

Each answered item keeps its text, facet, domain, key and the option the person chose (1..5). How much one
item bears on another comes from the inventory's structure: the same facet more than the same domain, other
domains not at all, signed by the product of the keys, so "Avoid crowds" (E2, minus-keyed) bears on "Love
large parties" (E2, plus-keyed) with a negative sign. Retrieval takes the k answers with the largest |weight|,
ties broken by item number, so every held-out item of one facet gets the same set (and eval asks them with
one shared context).

`same_key=True` keeps only the answers keyed the same way as the question (positive weight). A reader that
copies the answers it is shown, as small models do, is then right in direction: copying every shown answer
scores deviation r 0.01 on the 60 dev subjects, copying the same-keyed ones 0.39 (benchmarks/memory_copying.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paso_local.person.inventory import Item, item
from paso_local.person.questionnaire_prompt import ANSWER_LABELS, Context, answer_reply, question

SAME_FACET = 1.0
SAME_DOMAIN = 0.3
FRAMINGS = ("turns", "list", "both")  # how recalled answers are shown before a question (`context_for`)
# in what order (`context_for`): the most related nearest the question, or the inventory's item order, in
# which every question retrieving the same answers gets the same context, whatever its facet
ORDERS = ("closest-last", "inventory")
DEFAULT_ORDER = "closest-last"
LIST_LEAD = "Earlier in this questionnaire you answered these related statements:"


@dataclass(frozen=True)
class Recalled:
    """One of the person's answers, retrieved for a target item."""

    item: Item
    option: int  # the option the person chose, 1..5
    relatedness: float  # signed: negative when the two items are keyed in opposite directions


@dataclass(frozen=True)
class AnswerMemory:
    """A person's answered items (chosen options 1..5; missing answers are not kept)."""

    answers: tuple[tuple[Item, int], ...]

    @classmethod
    def from_answers(cls, answers: Mapping[int, int]) -> AnswerMemory:
        kept = sorted((n, a) for n, a in answers.items() if 1 <= a <= 5)
        return cls(tuple((item(n), a) for n, a in kept))

    def __len__(self) -> int:
        return len(self.answers)


def relatedness(a: Item, b: Item) -> float:
    """Signed weight of item a's answer as evidence about item b: structure times the product of the keys."""
    if a.facet == b.facet:
        weight = SAME_FACET
    elif a.domain == b.domain:
        weight = SAME_DOMAIN
    else:
        return 0.0
    return weight if a.plus_keyed == b.plus_keyed else -weight


def retrieve(memory: AnswerMemory, target: Item, k: int, same_key: bool = False) -> list[Recalled]:
    """The k answers most related to `target` (largest |relatedness|, then item number); never the target
    itself and never an unrelated item; with `same_key`, only those keyed the way `target` is."""
    scored = [
        Recalled(it, option, relatedness(it, target))
        for it, option in memory.answers
        if it.number != target.number
    ]
    related = [r for r in scored if r.relatedness > 0.0 or (r.relatedness < 0.0 and not same_key)]
    related.sort(key=lambda r: (-abs(r.relatedness), r.item.number))
    return related[:k]


def predicted_option(recalled: Sequence[Recalled]) -> float | None:
    """The retrieved answers read as a trait model: their |weight|-weighted mean, each keyed toward the
    target (an answer on an opposite-signed item counts as 6 - option). None when nothing was retrieved."""
    total = sum(abs(r.relatedness) for r in recalled)
    if not total:
        return None
    keyed = [(r.option if r.relatedness > 0 else 6 - r.option, abs(r.relatedness)) for r in recalled]
    return sum(option * weight for option, weight in keyed) / total


def as_list(recalled: Sequence[Recalled]) -> str:
    """One line per answer: `- "Worry about things.": Very Accurate`."""
    return "\n".join(f'- "{r.item.text}": {ANSWER_LABELS[r.option]}' for r in recalled)


def as_turns(recalled: Sequence[Recalled]) -> list[tuple[str, str]]:
    """The answers as earlier turns of the questionnaire: the paper's question, the person's option as the reply."""
    return [(question(r.item), answer_reply(r.option)) for r in recalled]


def context_for(
    recalled: Sequence[Recalled], framing: str, system_prompt: str, order: str = DEFAULT_ORDER
) -> Context:
    """The system prompt and earlier turns that show `recalled` before a question:
    - `turns`: earlier turns of the same questionnaire, the paper's question and the person's option as the
      assistant's reply ("(B). Moderately Accurate");
    - `list`: a compact list in the system prompt (`- "Worry about things.": Very Accurate`);
    - `both`: the list in the system prompt and the same answers as earlier turns.
    `order` (ORDERS): `closest-last` puts the most related last, nearest the question; `inventory` keeps the
    items' own order."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing {framing!r}: choose one of {', '.join(FRAMINGS)}")
    if order not in ORDERS:
        raise ValueError(f"order {order!r}: choose one of {', '.join(ORDERS)}")
    if order == "inventory":
        ordered = sorted(recalled, key=lambda r: r.item.number)
    else:  # stable: ties keep retrieval's item-number order
        ordered = sorted(recalled, key=lambda r: abs(r.relatedness))
    turns = tuple(as_turns(ordered)) if framing in ("turns", "both") else ()
    if framing == "turns":
        return Context(system_prompt, turns)
    return Context(f"{system_prompt}\n\n{LIST_LEAD}\n{as_list(ordered)}", turns)


def answers_on_facets(memory: AnswerMemory, facet_codes: Sequence[str], k: int) -> list[Recalled]:
    """The person's answers on the given facets, the first facet's first, then by item number; at most k."""
    rank = {code: position for position, code in enumerate(facet_codes)}
    chosen = [(it, option) for it, option in memory.answers if it.facet in rank]
    chosen.sort(key=lambda pair: (rank[pair[0].facet], pair[0].number))
    return [Recalled(it, option, SAME_FACET) for it, option in chosen[:k]]
