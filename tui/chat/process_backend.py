"""The chat's model in a child process, for models split over llama.cpp rpc-servers.

Why: llama.cpp's RPC client ends its whole process (GGML_ABORT, "Remote RPC server crashed or returned
malformed response") when a server drops or restarts mid-reply. In a child process that ends only the child:
the chat shows what happened, keeps the conversation, and the next message starts the model again.

The child runs the ordinary backend (`RuntimeBackend`) and answers requests over a pipe, one at a time:
("load",), ("generate", messages, steering, seed), ("count", messages), ("close",). It answers ("ok", value),
("piece", text) while a reply is written, or ("error", text). Its stderr (llama.cpp's messages) goes to a
private temporary file whose last line explains a crash.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paso_local.errors import PasoError
from paso_local.llm.generation import DEFAULT_SEED, GenerationStats
from paso_local.llm.llama_native import ABORT_PREFIX
from paso_local.llm.steering import Steering
from paso_local.tui.chat.backend import BackendInfo, RuntimeBackend, RuntimeOptions
from paso_local.tui.chat.session import describe

POLL_SECONDS = 0.1  # how often a waiting parent checks the stop key and whether the child is alive


class ProcessBackend:
    """A ChatBackend that runs `factory(options)` (RuntimeBackend by default) in a child process."""

    def __init__(self, options: RuntimeOptions, factory: Callable[[RuntimeOptions], Any] = RuntimeBackend):
        self.options = options
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
        self._process: Any = None
        self._conn: Any = None
        self._stop = self._context.Event()
        fd, name = tempfile.mkstemp(prefix="paso-chat-model-", suffix=".log")  # 0600
        os.close(fd)
        self._log = Path(name)
        self._loaded = False
        self.restarts = 0

    def load(self) -> BackendInfo:
        self._start()
        info = self._request("load")
        self._loaded = True
        return info

    def generate(
        self, messages: list[dict], steering: Steering, stop: threading.Event, *, seed: int = DEFAULT_SEED
    ) -> ProcessReply:
        self._ensure_running()
        self._stop.clear()
        self._conn.send(("generate", messages, steering, seed))
        return ProcessReply(self, stop)

    def count_tokens(self, messages: list[dict]) -> int:
        if not messages:
            return 0
        self._ensure_running()
        return self._request("count", messages)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                try:
                    self._conn.send(("close",))
                    process.join(timeout=10)
                except (OSError, EOFError):
                    pass
            if process.is_alive():
                process.kill()
                process.join()
            self._conn.close()
        self._log.unlink(missing_ok=True)

    # --- the child -----------------------------------------------------------------------------------------

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._conn = parent
        self._process = self._context.Process(
            target=serve, args=(self._factory, self.options, child, self._stop, str(self._log)), daemon=True
        )
        self._process.start()
        child.close()

    def _ensure_running(self) -> None:
        """After a crash: start the model again (a reload, over RPC too) before the next request."""
        if self._process is not None and self._process.is_alive():
            return
        if not self._loaded:
            raise PasoError("the model is not loaded yet")
        self._conn.close()
        self.restarts += 1
        self.load()

    def _request(self, kind: str, *args: Any) -> Any:
        self._conn.send((kind, *args))
        answer, value = self.receive()
        if answer != "ok":
            raise PasoError(value)
        return value

    def receive(self, stop: threading.Event | None = None) -> tuple[str, Any]:
        """The child's next message; a PasoError saying why when the child has ended."""
        while True:
            if stop is not None and stop.is_set():
                self._stop.set()
            try:
                if self._conn.poll(POLL_SECONDS):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            else:
                if self._process.is_alive():
                    continue
            self._process.join(timeout=5)
            raise PasoError(self._crash_message())

    def _crash_message(self) -> str:
        code = self._process.exitcode
        lines = [line.strip() for line in _read_tail(self._log).splitlines() if line.strip()]
        said = [line.removeprefix(ABORT_PREFIX) for line in lines if line.startswith(ABORT_PREFIX)]
        last = said[-1] if said else lines[-1] if lines else ""
        why = f": {last}" if last else ""
        servers = ", ".join(self.options.rpc_servers) or "none"
        return (
            f"the model stopped (its process ended with status {code}{why}). RPC servers: {servers}; if one "
            "was stopped or its network dropped, start it again. The conversation is kept; the next "
            "message loads the model again."
        )


class ProcessReply:
    """The pieces of one reply from the child; `stats` once it ends."""

    def __init__(self, backend: ProcessBackend, stop: threading.Event):
        self._backend = backend
        self._stop = stop
        self.stats: GenerationStats | None = None

    def __iter__(self) -> Iterator[str]:
        while True:
            kind, value = self._backend.receive(self._stop)
            if kind == "piece":
                yield value
            elif kind == "ok":
                self.stats = value
                return
            else:
                raise PasoError(value)


def serve(factory: Callable, options: RuntimeOptions, conn: Any, stop: Any, log: str) -> None:
    """The child's loop: answer requests until "close" or the parent goes away."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)  # llama.cpp's messages, an abort's included, go to the log, never over the chat's screen
    os.close(fd)
    backend = factory(options)
    try:
        while True:
            try:
                kind, *args = conn.recv()
            except (EOFError, OSError):
                return
            if kind == "close":
                return
            try:
                conn.send(("ok", _answer(backend, kind, args, stop, conn)))
            except Exception as exc:  # told to the parent, which shows it; the child keeps serving
                conn.send(("error", describe(exc)))
    finally:
        backend.close()


def _answer(backend: Any, kind: str, args: list, stop: Any, conn: Any) -> Any:
    if kind == "load":
        return backend.load()
    if kind == "count":
        return backend.count_tokens(args[0])
    messages, steering, seed = args
    stream = backend.generate(messages, steering, stop, seed=seed)
    for piece in stream:
        conn.send(("piece", piece))
    return stream.stats


def _read_tail(path: Path, size: int = 4096) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
