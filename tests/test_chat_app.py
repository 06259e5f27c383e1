"""The chat app driven through Pilot, with a scripted backend in place of the model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from paso_local.errors import PasoError
from paso_local.llm.controlvector import NO_DIRECTION
from paso_local.llm.generation import GenerationStats
from paso_local.llm.steering import Steering
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.profile_prompt import profile_prompt_for
from paso_local.store.conversations import ConversationStore
from paso_local.tui.chat import closing_status
from paso_local.tui.chat.app import ChatApp
from paso_local.tui.chat.backend import BackendInfo
from paso_local.tui.chat.session import PROMPT_CAPTION, ProfilePrompt
from paso_local.tui.chat.widgets.message_view import MessageView
from paso_local.tui.chat.widgets.reply_row import ReplyRow
from paso_local.tui.chat.widgets.steering_panel import SteeringPanel
from paso_local.tui.chat.widgets.strength_control import StrengthControl

STEERED_INFO = BackendInfo(model_name="fake-model.gguf", n_ctx=2048, vector_name="fake-vector.gguf")


class ScriptedReply:
    """Yields its pieces; with `hold`, waits after the first piece until the app sets `stop`."""

    def __init__(self, pieces: list[str], stop: threading.Event, steering: Steering, hold: bool):
        self.pieces = pieces
        self.stop = stop
        self.steering = steering
        self.hold = hold
        self.stats: GenerationStats | None = None

    def __iter__(self):
        finish = "stop"
        sent = 0
        for piece in self.pieces:
            if self.stop.is_set():
                finish = "cancelled"
                break
            yield piece
            sent += 1
            if self.hold:
                if not self.stop.wait(30):
                    raise AssertionError("the app never set the stop event")
        if self.stop.is_set():
            finish = "cancelled"
        self.stats = GenerationStats(
            tokens=sent,
            prompt_tokens=10,
            prompt_seconds=0.01,
            decode_seconds=0.25,
            tokens_per_second=42.0,
            context_used=10 + sent,
            context_size=2048,
            finish_reason=finish,
            steered=self.steering.enabled,
            strength=self.steering.strength if self.steering.enabled else 0.0,
        )


@dataclass
class FakeBackend:
    replies: list[list[str]] = field(default_factory=list)
    info: BackendInfo = STEERED_INFO
    load_error: Exception | None = None
    generate_error: Exception | None = None
    hold: bool = False
    calls: list[tuple[list[dict], Steering]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    streams: list[ScriptedReply] = field(default_factory=list)
    closed: bool = False

    def load(self) -> BackendInfo:
        if self.load_error is not None:
            raise self.load_error
        return self.info

    def generate(
        self, messages: list[dict], steering: Steering, stop: threading.Event, *, seed: int = 0
    ) -> ScriptedReply:
        self.calls.append(([dict(m) for m in messages], steering))
        self.seeds.append(seed)
        if self.generate_error is not None:
            raise self.generate_error
        pieces = self.replies.pop(0) if self.replies else ["(no more scripted replies)"]
        self.streams.append(ScriptedReply(pieces, stop, steering, self.hold))
        return self.streams[-1]

    def count_tokens(self, messages: list[dict]) -> int:
        return sum(5 + len(m["content"].split()) for m in messages)  # a stand-in tokenizer: words + 5

    def close(self) -> None:
        self.closed = True


SIZE = (110, 32)


async def settle(pilot, app: ChatApp, *, rounds: int = 200) -> None:
    """Let the worker finish the current reply (bounded: a stuck app fails the test instead of hanging)."""
    for _ in range(rounds):
        await pilot.pause(0.02)
        if app.chat.job is None and app.chat.idle.is_set():
            await pilot.pause()
            return
    raise AssertionError("the reply never finished")


async def wait_for(pilot, condition, *, rounds: int = 200) -> None:
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition never became true")


async def loaded(pilot, app: ChatApp) -> None:
    await wait_for(pilot, lambda: app.chat.info is not None or app.chat.idle.is_set())
    await pilot.pause()


async def send(pilot, app: ChatApp, text: str) -> None:
    app.chat.prompt.value = text
    app.chat.prompt.focus()
    await pilot.press("enter")


def views(app: ChatApp) -> list[tuple[str, str, str]]:
    return [(v.role, v.caption, v.text) for v in app.screen.query(MessageView)]


def make_profile(name: str = "default") -> None:
    """A complete 120-item profile with varied answers, so the bars differ per domain."""
    answers = {item.number: 1 + (item.number * 7) % 5 for item in form_items("120")}
    ProfileStore().save(Profile(name=name, form="120", answers=answers, position=120))


async def test_reply_streams_into_the_conversation_with_the_sidebar_steering():
    backend = FakeBackend(replies=[["Hello", " there, ", "**friend**", "."]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "hi")
        await settle(pilot, app)
        assert views(app) == [
            ("user", "you", "hi"),
            ("assistant", "assistant · steered ×1.00", "Hello there, **friend**."),
        ]
        messages, steering = backend.calls[0]
        assert messages == [{"role": "user", "content": "hi"}]
        assert steering.enabled and steering.strength == 1.0
        status = str(app.chat.status.render())
        assert "fake-model.gguf" in status and "42.0 tok/s" in status and "context 14/2048" in status
        assert app.chat.history[-1] == {"role": "assistant", "content": "Hello there, **friend**."}


async def test_escape_stops_the_reply_and_keeps_what_was_written():
    backend = FakeBackend(replies=[["First words", " never shown"]], hold=True)
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "talk a lot")
        await wait_for(pilot, lambda: any(v.text == "First words" for v in app.screen.query(MessageView)))
        await pilot.press("escape")
        await settle(pilot, app)
        reply = views(app)[-1]
        assert reply == ("assistant", "assistant · steered ×1.00 · stopped", "First words")
        saved = app.store.load(app.chat.conversation_id)
        assert [(m.role, m.content) for m in saved.messages] == [
            ("user", "talk a lot"),
            ("assistant", "First words"),
        ]


async def test_compare_regenerates_the_last_reply_unsteered_beside_it_and_saves_it():
    backend = FakeBackend(replies=[["Steered answer."], ["Plain answer."]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "question")
        await settle(pilot, app)
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        row = app.screen.query(ReplyRow).last()
        assert [(v.caption, v.text) for v in row.query(MessageView)] == [
            ("assistant · steered ×1.00", "Steered answer."),
            ("compare · unsteered", "Plain answer."),
        ]
        messages, steering = backend.calls[1]
        assert messages == [
            {"role": "user", "content": "question"}
        ]  # the compared reply is not in the prompt
        assert not steering.enabled
        assert app.chat.history == [
            {"role": "user", "content": "question"},
            {"role": "assistant", "content": "Steered answer."},
        ]
        saved = app.store.load(app.chat.conversation_id)
        compare = saved.messages[-1]
        assert (compare.content, compare.steered, compare.compare_of) == (
            "Plain answer.",
            False,
            row.stored_id,
        )


async def test_compare_at_another_strength():
    backend = FakeBackend(replies=[["A."], ["B."]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "q")
        await settle(pilot, app)
        compare = app.screen.query_one("#compare-strength", StrengthControl)
        compare.focus()
        await pilot.press("right", "right", "right", "right", "right")
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        steering = backend.calls[1][1]
        assert steering.enabled and steering.strength == pytest.approx(0.5)
        assert views(app)[-1][1] == "compare · steered ×0.50"


async def test_strength_and_switch_changes_apply_to_the_next_reply():
    backend = FakeBackend(replies=[["one"], ["two"], ["three"]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "first")
        await settle(pilot, app)
        app.screen.query_one("#strength", StrengthControl).focus()
        await pilot.press("right", "right", "minus", "right")  # 1.0 -> 1.1 -> 1.2 -> 1.1 -> 1.2
        await send(pilot, app, "second")
        await settle(pilot, app)
        await pilot.press("ctrl+t")  # steering off
        await send(pilot, app, "third")
        await settle(pilot, app)
        strengths = [(s.enabled, round(s.strength, 4)) for _, s in backend.calls]
        assert strengths == [(True, 1.0), (True, 1.2), (False, 1.2)]
        assert "steering off" in str(app.chat.status.render())
        assert [v.caption for v in app.screen.query(MessageView) if v.role == "assistant"] == [
            "assistant · steered ×1.00",
            "assistant · steered ×1.20",
            "assistant · unsteered",
        ]


async def test_per_domain_strengths_appear_when_the_vector_has_them():
    info = BackendInfo(model_name="m.gguf", n_ctx=512, vector_name="v.gguf", domains=("A", "N"))
    backend = FakeBackend(replies=[["ok"]], info=info)
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        control = app.screen.query_one("#domain-strength-N", StrengthControl)
        control.focus()
        await pilot.press("left", "left")
        await send(pilot, app, "hello")
        await settle(pilot, app)
        steering = backend.calls[0][1]
        assert dict(steering.domain_strengths) == {"A": 1.0, "N": pytest.approx(0.8)}


async def test_a_generation_error_is_a_notification_and_the_app_keeps_running():
    backend = FakeBackend(generate_error=PasoError("the model ran out of context"))
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "will fail")
        await settle(pilot, app)
        notes = [(n.message, n.severity) for n in app._notifications]
        assert ("the model ran out of context", "error") in notes
        assert views(app) == []  # the failed exchange is taken back...
        assert app.chat.prompt.value == "will fail"  # ...and the text given back to edit
        backend.generate_error = None
        backend.replies = [["works now"]]
        await pilot.press("enter")
        await settle(pilot, app)
        assert views(app)[-1][2] == "works now"


async def test_an_unexpected_exception_is_shown_too():
    backend = FakeBackend(generate_error=ValueError("boom"))
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "x")
        await settle(pilot, app)
        assert any("ValueError: boom" in n.message for n in app._notifications)
        assert app.is_running


async def test_a_model_that_fails_to_load_is_reported_and_sending_is_refused():
    backend = FakeBackend(load_error=PasoError("llama.cpp cannot load broken.gguf"))
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert any("cannot load broken.gguf" in n.message for n in app._notifications)
        await send(pilot, app, "hello?")
        await pilot.pause()
        assert backend.calls == []
        assert any("still loading" in n.message for n in app._notifications)


async def test_without_a_vector_it_says_what_to_run_and_chats_unsteered():
    info = BackendInfo(
        model_name="m.gguf",
        n_ctx=512,
        notices=("No profile 'default' yet, so replies are unsteered. Run `paso-local onboard` ...",),
    )
    backend = FakeBackend(replies=[["fine"]], info=info)
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert views(app)[0][0] == "note" and "paso-local onboard" in views(app)[0][2]
        panel = app.screen.query_one(SteeringPanel)
        assert panel.query_one("#steer-switch").disabled
        assert "No profile" in str(panel.query_one("#vector-note").render())
        await send(pilot, app, "hi")
        await settle(pilot, app)
        assert not backend.calls[0][1].enabled
        assert "unsteered (no vector)" in str(app.chat.status.render())
        await pilot.press("ctrl+r")
        assert any("nothing to compare" in n.message for n in app._notifications)


async def test_conversations_are_saved_and_reopened_from_the_list():
    backend = FakeBackend(replies=[["Answer one."], ["Answer two."], ["Answer three."]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "first question")
        await settle(pilot, app)
        await send(pilot, app, "second question")
        await settle(pilot, app)
        first_id = app.chat.conversation_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert views(app) == [] and app.chat.conversation_id is None
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConversationsScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(views(app)) == 4)
        assert app.chat.conversation_id == first_id
        assert [v[2] for v in views(app)] == [
            "first question",
            "Answer one.",
            "second question",
            "Answer two.",
        ]
        await send(pilot, app, "third question")
        await settle(pilot, app)
        assert backend.calls[-1][0] == [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "Answer one."},
            {"role": "user", "content": "second question"},
            {"role": "assistant", "content": "Answer two."},
            {"role": "user", "content": "third question"},
        ]
    store = ConversationStore()
    assert [(c.title, c.message_count) for c in store.list()] == [("first question", 6)]
    store.close()


async def test_input_history_walks_back_and_forth():
    backend = FakeBackend(replies=[["a"], ["b"]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "one")
        await settle(pilot, app)
        await send(pilot, app, "two")
        await settle(pilot, app)
        await pilot.press(*"dra", "up")
        assert app.chat.prompt.value == "two"
        await pilot.press("up", "up")
        assert app.chat.prompt.value == "one"
        await pilot.press("down", "down")
        assert app.chat.prompt.value == "dra"


async def test_sending_while_writing_is_refused_with_a_notice():
    backend = FakeBackend(replies=[["slow", " reply"]], hold=True)
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "first")
        await wait_for(pilot, lambda: app.chat.job is not None)
        await send(pilot, app, "second")
        await pilot.pause()
        assert any("Still writing" in n.message for n in app._notifications)
        await pilot.press("escape")
        await settle(pilot, app)
        assert len(backend.calls) == 1


async def test_quitting_while_writing_stops_the_reply():
    backend = FakeBackend(replies=[["endless", " story"]], hold=True)
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "tell me a story")
        await wait_for(pilot, lambda: any(v.text == "endless" for v in app.screen.query(MessageView)))
        await pilot.press("ctrl+q")
    assert app.chat.idle.is_set()  # the worker let go of the backend...
    assert backend.streams[0].stats.finish_reason == "cancelled"  # ...because the app told it to stop


async def test_the_sidebar_shows_the_profile_domain_bars():
    make_profile()
    app = ChatApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        bars = str(app.screen.query_one("#domain-bars").render())
        for name in ("Agreeableness", "Conscientiousness", "Extraversion", "Neuroticism", "Openness"):
            assert name in bars


def test_chat_screen_snapshot(snap_compare):
    make_profile()
    backend = FakeBackend(
        replies=[["I'd start with a **short walk**:\n\n- fresh air\n- a little movement\n\nThen tea."]],
        info=STEERED_INFO,
    )
    text, _ = profile_prompt_for("default")
    app = ChatApp(backend, profile_prompt=ProfilePrompt(text, on=True))  # what `paso-local chat` opens with

    async def chat(pilot) -> None:
        app.chat.prompt.cursor_blink = False  # a blinking cursor is on or off by the time of the screenshot
        await loaded(pilot, app)
        await send(pilot, app, "How should I start my morning?")
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=chat)


# --- a store that cannot be written, an empty vector, focus, seeds, context ----------------------------------


def fill_the_disk(store: ConversationStore) -> None:
    """Real SQLite "database or disk is full" (SQLITE_FULL): the store may not grow by a single page."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")


def free_the_disk(store: ConversationStore) -> None:
    store._db.execute("PRAGMA max_page_count = 1073741823")


LONG_REPLY = "long " * 3000  # 15 kB: needs new pages, which the full store cannot have


def errors(app: ChatApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def test_a_store_that_cannot_be_written_is_a_notification_and_saves_again_with_the_next_reply():
    store = ConversationStore()
    store.close()
    store = ConversationStore()  # an existing conversation store
    fill_the_disk(store)
    backend = FakeBackend(replies=[[LONG_REPLY], ["short answer"]])
    app = ChatApp(backend, store=store)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "first")
        await settle(pilot, app)
        assert app.is_running
        assert any(
            "the disk is full" in e and "kept here; saving again after the next reply" in e
            for e in errors(app)
        )
        assert views(app)[-1][2] == LONG_REPLY  # the reply stays on screen...
        assert app.chat.history[-1] == {"role": "assistant", "content": LONG_REPLY}  # ...and in the history
        assert [u.role for u in app.chat.unsaved] == ["assistant"]  # the person's message fitted
        free_the_disk(store)
        await send(pilot, app, "second")
        await settle(pilot, app)
        assert backend.calls[1][0][-2:] == [
            {"role": "assistant", "content": LONG_REPLY},
            {"role": "user", "content": "second"},
        ]
        assert app.chat.unsaved == []
        assert any("saved again" in n.message for n in app._notifications)
        saved = store.load(app.chat.conversation_id)
        assert [(m.role, m.content) for m in saved.messages] == [
            ("user", "first"),
            ("assistant", LONG_REPLY),
            ("user", "second"),
            ("assistant", "short answer"),
        ]
        assert closing_status(app) == 0


async def test_leaving_with_unsaved_messages_says_so_and_exits_1(capsys):
    store = ConversationStore()
    fill_the_disk(store)
    app = ChatApp(FakeBackend(replies=[[LONG_REPLY]]), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "hello")
        await settle(pilot, app)
        await pilot.press("ctrl+q")
    assert closing_status(app) == 1
    err = capsys.readouterr().err
    assert "Error: 1 message of this chat could not be saved" in err and "the disk is full" in err


async def test_a_compare_of_an_unsaved_reply_is_saved_beside_it_once_there_is_room():
    store = ConversationStore()
    fill_the_disk(store)
    app = ChatApp(FakeBackend(replies=[[LONG_REPLY], ["plain"]]), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "q")
        await settle(pilot, app)
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        assert views(app)[-1][1:] == ("compare · unsteered", "plain")
        free_the_disk(store)
        assert app.chat.session.save_unsaved() is None
        reply, compare = store.load(app.chat.conversation_id).messages[1:]
        assert (reply.content, compare.content, compare.compare_of) == (LONG_REPLY, "plain", reply.id)


async def test_a_vector_at_strength_0_says_replies_are_unsteered_and_steers_nothing():
    info = BackendInfo(
        model_name="m.gguf", n_ctx=512, vector_name="v.gguf", vector_empty=True, domains=("A", "N")
    )
    backend = FakeBackend(replies=[["plain"]], info=info)
    app = ChatApp(backend, steering=Steering(enabled=True, strength=1.0))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        status = str(app.chat.status.render())
        assert NO_DIRECTION in status and "×" not in status
        panel = app.screen.query_one(SteeringPanel)
        switch = panel.query_one("#steer-switch")
        assert switch.disabled and not switch.value
        assert str(panel.query_one("#steer-state").render()) == "off"
        assert panel.query_one("#strength", StrengthControl).disabled
        assert not panel.query("#domain-controls StrengthControl")  # no live sliders for an empty vector
        assert NO_DIRECTION.capitalize() in str(panel.query_one("#vector-note").render())
        await send(pilot, app, "hi")
        await settle(pilot, app)
        assert not backend.calls[0][1].enabled
        assert views(app)[-1][1] == "assistant · unsteered"
        await pilot.press("ctrl+r")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert len(backend.calls) == 1
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert sum("gave no reliable direction" in w for w in warnings) == 2


async def test_compare_samples_with_the_seed_of_the_reply_it_sits_beside():
    backend = FakeBackend(replies=[["steered"], ["plain"], ["again"]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "q")
        await settle(pilot, app)
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        app.screen.query(ReplyRow).last().seed = 7
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        assert backend.seeds == [0, 0, 7]
        assert [s.enabled for _, s in backend.calls] == [True, False, False]


async def test_focus_goes_back_to_the_message_box_and_typing_anywhere_lands_there():
    backend = FakeBackend(replies=[["one"]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        strength = app.screen.query_one("#strength", StrengthControl)
        strength.focus()
        await pilot.press("right", "enter")
        assert strength.value == pytest.approx(1.1) and app.focused is app.chat.prompt
        strength.focus()
        await pilot.press("minus")  # a key the strength binds keeps its meaning...
        assert strength.value == pytest.approx(1.0) and app.focused is strength
        await pilot.press("h", "i")  # ...any other printable key goes to the message box
        assert app.chat.prompt.value == "hi" and app.focused is app.chat.prompt
        await pilot.press("enter")
        await settle(pilot, app)
        assert backend.calls[0][0] == [{"role": "user", "content": "hi"}]
        app.screen.query_one("#compare-strength", StrengthControl).focus()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.focused is app.chat.prompt
        await pilot.press("o", "k")
        assert app.chat.prompt.value == "ok"


async def test_a_reopened_conversation_shows_its_own_context_use():
    backend = FakeBackend(replies=[["Answer one."], ["x"]])
    app = ChatApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await send(pilot, app, "a fairly long first question")
        await settle(pilot, app)
        first = app.chat.conversation_id
        await pilot.press("ctrl+n")
        await send(pilot, app, "short")
        await settle(pilot, app)
        await app.chat.open_conversation(first)
        expected = backend.count_tokens(app.chat.history)
        assert f"context {expected}/2048" in str(app.chat.status.render())


async def test_domain_names_are_whole_and_the_footer_says_ctrl_q():
    info = BackendInfo(model_name="m.gguf", n_ctx=512, vector_name="v.gguf", domains=tuple("ACENO"))
    app = ChatApp(FakeBackend(info=info))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        labels = [str(c.render()) for c in app.screen.query("#domain-controls StrengthControl")]
        names = ("Agreeableness", "Conscientiousness", "Extraversion", "Neuroticism", "Openness")
        assert len(labels) == len(names)
        for name, label in zip(names, labels, strict=True):
            assert name in label and "◀ 1.00 ▶" in label
        shown = {key for key, active in app.screen.active_bindings.items() if active.binding.show}
        assert "ctrl+q" in shown and "ctrl+c" not in shown


# --- the profile prompt --------------------------------------------------------------------------------------

PERSON = "You are a person with this personality: Extraversion 4.5 (high). Answer as this person would."


def notices(app: ChatApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_the_profile_prompt_is_shown_sent_and_kept_by_a_conversation_that_has_begun():
    backend = FakeBackend(replies=[["Hello."], ["Hi."]])
    app = ChatApp(backend, profile_prompt=ProfilePrompt(PERSON, on=True))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert views(app) == [("note", PROMPT_CAPTION, PERSON)]  # what the model is told, on screen
        assert "profile in the prompt" in str(app.chat.status.render())
        await send(pilot, app, "Hi")
        await settle(pilot, app)
        assert backend.calls[0][0] == [
            {"role": "system", "content": PERSON},
            {"role": "user", "content": "Hi"},
        ]
        await pilot.press("ctrl+p")  # off, but this conversation has begun: from the next one
        later = "Profile prompt off from the next conversation (Ctrl+N); this one keeps its own."
        assert later in notices(app)
        assert "profile in the prompt" in str(app.chat.status.render())
        await pilot.press("ctrl+n")
        assert views(app) == [] and "no profile prompt" in str(app.chat.status.render())
        await send(pilot, app, "Hey")
        await settle(pilot, app)
        assert backend.calls[1][0] == [{"role": "user", "content": "Hey"}]
        first = app.store.list()[-1]
        assert first.title == "Hi" and first.message_count == 3  # system, user, assistant


async def test_ctrl_p_turns_the_profile_prompt_on_at_once_while_nothing_is_sent():
    backend = FakeBackend(replies=[["Hello."]])
    app = ChatApp(backend, profile_prompt=ProfilePrompt(PERSON, on=False))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        assert views(app) == [] and "no profile prompt" in str(app.chat.status.render())
        await pilot.press("ctrl+p")
        assert views(app) == [("note", PROMPT_CAPTION, PERSON)] and "Profile prompt on." in notices(app)
        await send(pilot, app, "Hi")
        await settle(pilot, app)
        assert backend.calls[0][0][0] == {"role": "system", "content": PERSON}


async def test_without_a_profile_ctrl_p_says_why_there_is_no_profile_prompt():
    note = "No profile prompt: there is no profile 'default' yet (run `paso-local onboard`)."
    app = ChatApp(FakeBackend(), profile_prompt=ProfilePrompt(None, on=True, note=note))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await pilot.press("ctrl+p")
        assert note in notices(app) and views(app) == []
        assert "no profile prompt" in str(app.chat.status.render())


def memory_app(reader: str | None = None) -> tuple[ChatApp, FakeBackend]:
    """A chat whose answer memory is on, over a fake backend with two replies."""
    from paso_local.person.answer_memory import AnswerMemory
    from paso_local.tui.chat.session import AnswerRecall

    memory = AnswerMemory.from_answers({item.number: 1 + item.number % 5 for item in form_items("120")})
    backend = FakeBackend(replies=[["Go."], ["Fine."]])
    return ChatApp(backend, answer_recall=AnswerRecall(memory, on=True, reader=reader)), backend


async def test_the_answer_memory_shows_the_answers_in_use_and_ctrl_e_turns_it_off():
    from textual.widgets import Static

    app, backend = memory_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        answers = app.chat.panel.query_one("#answers-in-use", Static)
        assert "from the next message" in str(answers.render())
        await send(pilot, app, "Should I go to my colleague's party tonight?")
        await settle(pilot, app)
        system = backend.calls[0][0][0]
        assert system["role"] == "system" and "Love large parties." in system["content"]
        assert '"Love large parties."' in str(answers.render())
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert "off" in str(answers.render())
        await send(pilot, app, "And tomorrow?")
        await settle(pilot, app)
        assert backend.calls[1][0][0]["role"] != "system"  # no profile prompt, memory off: nothing added


async def test_the_memory_key_without_answers_says_why():
    from paso_local.tui.chat.session import AnswerRecall

    app = ChatApp(FakeBackend(), answer_recall=AnswerRecall(None, note="No answer memory: no answers yet."))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert any("No answer memory" in str(n.message) for n in app._notifications)


async def test_the_sidebar_says_when_the_profile_reader_is_on():
    from textual.widgets import Static

    app, _ = memory_app(reader="abc.reader-lora.gguf")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        answers = app.chat.panel.query_one("#answers-in-use", Static)
        assert "Profile reader on (abc.reader-lora.gguf)" in str(answers.render())
        await send(pilot, app, "Should I go to my colleague's party tonight?")
        await settle(pilot, app)
        shown = str(answers.render())
        assert "Profile reader on" in shown and '"Love large parties."' in shown
        await pilot.press("ctrl+y")
        await pilot.pause()
        shown = str(answers.render())
        assert (
            "Profile reader on" in shown and "Answer memory off" in shown
        )  # the adapter stays for the session
