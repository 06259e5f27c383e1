"""The memory of a person's answers: signed relatedness, retrieval, the trait-model reading and the two
renderings, by hand; and the eval's grouping of held-out items by their retrieved set."""

from __future__ import annotations

import pytest

from paso_local.person.answer_memory import (
    SAME_DOMAIN,
    SAME_FACET,
    AnswerMemory,
    Recalled,
    as_list,
    as_turns,
    context_for,
    predicted_option,
    relatedness,
    retrieve,
)
from paso_local.person.inventory import all_items, form_items, held_out_items, item
from paso_local.person.questionnaire_prompt import question


def find(facet: str, keyed: str, form: str = "120") -> list:
    return [i for i in form_items(form) if i.facet == facet and i.keyed == keyed]


def test_relatedness_is_signed_by_the_keys_and_ordered_by_structure():
    e2_plus = find("E2", "+")[0]
    e2_minus = find("E2", "-")[0]
    e1_plus = find("E1", "+")[0]
    n1_plus = find("N1", "+")[0]
    assert relatedness(e2_plus, find("E2", "+", "300")[-1]) == SAME_FACET
    assert relatedness(e2_minus, e2_plus) == -SAME_FACET  # "avoid crowds" against "love large parties"
    assert relatedness(e1_plus, e2_plus) == SAME_DOMAIN
    assert relatedness(e1_plus, e2_minus) == -SAME_DOMAIN
    assert relatedness(n1_plus, e2_plus) == 0.0


def test_retrieve_takes_the_facet_first_then_the_domain_never_the_target_or_a_missing_answer():
    target = next(i for i in held_out_items() if i.facet == "N1")
    n1 = [i.number for i in form_items("120") if i.facet == "N1"]
    answers = {i.number: 4 for i in form_items("120")}
    answers[n1[0]] = 0  # missing: not in the memory
    answers[target.number] = 5  # the target itself is never recalled
    recalled = retrieve(AnswerMemory.from_answers(answers), target, 5)
    assert [r.item.number for r in recalled[:3]] == sorted(n1[1:])
    assert all(r.item.facet == "N1" for r in recalled[:3])
    assert all(r.item.domain == "N" and r.item.facet != "N1" for r in recalled[3:])
    assert [abs(r.relatedness) for r in recalled] == [SAME_FACET] * 3 + [SAME_DOMAIN] * 2
    assert recalled[3].item.number < recalled[4].item.number  # ties: by item number
    assert target.number not in [r.item.number for r in recalled]


def test_same_key_retrieval_keeps_only_answers_keyed_like_the_question():
    target = next(i for i in held_out_items() if i.facet == "E2" and i.keyed == "+")
    answers = {i.number: 3 for i in form_items("120")}
    memory = AnswerMemory.from_answers(answers)
    signed = retrieve(memory, target, 120)
    same = retrieve(memory, target, 120, same_key=True)
    assert any(r.relatedness < 0 for r in signed)  # "avoid crowds" is retrieved with a negative sign
    assert same == [r for r in signed if r.relatedness > 0]  # the same order, the opposite-keyed left out
    e2_plus = [i.number for i in form_items("120") if i.facet == "E2" and i.keyed == "+"]
    assert [r.item.number for r in same[: len(e2_plus)]] == sorted(e2_plus)
    assert all(r.item.keyed == "+" and r.item.domain == "E" for r in same)


def test_predicted_option_keys_answers_toward_the_target():
    plus, minus = find("E2", "+")[0], find("E2", "-")[0]
    recalled = [
        Recalled(plus, 5, SAME_FACET),
        Recalled(minus, 2, -SAME_FACET),
        Recalled(plus, 1, SAME_DOMAIN),
    ]
    # (5 * 1 + (6 - 2) * 1 + 1 * 0.3) / 2.3
    assert predicted_option(recalled) == pytest.approx((5 + 4 + 0.3) / 2.3)
    assert predicted_option([]) is None


def test_renderings_exactly():
    worry = next(i for i in all_items() if i.text == "Worry about things.")
    recalled = [Recalled(worry, 5, SAME_FACET), Recalled(worry, 2, SAME_FACET)]
    assert as_list(recalled) == (
        '- "Worry about things.": Very Accurate\n- "Worry about things.": Moderately Inaccurate'
    )
    turns = as_turns(recalled)
    assert turns[0][0].startswith('Given a statement of you: "You worry about things."')
    assert [reply for _, reply in turns] == ["(A). Very Accurate", "(D). Moderately Inaccurate"]


def test_eval_groups_items_by_their_retrieved_set_and_frames_them():
    from paso_local.evaluation.memory_methods import memory_groups
    from paso_local.person.answer_memory import LIST_LEAD

    answers = {i.number: 1 + i.number % 5 for i in form_items("120")}
    groups = memory_groups(answers, held_out_items(), 4, "both", "SYSTEM")
    assert len(groups) == 30 and sum(len(g) for _, g, _ in groups) == 180  # one set per facet
    context, items, recalled = groups[0]
    assert {i.facet for i in items} == {recalled[0].item.facet}
    assert context.system_prompt.startswith("SYSTEM\n\n" + LIST_LEAD)
    assert len(context.turns) == 4
    turns_only, _, _ = memory_groups(answers, held_out_items(), 4, "turns", "SYSTEM")[0]
    listed, _, _ = memory_groups(answers, held_out_items(), 4, "list", "SYSTEM")[0]
    assert turns_only.system_prompt == "SYSTEM" and listed.turns == ()


def test_same_key_groups_split_each_facet_by_the_questions_key():
    from paso_local.evaluation.memory_methods import memory_groups

    answers = {i.number: 1 + i.number % 5 for i in form_items("120")}
    groups = memory_groups(answers, held_out_items(), 4, "turns", "SYSTEM", same_key=True)
    assert sum(len(g) for _, g, _ in groups) == 180
    # at most one set per facet and key: facets whose 120-form items are all keyed one way share the
    # domain's lowest-numbered answers for the other key
    assert len(groups) <= len({(i.facet, i.keyed) for i in held_out_items()})
    for _, items, recalled in groups:
        assert len({i.keyed for i in items}) == 1
        assert all(r.relatedness > 0 and r.item.keyed == items[0].keyed for r in recalled)


def test_each_memory_method_shows_its_own_k_unless_k_is_given():
    from paso_local.evaluation.memory_methods import DEFAULT_K, READER_K, method_k

    assert (DEFAULT_K, READER_K) == (16, 4)
    assert method_k(reader=False, asked=None) == 16  # retrieval: the best measured
    assert method_k(reader=True, asked=None) == 4  # the reader: what its adapter was trained on
    assert method_k(reader=True, asked=16) == method_k(reader=False, asked=16) == 16


def test_inventory_order_gives_every_question_retrieving_the_same_answers_one_context():
    from collections import Counter

    from paso_local.evaluation.memory_methods import memory_groups

    answers = {i.number: 1 + i.number % 5 for i in form_items("120")}
    groups = memory_groups(answers, held_out_items(), 16, "turns", "SYSTEM", same_key=True, order="inventory")
    assert sum(len(g) for _, g, _ in groups) == 180
    sizes = Counter((i.domain, i.keyed) for i in form_items("120"))
    for context, items, recalled in groups:
        numbers = sorted(r.item.number for r in recalled)
        assert [turn for turn, _ in context.turns] == [question(item(n)) for n in numbers]
        assert len({(i.domain, i.keyed) for i in items}) == 1
    # a domain and key with at most 16 answers: all of them are retrieved for every facet, so one context
    small = {key for key, n in sizes.items() if n <= 16}
    per_key = Counter((g[0].domain, g[0].keyed) for _, g, _ in groups)
    assert small and all(per_key[key] == 1 for key in small)
    closest_last = memory_groups(answers, held_out_items(), 16, "turns", "SYSTEM", same_key=True)
    assert len(groups) < len(closest_last)


def test_closest_last_puts_the_same_facet_answers_nearest_the_question():
    worry, fear, angry = item(1), item(31), item(6)  # N1, N1, N2, all plus-keyed
    recalled = [  # as retrieve returns them for an N1 question: by |relatedness|, then item number
        Recalled(worry, 4, SAME_FACET),
        Recalled(fear, 2, SAME_FACET),
        Recalled(angry, 3, SAME_DOMAIN),
    ]
    last = context_for(recalled, "turns", "S")
    assert [t for t, _ in last.turns] == [question(angry), question(worry), question(fear)]
    inventory = context_for(recalled, "turns", "S", order="inventory")
    assert [t for t, _ in inventory.turns] == [question(worry), question(angry), question(fear)]
    with pytest.raises(ValueError, match="order 'random'"):
        context_for(recalled, "turns", "S", order="random")
