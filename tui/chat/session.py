"""The conversation behind the chat screen, as plain state (no Textual here): the history the model sees, the
messages queued for the store and their saving, what a compare regenerates, and how a saved conversation is
shown again. The screen (chat_screen.py) draws it and runs the model; this is tested without a screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.llm.steering import UNSTEERED, Steering
from paso_local.person.answer_memory import AnswerMemory
from paso_local.person.recall import NOTHING, Recall, recall_for, with_recall
from paso_local.store.conversations import Conversation, ConversationStore


class StoredRow(Protocol):
    """A reply on screen: it learns its stored id once saved (compare replies are saved beside it)."""

    stored_id: int | None


PROMPT_CAPTION = "system prompt"


def describe(exc: BaseException) -> str:
    return with_command_name(str(exc)) if isinstance(exc, PasoError) else f"{type(exc).__name__}: {exc}"


def reply_caption(steering: Steering, *, compare: bool = False) -> str:
    how = f"steered ×{steering.strength:.2f}" if steering.enabled else "unsteered"
    return f"{'compare' if compare else 'assistant'} · {how}"


def compare_steering(reply_steered: bool, current: Steering, compare_strength: float) -> Steering:
    """What a compare regenerates the last reply with: unsteered (or at the compare strength) when it was
    steered, steered at the current strength when it was not."""
    if reply_steered:
        if compare_strength > 0:
            return Steering(True, compare_strength, current.domain_strengths)
        return UNSTEERED
    return Steering(True, current.strength, current.domain_strengths)


@dataclass(frozen=True)
class ProfilePrompt:
    """The person's description for the system prompt: `text` None when there is none (`note` says why),
    `on` whether new conversations begin with it."""

    text: str | None = None
    on: bool = False
    note: str | None = None


NO_PROFILE_PROMPT = ProfilePrompt()


@dataclass(frozen=True)
class AnswerRecall:
    """The person's answers as a memory (paso_local.person.recall): `memory` None when there is none (`note` says
    why), `on` whether each message brings back the answers it is about, `reader` the profile reader applied."""

    memory: AnswerMemory | None = None
    on: bool = False
    note: str | None = None
    reader: str | None = None  # the profile reader's file name when it is applied (it reads these answers)


NO_ANSWER_RECALL = AnswerRecall()


@dataclass
class SavedAs:
    """Where a conversation is stored: `id` is None until its first message is saved."""

    id: int | None = None


@dataclass
class Unsaved:
    """A message that is on screen and in the history but not yet in the store (saved with the next reply)."""

    conversation: SavedAs
    role: str
    content: str
    steered: bool = False
    strength: float | None = None
    row: StoredRow | None = None  # a reply's row: it learns its stored id once saved
    compare_of: StoredRow | None = None  # a compare reply: the row of the reply it sits beside


@dataclass(frozen=True)
class Replayed:
    """One saved message as the screen shows it again. `kind`: user, note, reply or compare."""

    kind: str
    content: str
    caption: str
    stored_id: int | None = None
    steered: bool = False
    compare_of: int | None = None  # a compare: the stored id of the reply it sits beside


def replay(saved: Conversation) -> list[Replayed]:
    """A saved conversation's messages in the order and with the captions the chat showed them."""
    shown = []
    for message in saved.messages:
        steering = Steering(message.steered, message.strength or 0.0)
        if message.role == "user":
            shown.append(Replayed("user", message.content, "you"))
        elif message.role == "system":
            shown.append(Replayed("note", message.content, PROMPT_CAPTION))
        elif message.compare_of is None:
            shown.append(
                Replayed("reply", message.content, reply_caption(steering), message.id, message.steered)
            )
        else:
            caption = reply_caption(steering, compare=True)
            shown.append(Replayed("compare", message.content, caption, compare_of=message.compare_of))
    return shown


class ChatSession:
    """One conversation: what the model sees next, and what still has to reach the store. A message that
    cannot be saved (a full disk, a locked store) stays queued and is saved with the next reply."""

    def __init__(
        self,
        store: ConversationStore,
        profile_name: str,
        profile_prompt: ProfilePrompt = NO_PROFILE_PROMPT,
        answer_recall: AnswerRecall = NO_ANSWER_RECALL,
    ) -> None:
        self.store = store
        self.profile_name = profile_name
        self.model_name = ""  # stored with a new conversation once the model is loaded
        self.profile_prompt = profile_prompt.text  # the person described to the model (None: not available)
        self.prompt_note = profile_prompt.note  # why there is none
        # new conversations begin with it (never without a text to begin with)
        self.prompt_on = profile_prompt.on and profile_prompt.text is not None
        self.memory = answer_recall.memory
        self.memory_note = answer_recall.note
        self.memory_on = answer_recall.on and answer_recall.memory is not None
        self.last_recall: Recall = NOTHING  # the answers shown with the last message sent
        self.history: list[dict] = self._opening()
        self.saved_as = SavedAs()
        self.unsaved: list[Unsaved] = []  # oldest first
        self.save_error: str | None = None

    @property
    def conversation_id(self) -> int | None:
        return self.saved_as.id

    def messages_with(self, text: str) -> list[dict]:
        """What the model is asked for a reply to `text`: with the memory on, the person's answers on what
        the message is about join the system message for this request (they are not stored)."""
        self.last_recall = recall_for(self.memory, text) if self.memory_on else NOTHING
        return with_recall([*self.history, {"role": "user", "content": text}], self.last_recall)

    def messages_for_compare(self) -> list[dict]:
        """What the model is asked to write the last reply again: the history before it, with the answers
        the last message brought back."""
        return with_recall(self.history[:-1], self.last_recall)

    def set_memory(self, on: bool) -> None:
        """The answer memory on or off, from the next message."""
        self.memory_on = on and self.memory is not None

    def _opening(self) -> list[dict]:
        """What a new conversation starts with: the profile prompt as its system message, when on."""
        if self.prompt_on:
            return [{"role": "system", "content": self.profile_prompt}]
        return []

    @property
    def system_prompt(self) -> str | None:
        """The system message the model sees in this conversation (a reopened one keeps its own)."""
        first = self.history[0] if self.history else None
        return first["content"] if first is not None and first["role"] == "system" else None

    @property
    def started(self) -> bool:
        return self.saved_as.id is not None or any(m["role"] != "system" for m in self.history)

    def set_profile_prompt(self, on: bool) -> bool:
        """Turn the profile prompt on or off for new conversations; True when it applies to this one too
        (nothing sent in it yet). A conversation keeps the system message it began with."""
        self.prompt_on = on and self.profile_prompt is not None
        if self.started:
            return False
        self.history = self._opening()
        return True

    def record_reply(self, prompt: str | None, text: str, steering: Steering, row: StoredRow) -> None:
        """Keep a finished reply (and the person's message) in the history and queue both for the store;
        the first reply of a conversation that opens with a system message queues that message first."""
        strength = steering.strength if steering.enabled else None
        if not self.started and self.system_prompt is not None:
            self.unsaved.append(Unsaved(self.saved_as, "system", self.system_prompt))
        self.history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]
        self.unsaved.append(Unsaved(self.saved_as, "user", prompt or ""))
        self.unsaved.append(Unsaved(self.saved_as, "assistant", text, steering.enabled, strength, row=row))

    def record_compare(self, text: str, steering: Steering, of_row: StoredRow) -> None:
        """Queue a finished compare reply, saved beside the reply it regenerates (not in the history)."""
        strength = steering.strength if steering.enabled else None
        self.unsaved.append(
            Unsaved(self.saved_as, "assistant", text, steering.enabled, strength, compare_of=of_row)
        )

    def save_unsaved(self) -> str | None:
        """Write the queued messages in order; None when all are saved, else why the first one failed (it
        and the rest stay queued for the next try)."""
        while self.unsaved:
            entry = self.unsaved[0]
            try:
                self._store(entry)
            except Exception as exc:  # a full disk, a locked or damaged store: reported, kept in memory
                return describe(exc)
            self.unsaved.pop(0)
        return None

    def _store(self, entry: Unsaved) -> None:
        if entry.conversation.id is None:
            entry.conversation.id = self.store.create(
                self._title_of(entry), model=self.model_name, profile=self.profile_name
            )
        compare_of = entry.compare_of.stored_id if entry.compare_of is not None else None
        stored = self.store.add_message(
            entry.conversation.id,
            entry.role,
            entry.content,
            steered=entry.steered,
            strength=entry.strength,
            compare_of=compare_of,
        )
        if entry.row is not None:
            entry.row.stored_id = stored

    def _title_of(self, entry: Unsaved) -> str:
        """A new conversation's title: its first message from the person (not the system message)."""
        if entry.role == "user":
            return entry.content
        first = (u for u in self.unsaved if u.conversation is entry.conversation and u.role == "user")
        return next(first, entry).content

    def start_new(self) -> None:
        """An empty conversation; messages of the old one still queued keep their own SavedAs."""
        self.history = self._opening()
        self.saved_as = SavedAs()

    def open(self, conversation_id: int) -> Conversation:
        """Continue a saved conversation: its history is what the model sees next. Raises what the store
        raises (nothing changes then)."""
        saved = self.store.load(conversation_id)
        self.history = saved.history()
        self.saved_as = SavedAs(saved.id)
        return saved
