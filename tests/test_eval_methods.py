"""What each eval method puts in the system prompt, and the subject selection options."""

import pytest

from paso_local.errors import PasoError
from paso_local.evaluation.methods import FEWSHOT_LEAD, METHODS, fewshot_prompt, parse_methods, profile_prompt
from paso_local.evaluation.split import select_subjects, split_subject
from paso_local.person.inventory import DOMAINS, facets, form_items, held_out_items
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT
from paso_local.person.scoring import score_answers
from paso_local.person.subjects import load_subjects


def answers_120(skip=()):
    return {i.number: (0 if i.number in skip else (i.number % 5) + 1) for i in form_items("120")}


def test_fewshot_lists_the_120_answers_in_the_papers_words():
    first, second = form_items("120")[:2]
    answers = answers_120(skip={second.number})
    prompt = fewshot_prompt(answers)
    assert prompt.startswith(FEWSHOT_LEAD)
    labels = {5: "Very Accurate", 4: "Moderately Accurate", 3: "Neither Accurate Nor Inaccurate"}
    labels |= {2: "Moderately Inaccurate", 1: "Very Inaccurate"}
    assert f"{FEWSHOT_LEAD}{first.text}:{labels[answers[first.number]]};" in prompt
    assert second.text + ":" not in prompt  # a missing answer is left out
    assert prompt.count(";") == 1 + 118  # the lead's ";" and 118 separators between 119 answers
    for item in form_items("120")[2:]:
        assert f"{item.text}:{labels[answers[item.number]]}" in prompt
    held = held_out_items()[0]
    assert held.text not in prompt  # nothing held out leaks into the prompt


def test_profile_prompt_describes_domain_and_facet_scores():
    answers = answers_120()
    prompt = profile_prompt(answers)
    scores = score_answers(answers, form="120")
    for code, name in DOMAINS.items():
        assert f"{name} {scores.domains[code]:.1f}" in prompt
    for code, name in facets().items():
        assert f"{name.lower()} {scores.facets[code]:.1f}" in prompt
    assert all(i.text not in prompt for i in form_items("120"))  # scores only, not the answers


def test_methods_and_parsing():
    assert METHODS["base"].system_prompt({}) == SYSTEM_PROMPT and not METHODS["base"].personal
    assert METHODS["pas"].steered and METHODS["pas"].system_prompt(answers_120()) == SYSTEM_PROMPT
    assert METHODS["pas+fewshot"].steered
    assert METHODS["pas+fewshot"].system_prompt(answers_120()) == fewshot_prompt(answers_120())
    assert [m.name for m in parse_methods("pas, base,pas")] == ["pas", "base"]
    with pytest.raises(PasoError, match="unknown method dpo"):
        parse_methods("base,dpo")


def test_retrieval_is_the_same_keyed_turns_in_the_inventorys_order_and_the_reader_keeps_its_training_order():
    inventory = METHODS["retrieval-same-key-turns-inventory"]
    for name in ("retrieval", "retrieval+profile"):
        method = METHODS[name]
        assert (method.memory, method.same_key, method.order) == ("turns", True, "inventory")
        assert (method.memory, method.same_key, method.order) == (
            inventory.memory,
            inventory.same_key,
            inventory.order,
        )
    assert METHODS["retrieval+profile"].system_prompt(answers_120()) == profile_prompt(answers_120())
    # the reader's adapter was trained on closest-last contexts: it must be asked the way it was trained
    for name in ("reader", "reader-profile", "retrieval-same-key-turns"):
        assert METHODS[name].order == "closest-last"


def test_select_subjects(papi_dev):
    subjects = load_subjects(papi_dev)
    assert [s.index for s in select_subjects(subjects, index="2:5")] == [2, 3, 4]
    assert [s.index for s in select_subjects(subjects, index=":2")] == [0, 1]
    wanted = f"{subjects[7].case},{subjects[1].case}"
    assert [s.index for s in select_subjects(subjects, cases=wanted)] == [7, 1]
    for bad in ("5", "3:3", "0:61", "a:b"):
        with pytest.raises(PasoError, match="--index"):
            select_subjects(subjects, index=bad)
    with pytest.raises(PasoError, match="no subject has case nope"):
        select_subjects(subjects, cases="nope")
    split = split_subject(subjects[0])
    assert len(split.alignment) == 120 and len(split.held_out) == 180
    assert not set(split.alignment) & set(split.held_out)
