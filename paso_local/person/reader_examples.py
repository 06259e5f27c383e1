"""Training examples for a profile reader: synthetic people answering the 120-form statements, each example a
question on one statement after the person's related answers to others, with the option they chose as target.

Only 120-form statements appear; the 180 held-out statements of the evaluation never do (the protocol). The
split (`ReaderSplit`): some 120-form items are validation questions only (one per facet, seeded), and some
people are validation people only (their own seed). Every memory holds training items only, so a validation
question is a statement the reader never saw asked, about a person it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.person.answer_memory import AnswerMemory, Recalled, context_for, retrieve
from paso_local.person.inventory import Item, form_items
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT, Context
from paso_local.person.synthetic import RespondentModel


@dataclass(frozen=True)
class ReaderExample:
    person: int  # row of the answers it was built from
    item: Item  # the question
    option: int  # the option the person chose there (the target), 1..5
    context: Context  # the person's recalled answers, framed before the question
    recalled: tuple[Recalled, ...]  # those answers


@dataclass(frozen=True)
class ReaderSplit:
    training_items: tuple[Item, ...]
    validation_items: tuple[Item, ...]  # one per facet: never a training question, never in a memory


def split_items(seed: int = 0) -> ReaderSplit:
    """One 120-form item per facet held out for validation, chosen with `seed`."""
    rng = np.random.default_rng(seed)
    items = form_items("120")
    held = set()
    for facet in dict.fromkeys(i.facet for i in items):
        members = [i.number for i in items if i.facet == facet]
        held.add(members[int(rng.integers(len(members)))])
    return ReaderSplit(
        training_items=tuple(i for i in items if i.number not in held),
        validation_items=tuple(i for i in items if i.number in held),
    )


def build_examples(
    answers: np.ndarray,
    questions: Sequence[Item],
    memory_items: Sequence[Item],
    *,
    k: int,
    framing: str,
    same_key: bool,
    per_person: int,
    seed: int,
    system_prompt: str = SYSTEM_PROMPT,
) -> list[ReaderExample]:
    """For each person (a row of [n, 120] chosen options in 120-form order), `per_person` questions drawn from
    `questions` without replacement, each after their k answers among `memory_items` most related to it."""
    column = {item.number: c for c, item in enumerate(form_items("120"))}
    rng = np.random.default_rng(seed)
    examples = []
    for person, row in enumerate(answers):
        memory = AnswerMemory.from_answers({i.number: int(row[column[i.number]]) for i in memory_items})
        for index in rng.choice(len(questions), size=min(per_person, len(questions)), replace=False):
            question = questions[int(index)]
            recalled = retrieve(memory, question, k, same_key)
            examples.append(
                ReaderExample(
                    person=person,
                    item=question,
                    option=int(row[column[question.number]]),
                    context=context_for(recalled, framing, system_prompt),
                    recalled=tuple(recalled),
                )
            )
    return examples


@dataclass(frozen=True)
class ReaderData:
    training: list[ReaderExample]
    new_people: list[ReaderExample]  # validation people, training questions
    new_people_and_items: list[ReaderExample]  # validation people, validation questions


def reader_data(
    model: RespondentModel,
    *,
    people: int,
    validation_people: int,
    per_person: int,
    k: int,
    framing: str,
    same_key: bool,
    seed: int = 0,
) -> ReaderData:
    """Synthetic training and validation examples (people drawn with seeds `seed` and `seed + 1`)."""
    split = split_items(seed)
    options = dict(k=k, framing=framing, same_key=same_key, per_person=per_person)
    trained, validating = model.sample(people, seed), model.sample(validation_people, seed + 1)
    return ReaderData(
        training=build_examples(trained, split.training_items, split.training_items, seed=seed, **options),
        new_people=build_examples(
            validating, split.training_items, split.training_items, seed=seed + 2, **options
        ),
        new_people_and_items=build_examples(
            validating, split.validation_items, split.training_items, seed=seed + 3, **options
        ),
    )
