"""Training examples for the profile reader: only 120-form statements, validation items never in a memory or
asked in training, targets the person's own options, the framing the retrieval methods use."""

from __future__ import annotations

import numpy as np

from paso_local.person.answer_memory import AnswerMemory, context_for, retrieve
from paso_local.person.inventory import form_items, held_out_items
from paso_local.person.reader_examples import build_examples, reader_data, split_items
from paso_local.person.synthetic import shipped_model


def test_split_holds_out_one_item_per_facet_and_is_seeded():
    split = split_items(0)
    assert len(split.validation_items) == 30
    assert sorted(i.facet for i in split.validation_items) == sorted({i.facet for i in form_items("120")})
    assert not {i.number for i in split.validation_items} & {i.number for i in split.training_items}
    assert len(split.training_items) == 90
    assert split_items(0) == split and split_items(1) != split


def test_an_example_is_the_persons_option_after_their_related_answers():
    answers = np.array([[1 + (c % 5) for c in range(120)]])
    items = form_items("120")
    question, memory_items = items[0], items[1:]
    (example,) = build_examples(
        answers, [question], memory_items, k=4, framing="turns", same_key=True, per_person=1, seed=0
    )
    assert example.option == 1 and example.item == question
    memory = AnswerMemory.from_answers({i.number: 1 + (c % 5) for c, i in enumerate(items) if c > 0})
    assert example.context == context_for(
        retrieve(memory, question, 4, True), "turns", example.context.system_prompt
    )
    assert len(example.context.turns) == 4


def test_reader_data_never_shows_a_held_out_or_validation_statement_in_training():
    data = reader_data(
        shipped_model(), people=20, validation_people=5, per_person=3, k=4, framing="turns", same_key=True
    )
    split = split_items(0)
    validation = {i.text for i in split.validation_items}
    held_out = {i.text for i in held_out_items()}
    assert len(data.training) == 60 and len(data.new_people) == 15 and len(data.new_people_and_items) == 15
    for example in data.training + data.new_people + data.new_people_and_items:
        shown = " ".join(question for question, _ in example.context.turns)
        assert not any(text in shown for text in held_out | validation)
        assert 1 <= example.option <= 5
    assert all(e.item.text not in validation for e in data.training + data.new_people)
    assert all(e.item.text in validation for e in data.new_people_and_items)
