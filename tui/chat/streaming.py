"""A reply written in the worker thread, handed to the UI in batches (no Textual here: `post` is how the chat
screen reaches its thread). Every failure is posted as a message; the worker never raises."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from paso_local.llm.generation import GenerationStats
from paso_local.llm.steering import Steering
from paso_local.tui.chat.messages import GenerationFailed, ReplyFinished, ReplyStreamed
from paso_local.tui.chat.session import describe

FLUSH_SECONDS = 0.05  # the worker hands text to the UI at most 20 times a second


def stream_reply(
    backend: Any,
    post: Callable[[Any], bool],
    job_id: int,
    messages: list[dict],
    steering: Steering,
    stop: threading.Event,
    seed: int,
) -> None:
    """Generate the reply to `messages` and post it: ReplyStreamed pieces, then ReplyFinished (or
    GenerationFailed). `post` returns False once nobody listens (the app closed): writing stops there."""
    stats: GenerationStats | None = None
    pending: list[str] = []
    try:
        stream = backend.generate(messages, steering, stop, seed=seed)
        flushed = float("-inf")  # the first piece shows at once
        for piece in stream:
            pending.append(piece)
            if time.monotonic() - flushed >= FLUSH_SECONDS:
                if not post(ReplyStreamed(job_id, "".join(pending))):
                    return
                pending.clear()
                flushed = time.monotonic()
        stats = stream.stats
    except Exception as exc:  # shown to the person; the app keeps running
        post(GenerationFailed(job_id, describe(exc)))
        return
    post(ReplyFinished(job_id, "".join(pending), stats))
