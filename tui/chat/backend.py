"""What the chat app needs from a model: a protocol (tests pass a scripted fake) and the real one, over the
runtime.

`load` and `generate` run in the app's worker thread, one call at a time; they must never touch the UI.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from paso_local.llm.generation import DEFAULT_SEED, GenerationStats, Sampling
from paso_local.llm.runtime import Runtime
from paso_local.llm.steering import UNSTEERED, Steering

CHAT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class BackendInfo:
    model_name: str
    n_ctx: int
    vector_name: str | None = None  # None: no vector, the chat is unsteered
    vector_empty: bool = False  # the vector steers nothing (strength 0): the chat is unsteered
    domains: tuple[str, ...] = ()  # domains the vector can scale one by one
    notices: tuple[str, ...] = ()  # what to run to get steering (onboard, align)
    warnings: tuple[str, ...] = ()  # e.g. the vector was made for another file of the same shape


class ReplyStream(Protocol):
    """Text pieces of one reply; `stats` is set once the iteration ends."""

    stats: GenerationStats | None

    def __iter__(self) -> Iterator[str]: ...


class ChatBackend(Protocol):
    def load(self) -> BackendInfo: ...

    def generate(
        self, messages: list[dict], steering: Steering, stop: threading.Event, *, seed: int = DEFAULT_SEED
    ) -> ReplyStream: ...

    def count_tokens(self, messages: list[dict]) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RuntimeOptions:
    model: str | None = None
    profile: str = "default"
    vector: str | None = None
    n_ctx: int = 4096
    threads: int | None = None
    n_gpu_layers: int | None = None  # None: every layer on the RPC servers when there are any, else none
    rpc_servers: tuple[
        str, ...
    ] = ()  # HOST:PORT of llama.cpp rpc-servers (see paso_local.tui.chat.process_backend)
    max_tokens: int = CHAT_MAX_TOKENS
    adapter: str | None = None  # a LoRA GGUF (align --method dpo|ppo), applied for the whole session


class RuntimeBackend:
    """The real backend: paso_local.llm.runtime over llama-cpp-python (imported only when `load` runs)."""

    def __init__(self, options: RuntimeOptions):
        self.options = options
        self._runtime = None
        self._adapter = None

    def load(self) -> BackendInfo:
        from paso_local.llm.modelfiles import resolve_model
        from paso_local.llm.rpc import parse_endpoint
        from paso_local.person.vector_store import choose_vector

        model = resolve_model(self.options.model)
        vector_path, notice = choose_vector(self.options.profile, model, explicit=self.options.vector)
        runtime = Runtime.open(
            model,
            n_ctx=self.options.n_ctx,
            n_threads=self.options.threads,
            n_gpu_layers=self.options.n_gpu_layers,
            rpc_servers=[parse_endpoint(server) for server in self.options.rpc_servers],
        )
        notices = [notice] if notice else []
        try:
            loaded = runtime.load_vector(vector_path) if vector_path is not None else None
            if self.options.adapter:
                from paso_local.llm.lora_adapter import apply_lora

                self._adapter = apply_lora(runtime, self.options.adapter)
                notices.append(f"LoRA adapter {Path(self.options.adapter).name} applied")
        except BaseException:
            runtime.close()
            raise
        self._runtime = runtime
        return BackendInfo(
            model_name=Path(model).name,
            n_ctx=runtime.info.n_ctx,
            vector_name=loaded.path.name if loaded else None,
            vector_empty=loaded.vector.is_empty if loaded else False,
            domains=tuple(sorted(loaded.domains)) if loaded else (),
            notices=tuple(notices),
            warnings=loaded.warnings if loaded else (),
        )

    def generate(
        self, messages: list[dict], steering: Steering, stop: threading.Event, *, seed: int = DEFAULT_SEED
    ) -> ReplyStream:
        runtime = self._loaded()
        if runtime.vector is None or runtime.vector.vector.is_empty:
            steering = UNSTEERED
        sampling = Sampling(max_tokens=self.options.max_tokens, seed=seed)
        return runtime.stream_chat(messages, sampling=sampling, steering=steering, stop=stop)

    def count_tokens(self, messages: list[dict]) -> int:
        """The conversation's size in tokens as the model sees it (call while no reply is being written)."""
        return self._loaded().count_tokens(messages) if messages else 0

    def _loaded(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the model is not loaded yet")
        return self._runtime

    def close(self) -> None:
        runtime, self._runtime = self._runtime, None
        adapter, self._adapter = self._adapter, None
        if adapter is not None:
            adapter.close()
        if runtime is not None:
            runtime.close()
