"""Scripted chat backends for tests/test_rpc.py, importable by the child process ProcessBackend starts."""

from __future__ import annotations

import os
import sys
import time

from paso_local.errors import PasoError
from paso_local.llm.generation import GenerationStats
from paso_local.tui.chat.backend import BackendInfo


class ScriptedReply:
    def __init__(self, pieces, crash_after=None, stop=None):
        self.pieces, self.crash_after, self.stop = pieces, crash_after, stop
        self.stats = None

    def __iter__(self):
        for index, piece in enumerate(self.pieces):  # noqa: B007 - index is read after the loop
            if self.crash_after is not None and index == self.crash_after:
                print(
                    "ggml-rpc.cpp:35: Remote RPC server crashed or returned malformed response",
                    file=sys.stderr,
                )
                sys.stderr.flush()
                os.abort()  # what GGML_ABORT does to the process
            if self.stop is not None and self.stop.is_set():
                break
            yield piece
        self.stats = GenerationStats(
            tokens=index + 1,
            prompt_tokens=3,
            prompt_seconds=0.0,
            decode_seconds=0.1,
            tokens_per_second=30.0,
            context_used=6,
            context_size=512,
            finish_reason="stop",
            steered=False,
            strength=0.0,
        )


class ScriptedBackend:
    """Replies "one two three" word by word; a message "crash" makes the process abort mid-reply, the way
    llama.cpp's RPC client does when its server drops; "slow" writes a piece per 50 ms until stopped."""

    def __init__(self, options):
        self.options = options

    def load(self):
        return BackendInfo(model_name="scripted.gguf", n_ctx=512)

    def generate(self, messages, steering, stop, *, seed=0):
        text = messages[-1]["content"]
        if text == "refuse":
            raise PasoError("the scripted model refuses")
        if text == "slow":
            return ScriptedReply(_slow_pieces(), stop=stop)
        return ScriptedReply(["one ", "two ", "three"], crash_after=1 if text == "crash" else None)

    def count_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def close(self):
        pass


def _slow_pieces():
    for index in range(200):
        time.sleep(0.05)
        yield f"{index} "
