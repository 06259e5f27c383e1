"""The chat: conversation, message box, steering sidebar and status line. The model writes in a worker thread
that reaches the UI only through `call_from_thread`; every failure becomes a notification."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input

from paso_local.invocation import with_command_name
from paso_local.llm.controlvector import NO_DIRECTION
from paso_local.llm.generation import DEFAULT_SEED
from paso_local.llm.steering import UNSTEERED, Steering
from paso_local.store.conversations import ConversationStore
from paso_local.tui.chat.backend import BackendInfo, ChatBackend
from paso_local.tui.chat.conversation_actions import ConversationActions
from paso_local.tui.chat.messages import (
    CompareStrengthChanged,
    GenerationFailed,
    ModelLoaded,
    ModelLoadFailed,
    ReplyFinished,
    ReplyStreamed,
    SteeringChanged,
)
from paso_local.tui.chat.session import (
    NO_ANSWER_RECALL,
    NO_PROFILE_PROMPT,
    AnswerRecall,
    ChatSession,
    ProfilePrompt,
    Unsaved,
    compare_steering,
    describe,
    reply_caption,
)
from paso_local.tui.chat.streaming import stream_reply
from paso_local.tui.chat.widgets.conversation_view import ConversationView
from paso_local.tui.chat.widgets.message_view import MessageView
from paso_local.tui.chat.widgets.prompt_input import PromptInput
from paso_local.tui.chat.widgets.reply_row import ReplyRow
from paso_local.tui.chat.widgets.status_line import StatusLine, steering_text
from paso_local.tui.chat.widgets.steering_panel import SteeringPanel


@dataclass
class Job:
    """One reply being written: where it goes and what to save when it is done."""

    id: int
    kind: str  # "reply" or "compare"
    view: MessageView
    row: ReplyRow
    steering: Steering
    seed: int = DEFAULT_SEED  # its row's: a compare samples like its reply, so only the steering differs
    prompt: str | None = None  # the person's message (replies only)
    user_view: MessageView | None = None


class ChatScreen(ConversationActions, Screen):
    CSS_PATH = "chat_screen.tcss"
    BINDINGS = [
        Binding("escape", "stop", "stop"),
        Binding("ctrl+r", "compare", "compare"),
        Binding("ctrl+t", "toggle_steering", "steer on/off"),
        Binding("ctrl+p", "toggle_profile_prompt", "profile prompt"),
        Binding("ctrl+y", "toggle_memory", "answer memory"),
        Binding("ctrl+n", "new_conversation", "new"),
        Binding("ctrl+o", "open_conversations", "history"),
        Binding("enter", "focus_prompt", "back to the message box", show=False),
    ]

    def __init__(
        self,
        backend: ChatBackend,
        store: ConversationStore,
        *,
        profile_name: str,
        scores: Mapping[str, float | None] | None,
        profile_note: str | None,
        steering: Steering,
        compare_strength: float = 0.0,
        profile_prompt: ProfilePrompt = NO_PROFILE_PROMPT,
        answer_recall: AnswerRecall = NO_ANSWER_RECALL,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.store = store
        self.profile_name = profile_name
        self._panel_args = dict(
            profile_name=profile_name,
            scores=scores,
            profile_note=profile_note,
            steering=steering,
            compare_strength=compare_strength,
            reader=answer_recall.reader,
        )
        self.info: BackendInfo | None = None
        self.session = ChatSession(store, profile_name, profile_prompt, answer_recall)
        self.job: Job | None = None
        self._job_ids = 0
        self._stop = threading.Event()
        self.idle = threading.Event()  # set while no worker thread is using the backend
        self.idle.set()

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield ConversationView(id="conversation")
                yield PromptInput(placeholder="Write a message and press Enter", id="prompt")
            yield SteeringPanel(id="sidebar", **self._panel_args)
        yield StatusLine(id="status")
        yield Footer()

    # --- parts ----------------------------------------------------------------------------------------------

    @property
    def conversation(self) -> ConversationView:
        return self.query_one(ConversationView)

    @property
    def panel(self) -> SteeringPanel:
        return self.query_one(SteeringPanel)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def conversation_id(self) -> int | None:
        return self.session.conversation_id

    @property
    def history(self) -> list[dict]:
        return self.session.history

    @property
    def unsaved(self) -> list[Unsaved]:
        return self.session.unsaved

    def _steering_label(self) -> str:
        return steering_text(self.steering_now(), self.panel.has_vector, vector_empty=self.panel.vector_empty)

    def steering_now(self) -> Steering:
        """What the next reply uses: the sidebar's steering, or none without a vector."""
        return self.panel.steering if self.panel.has_vector else UNSTEERED

    # --- the worker thread ---------------------------------------------------------------------------------

    async def on_mount(self) -> None:
        self.prompt.focus()
        self.status.show(prompt=self._prompt_label())
        if self.session.memory_on or self.panel.reader:
            self.panel.show_answers(self.session.memory_on, None)
        await self._show_opening()
        self._start_worker(self._load_model)

    def _start_worker(self, work, *args: object) -> None:
        self.idle.clear()

        def run() -> None:
            try:
                work(*args)
            finally:
                self.idle.set()

        self.run_worker(run, thread=True, group="model", exit_on_error=False)

    def _post(self, message: Message) -> bool:
        """From the worker: hand a message to the UI thread. False once the app has closed."""
        try:
            self.app.call_from_thread(self.post_message, message)
        except RuntimeError:  # the app is no longer running: nobody to tell, so stop writing
            self._stop.set()
            return False
        return True

    def _load_model(self) -> None:
        try:
            info = self.backend.load()
        except Exception as exc:  # shown to the person; the app keeps running
            self._post(ModelLoadFailed(describe(exc)))
            return
        self._post(ModelLoaded(info))

    def _generate(self, job_id: int, messages: list[dict], steering: Steering, seed: int) -> None:
        stream_reply(self.backend, self._post, job_id, messages, steering, self._stop, seed)

    # --- model events --------------------------------------------------------------------------------------

    async def on_model_loaded(self, event: ModelLoaded) -> None:
        self.info = event.info
        self.session.model_name = event.info.model_name
        self.panel.configure(event.info)
        self.status.show(
            model=event.info.model_name,
            steering=self._steering_label(),
            context=(0, event.info.n_ctx),
            activity="ready",
        )
        for notice in event.info.notices:
            await self.conversation.add_message("note", notice, caption="note")
        for warning in event.info.warnings:
            self.notify(warning, title="Vector", severity="warning", timeout=20)

    def on_model_load_failed(self, event: ModelLoadFailed) -> None:
        self.status.show(activity="no model")
        self.notify(event.error, title="Cannot load the model", severity="error", timeout=30)

    # --- sending, streaming, finishing ---------------------------------------------------------------------

    def _can_start(self) -> bool:
        if self.info is None:
            self.notify("The model is still loading (or failed to load).", severity="warning")
            return False
        return not self._busy()

    def _busy(self) -> bool:
        """A reply is being written (said to the person): nothing else may start."""
        if self.job is not None:
            self.notify("Still writing: press Esc to stop it first.", severity="warning")
        return self.job is not None

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text or not self._can_start():
            return
        self.prompt.value = ""
        self.prompt.remember(text)
        steering = self.steering_now()
        user_view = await self.conversation.add_message("user", text, caption="you")
        view = await self.conversation.add_reply(caption=reply_caption(steering), steered=steering.enabled)
        job = self._new_job("reply", view, steering, prompt=text, user_view=user_view)
        messages = self.session.messages_with(text)
        self.panel.show_answers(self.session.memory_on, self.session.last_recall)
        self._run_job(job, messages)

    def _new_job(self, kind: str, view: MessageView, steering: Steering, **extra: object) -> Job:
        self._job_ids += 1
        row = view.parent
        assert isinstance(row, ReplyRow)
        return Job(self._job_ids, kind, view, row, steering, row.seed, **extra)  # a compare: its row's seed

    def _run_job(self, job: Job, messages: list[dict]) -> None:
        self.job = job
        self._stop.clear()
        self.status.show(activity="writing… (Esc stops)")
        self._start_worker(self._generate, job.id, messages, job.steering, job.seed)

    def _current(self, job_id: int) -> Job | None:
        return self.job if self.job is not None and self.job.id == job_id else None

    async def on_reply_streamed(self, event: ReplyStreamed) -> None:
        job = self._current(event.job)
        if job is not None:
            await job.view.append(event.text)
            self.conversation.follow()

    async def on_reply_finished(self, event: ReplyFinished) -> None:
        job = self._current(event.job)
        if job is None:
            return
        if event.rest:
            await job.view.append(event.rest)
        self.job = None
        stats = event.stats
        if stats is not None and stats.finish_reason == "cancelled":
            job.view.set_caption(job.view.caption + " · stopped")
        self.status.show(stats=stats, activity="ready")
        self.conversation.follow()
        if job.kind == "reply":
            self.session.record_reply(job.prompt, job.view.text, job.steering, job.row)
        else:
            self.session.record_compare(job.view.text, job.steering, job.row)
        self._save_with_notice()

    def _save_with_notice(self) -> None:
        error = self.session.save_unsaved()
        if error is not None:
            count = len(self.session.unsaved)
            self.notify(
                f"{error}. {count} message{'s' if count != 1 else ''} kept here; saving again after the "
                "next reply.",
                title="Not saved",
                severity="error",
                timeout=20,
            )
        elif self.session.save_error is not None:
            self.notify("The conversation is saved again.", title="Saved")
        self.session.save_error = error

    async def on_generation_failed(self, event: GenerationFailed) -> None:
        job = self._current(event.job)
        if job is None:
            return
        self.job = None
        self.status.show(activity="ready")
        self.notify(event.error, title="The model could not answer", severity="error", timeout=20)
        if job.kind == "reply":  # nothing was saved: take the exchange back and give the text back to edit
            await job.row.remove()
            if job.user_view is not None:
                await job.user_view.remove()
            self.prompt.value = job.prompt or ""
        else:
            await job.view.remove()

    # --- actions -------------------------------------------------------------------------------------------

    def action_focus_prompt(self) -> None:
        """Enter outside the message box (on a strength, say) goes back to it."""
        self.prompt.focus()

    def on_key(self, event: events.Key) -> None:
        """A printable key typed outside the message box goes into it; keys the focused control binds
        (- + on a strength, space on the switch) keep their meaning."""
        if not event.is_printable or not event.character or isinstance(self.focused, Input):
            return
        if event.key in self.active_bindings:
            return
        event.stop()
        event.prevent_default()
        self.prompt.focus()
        self.prompt.insert_text_at_cursor(event.character)

    def action_stop(self) -> None:
        if self.job is not None:
            self._stop.set()
            self.status.show(activity="stopping…")

    async def action_compare(self) -> None:
        """Regenerate the last reply beside itself: unsteered (or at the compare strength) when it was
        steered, steered at the current strength when it was not."""
        if not self._can_start():
            return
        row = self.conversation.last_reply_row()
        if row is None or not self.history:
            self.notify("Nothing to compare yet: send a message first.", severity="warning")
            return
        if not self.panel.has_vector:
            self.notify(f"{self._why_unsteered()}: nothing to compare.", severity="warning")
            return
        steering = compare_steering(row.steered, self.panel.steering, self.panel.compare_strength)
        view = await self.conversation.add_compare(row, caption=reply_caption(steering, compare=True))
        self._run_job(self._new_job("compare", view, steering), self.session.messages_for_compare())

    def _why_unsteered(self) -> str:
        if self.panel.vector_empty:
            return NO_DIRECTION.capitalize()
        return "No vector is loaded, so every reply is unsteered"

    def action_toggle_steering(self) -> None:
        if self.panel.vector_empty:
            self.notify(f"{self._why_unsteered()}.", severity="warning")
            return
        if not self.panel.has_vector:
            self.notify(
                with_command_name("No vector is loaded: run `paso-local align` to make one."),
                severity="warning",
            )
            return
        self.panel.set_enabled(not self.panel.steering.enabled)

    def on_steering_changed(self, event: SteeringChanged) -> None:
        self.status.show(steering=self._steering_label())

    def on_compare_strength_changed(self, event: CompareStrengthChanged) -> None:
        how = "unsteered" if event.strength == 0 else f"at strength {event.strength:.2f}"
        self.status.show(activity=f"compare regenerates {how}")

    # --- shutting down -------------------------------------------------------------------------------------

    def on_unmount(self) -> None:
        self._stop.set()  # the app is closing: a reply being written ends after its current token

    def stop_and_wait(self, timeout: float = 10.0) -> bool:
        """Stop any reply and wait for the worker thread to let go of the backend (call before closing it)."""
        self._stop.set()
        return self.idle.wait(timeout)
