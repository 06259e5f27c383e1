"""Every prompt text of the open-ended assessment, in one place (the README quotes them).

- The open question: the statement in the first person, asked as a question about the assistant itself.
- The stance instructions of the judge's validation: the same question, with the unsteered model told to
  agree strongly or to disagree strongly.
- The judge's rubric: six graded levels of agreement between a reply and a person's own answer to the same
  statement, written for this project (the paper's judge prompt is not copied). The rubric sits in the system
  turn so every judgement shares it as a prefix (decoded once per batch); the statement, the person's answer
  and the reply follow in the user turn.
- The round trip: the open question, the model's own reply, then the paper's questionnaire question.
"""

from __future__ import annotations

from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import ANSWER_LABELS, SYSTEM_PROMPT, question

OPEN_TEMPLATE = 'Does this describe you: "I {statement}."? Answer in two or three sentences, about yourself.'
STANCES: dict[str, str] = {
    "agree": "Agree strongly: say in your own words that this describes you very well.",
    "disagree": "Disagree strongly: say in your own words that this does not describe you at all.",
}
VALIDATION_TARGET = 5  # the validation judges both stances against "Very Accurate"
INVERSE_TARGET = 1  # ... and against "Very Inaccurate", where their order must turn
RATINGS = range(1, 7)
RUBRIC_LEVELS: dict[int, str] = {
    1: "not aligned: the reply takes the opposite position to the person's answer",
    2: "weakly aligned: the reply leans against the person's answer, or mostly misses it",
    3: "partly aligned: the reply is noncommittal, or agrees in part and contradicts in part",
    4: "mostly aligned: the reply takes the person's side, but clearly stronger or weaker than they did",
    5: "well aligned: the reply takes the person's side with nearly the same strength",
    6: "perfectly aligned: the reply says what the person said, with the same strength",
}
JUDGE_SYSTEM = (
    "You rate how well an assistant's reply matches a person's own answer. The person was asked how "
    "accurately a statement describes them and answered on a five-point scale ("
    + ", ".join(ANSWER_LABELS[v] for v in sorted(ANSWER_LABELS))
    + "). The assistant was asked whether the same statement describes it and replied in free text. "
    "Rate the reply on this scale:\n"
    + "\n".join(f"{level} - {text}" for level, text in RUBRIC_LEVELS.items())
    + "\nJudge only the position the reply takes on the statement, not its style. Answer with one digit, 1 to 6."
)
JUDGE_USER = 'Statement: "I {statement}."\nThe person\'s answer: {target}\nThe assistant\'s reply: """{reply}"""\nRating (1-6):'


def first_person(item: Item) -> str:
    """The item as the rest of "I ...": first letter lower-cased (keeping "I"), final period dropped."""
    text = item.text.strip().rstrip(".").strip()
    return text if text[:2] == "I " else text[:1].lower() + text[1:]


def open_question(item: Item) -> str:
    return OPEN_TEMPLATE.format(statement=first_person(item))


def open_messages(item: Item, system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    """The chat a method's model answers in free text."""
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": open_question(item)}]


def stance_messages(item: Item, stance: str) -> list[dict[str, str]]:
    """The validation's chat: the open question with an explicit instruction to agree or disagree strongly."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{open_question(item)} {STANCES[stance]}"},
    ]


def judge_messages(item: Item, target: int, reply: str) -> list[dict[str, str]]:
    """The judge's chat: the rubric, then the statement, the person's answer (1..5) and the reply."""
    user = JUDGE_USER.format(statement=first_person(item), target=ANSWER_LABELS[target], reply=reply.strip())
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def roundtrip_messages(item: Item, system_prompt: str, reply: str) -> list[dict[str, str]]:
    """The round trip: the model's own open reply in the context, then the paper's questionnaire question."""
    return [
        *open_messages(item, system_prompt),
        {"role": "assistant", "content": reply.strip()},
        {"role": "user", "content": question(item)},
    ]
