"""The chat's conversation state without a screen: history, saving (and keeping what cannot be saved), the
compare decision and the replay of a saved conversation."""

from __future__ import annotations

from dataclasses import dataclass

from paso_local.errors import PasoError
from paso_local.llm.steering import UNSTEERED, Steering
from paso_local.store.conversations import ConversationStore
from paso_local.tui.chat.session import (
    PROMPT_CAPTION,
    ChatSession,
    ProfilePrompt,
    Replayed,
    compare_steering,
    replay,
    reply_caption,
)


@dataclass
class Row:
    stored_id: int | None = None


def test_a_reply_and_its_compare_are_saved_in_order_and_only_the_reply_is_history():
    with ConversationStore() as store:
        session = ChatSession(store, "default")
        session.model_name = "m.gguf"
        row = Row()
        assert session.messages_with("Hi") == [{"role": "user", "content": "Hi"}]
        session.record_reply("Hi", "Hello.", Steering(True, 1.5), row)
        assert session.save_unsaved() is None and row.stored_id is not None
        session.record_compare("Hey.", UNSTEERED, row)
        assert session.save_unsaved() is None and session.unsaved == []
        assert session.history == [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ]
        assert session.messages_for_compare() == [{"role": "user", "content": "Hi"}]
        saved = store.load(session.conversation_id)
        assert (saved.title, saved.model, saved.profile) == ("Hi", "m.gguf", "default")
        assert [(m.role, m.content, m.steered, m.strength, m.compare_of) for m in saved.messages] == [
            ("user", "Hi", False, None, None),
            ("assistant", "Hello.", True, 1.5, None),
            ("assistant", "Hey.", False, None, row.stored_id),
        ]


class FailingStore:
    def __init__(self) -> None:
        self.fail = True
        self.rows: list[tuple] = []

    def create(self, title: str, *, model: str = "", profile: str = "") -> int:
        if self.fail:
            raise PasoError("the disk is full")
        return 7

    def add_message(self, conversation_id: int, role: str, content: str, **extra: object) -> int:
        self.rows.append((conversation_id, role, content))
        return len(self.rows)


def test_what_cannot_be_saved_stays_queued_and_is_saved_with_the_next_try():
    store = FailingStore()
    session = ChatSession(store, "default")
    session.record_reply("Hi", "Hello.", UNSTEERED, Row())
    assert session.save_unsaved() == "the disk is full"
    assert [u.role for u in session.unsaved] == ["user", "assistant"]
    store.fail = False
    assert session.save_unsaved() is None
    assert store.rows == [(7, "user", "Hi"), (7, "assistant", "Hello.")] and session.conversation_id == 7


def test_a_new_conversation_forgets_the_history_but_not_the_old_queue():
    store = FailingStore()
    session = ChatSession(store, "default")
    session.record_reply("Hi", "Hello.", UNSTEERED, Row())
    session.start_new()
    assert session.history == [] and session.conversation_id is None and len(session.unsaved) == 2
    assert session.unsaved[0].conversation is not session.saved_as


def test_compare_regenerates_the_other_way():
    current = Steering(True, 1.2, {"N": 0.5})
    assert compare_steering(True, current, 0.0) == UNSTEERED
    assert compare_steering(True, current, 0.4) == Steering(True, 0.4, {"N": 0.5})
    assert compare_steering(False, current, 0.4) == Steering(True, 1.2, {"N": 0.5})


def test_a_saved_conversation_replays_with_the_captions_it_was_shown_with():
    with ConversationStore() as store:
        cid = store.create("Hi")
        store.add_message(cid, "system", "Be brief.")
        store.add_message(cid, "user", "Hi")
        reply = store.add_message(cid, "assistant", "Hello.", steered=True, strength=1.5)
        store.add_message(cid, "assistant", "Hey.", steered=False, compare_of=reply)
        session = ChatSession(store, "default")
        saved = session.open(cid)
    assert session.conversation_id == cid and session.history == saved.history()
    assert replay(saved) == [
        Replayed("note", "Be brief.", PROMPT_CAPTION),
        Replayed("user", "Hi", "you"),
        Replayed("reply", "Hello.", reply_caption(Steering(True, 1.5)), reply, True),
        Replayed("compare", "Hey.", reply_caption(UNSTEERED, compare=True), compare_of=reply),
    ]
    assert reply_caption(Steering(True, 1.5)) == "assistant · steered ×1.50"


PERSON = "You are a person with this personality: Extraversion 4.5 (high)."


def test_the_profile_prompt_opens_the_conversation_is_saved_first_and_comes_back_when_reopened():
    with ConversationStore() as store:
        session = ChatSession(store, "default", ProfilePrompt(PERSON, on=True))
        system = {"role": "system", "content": PERSON}
        assert session.system_prompt == PERSON
        assert session.messages_with("Hi") == [system, {"role": "user", "content": "Hi"}]
        row = Row()
        session.record_reply("Hi", "Hello.", UNSTEERED, row)
        session.record_reply("More?", "Sure.", UNSTEERED, Row())
        assert session.save_unsaved() is None
        saved = store.load(session.conversation_id)
        assert saved.title == "Hi"  # the person's first message, not the system prompt
        assert [(m.role, m.content) for m in saved.messages] == [
            ("system", PERSON),
            ("user", "Hi"),
            ("assistant", "Hello."),
            ("user", "More?"),
            ("assistant", "Sure."),
        ]
        assert replay(saved)[0] == Replayed("note", PERSON, PROMPT_CAPTION)
        assert session.messages_for_compare()[:1] == [system]

        later = ChatSession(store, "default", ProfilePrompt(PERSON, on=False))
        assert later.history == [] and later.system_prompt is None
        later.open(session.conversation_id)
        assert later.system_prompt == PERSON  # a saved conversation keeps the system message it began with


def test_turning_the_profile_prompt_off_applies_now_only_while_nothing_is_sent():
    with ConversationStore() as store:
        session = ChatSession(store, "default", ProfilePrompt(PERSON, on=True))
        assert session.set_profile_prompt(False) is True
        assert session.history == [] and session.messages_with("Hi") == [{"role": "user", "content": "Hi"}]
        assert session.set_profile_prompt(True) is True and session.system_prompt == PERSON
        session.record_reply("Hi", "Hello.", UNSTEERED, Row())
        assert session.set_profile_prompt(False) is False  # sent already: this conversation keeps it
        assert session.system_prompt == PERSON
        session.start_new()
        assert session.history == []  # the next one starts without it
        session.record_reply("Hey", "Hi.", UNSTEERED, Row())
        assert session.save_unsaved() is None
        assert [m.role for m in store.load(session.conversation_id).messages] == ["user", "assistant"]


def test_without_a_profile_there_is_no_prompt_to_turn_on():
    with ConversationStore() as store:
        session = ChatSession(store, "default", ProfilePrompt(None, on=True, note="No profile yet."))
        assert session.system_prompt is None and session.prompt_on is False
        assert session.set_profile_prompt(True) is True and session.history == []


def test_the_answer_memory_joins_each_request_but_is_never_stored():
    from paso_local.person.answer_memory import AnswerMemory
    from paso_local.person.inventory import form_items
    from paso_local.tui.chat.session import AnswerRecall

    memory = AnswerMemory.from_answers({item.number: 1 + item.number % 5 for item in form_items("120")})
    with ConversationStore() as store:
        session = ChatSession(store, "default", ProfilePrompt(PERSON, on=True), AnswerRecall(memory, on=True))
        asked = session.messages_with("Should I go to the party tonight?")
        assert asked[0]["role"] == "system" and asked[0]["content"].startswith(PERSON + "\n\n")
        assert session.last_recall.answers[0].item.facet == "E2"
        assert all(f'"{r.item.text}"' in asked[0]["content"] for r in session.last_recall.answers)
        session.record_reply("Should I go to the party tonight?", "Yes.", UNSTEERED, Row())
        assert session.history[0] == {"role": "system", "content": PERSON}  # the stored system message
        assert session.messages_for_compare()[0] == asked[0]  # a compare is asked what the reply was
        session.set_memory(False)
        assert session.messages_with("And tomorrow?")[0] == {"role": "system", "content": PERSON}
        assert session.last_recall.answers == ()
        assert session.save_unsaved() is None
        stored = [m.content for m in store.load(session.conversation_id).messages]
        assert not any("related statements" in text for text in stored)


def test_without_answers_the_memory_cannot_be_turned_on():
    from paso_local.tui.chat.session import AnswerRecall

    with ConversationStore() as store:
        session = ChatSession(store, "default", answer_recall=AnswerRecall(None, on=True, note="No answers."))
        assert session.memory_on is False
        session.set_memory(True)
        assert session.memory_on is False and session.messages_with("Hi") == [
            {"role": "user", "content": "Hi"}
        ]
