"""What the chat and ask show the model of the person's answers for one message (paso_local.person.recall)."""

from __future__ import annotations

from paso_local.person.answer_memory import AnswerMemory, answers_on_facets
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.recall import MEMORY_LEAD, NOTHING, load_memory, recall_for, recall_wanted, with_recall

ANSWERS = {item.number: 1 + item.number % 5 for item in form_items("120")}


def test_answers_on_facets_in_facet_then_item_order():
    memory = AnswerMemory.from_answers(ANSWERS)
    recalled = answers_on_facets(memory, ["E2", "N1"], 6)
    assert [r.item.facet for r in recalled] == ["E2"] * 4 + ["N1"] * 2
    assert [r.item.number for r in recalled[:4]] == sorted(r.item.number for r in recalled[:4])


def test_recall_for_a_message_and_how_it_joins_the_system_message():
    recall = recall_for(AnswerMemory.from_answers(ANSWERS), "Should I go to the party tonight?")
    assert recall.text.startswith(MEMORY_LEAD) and recall.answers[0].item.facet == "E2"
    assert recall.as_json()[0]["answer"] in recall.text
    system = [{"role": "system", "content": "PROFILE"}, {"role": "user", "content": "hi"}]
    joined = with_recall(system, recall)
    assert joined[0]["content"] == f"PROFILE\n\n{recall.text}" and system[0]["content"] == "PROFILE"
    alone = with_recall([{"role": "user", "content": "hi"}], recall)
    assert alone[0] == {"role": "system", "content": recall.text}
    assert with_recall(system, NOTHING) == system
    assert recall_for(None, "party") == NOTHING
    assert recall_for(AnswerMemory.from_answers(ANSWERS), "zzz qqq") == NOTHING


def test_memory_is_off_unless_asked_and_a_missing_profile_says_why(paso_home):
    assert recall_wanted(None) is False and recall_wanted(True) is True
    memory, note = load_memory("nobody")
    assert memory is None and "no answers" in note
    ProfileStore().save(Profile(name="someone", answers=ANSWERS))
    memory, note = load_memory("someone")
    assert note is None and len(memory) == 120
