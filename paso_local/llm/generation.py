"""The chat half of the runtime: the reply to a conversation, streamed token by token, with its figures.
`Runtime` (paso_local.llm.runtime) is a `ChatGeneration`; this module holds what only generation needs."""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from paso_local.errors import PasoError
from paso_local.llm.steering import Steering

DEFAULT_SEED = 0
PREFILL_CHUNK = 128  # prompts are evaluated in batches starting at multiples of this (see _prefill)


@dataclass(frozen=True)
class Sampling:
    """Sampling settings; temperature 0 is greedy. The seed is fixed so a reply can be reproduced."""

    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int = DEFAULT_SEED
    max_tokens: int = 512


@dataclass(frozen=True)
class GenerationStats:
    tokens: int
    prompt_tokens: int
    prompt_seconds: float
    decode_seconds: float
    tokens_per_second: float
    context_used: int
    context_size: int
    finish_reason: str  # "stop" (end of turn), "length" (max tokens), "context" (window full), "cancelled"
    steered: bool
    strength: float


class Generation:
    """An iterator of text pieces of one reply; `stats` is set once it is exhausted (or stopped)."""

    def __init__(self, source: Callable[[Generation], Iterator[str]]):
        self.stats: GenerationStats | None = None
        self.text = ""
        self._pieces = source(self)

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self.text += piece
            yield piece

    def collect(self) -> str:
        for _ in self:
            pass
        return self.text


class ChatGeneration:
    """Streaming a chat reply on the runtime's llama.cpp context (mixed into `Runtime`, which owns the model,
    the context, its steering and `_chunked_upto`: how far the cached prompt was evaluated in whole chunks)."""

    _llm: Any
    _vocab: Any
    _chunked_upto: int
    _applied_key: tuple
    info: Any
    chat_format: Any

    @property
    def context_used(self) -> int:
        return int(self._llm.n_tokens)

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self.chat_format.encode_chat(messages))

    def _context_words(self) -> str:
        """The context's size in words, with what was asked for when llama.cpp rounded --n-ctx up."""
        asked = int(getattr(getattr(self._llm, "context_params", None), "n_ctx", 0) or 0)
        text = f"{self.info.n_ctx}-token context"
        if asked and asked != self.info.n_ctx:
            text += f" (--n-ctx {asked}, rounded up by llama.cpp)"
        return text

    def fit_messages(self, messages: list[dict], reserve: int) -> list[dict]:
        """Drop the oldest turns (never a leading system message or the last message) until the prompt plus
        `reserve` tokens fit the context."""
        kept = list(messages)
        budget = self.info.n_ctx - reserve
        while self.count_tokens(kept) > budget:
            first = 1 if kept and kept[0].get("role") == "system" else 0
            if len(kept) - first <= 1:
                raise PasoError(
                    f"the message is {self.count_tokens(kept)} tokens; with {reserve} for the reply it "
                    f"does not fit the {self._context_words()}. Shorten it or raise --n-ctx."
                )
            del kept[first]
            while len(kept) - first > 1 and kept[first].get("role") == "assistant":
                del kept[first]  # a history starts with the person's turn: many templates insist
        return kept

    def stream_chat(
        self,
        messages: list[dict],
        *,
        sampling: Sampling = Sampling(),
        steering: Steering | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """Stream the assistant's reply to `messages`. Applies `steering` first when given; setting `stop`
        ends the reply after the current token."""
        if steering is not None:
            self.set_steering(steering)
        reserve = min(sampling.max_tokens, max(self.info.n_ctx // 2, 1))
        prompt = self.chat_format.encode_chat(self.fit_messages(messages, reserve))
        event = stop or threading.Event()
        return Generation(lambda generation: self._pieces(prompt, sampling, event, generation))

    def _prefill(self, prompt: list[int]) -> list[int]:
        """Evaluate `prompt` up to its last chunk in PREFILL_CHUNK batches that start at multiples of it,
        reusing only whole chunks an earlier prompt evaluated the same way; return the rest for generate().

        llama.cpp's numbers depend on how the tokens were batched: a reply on a cached prefix (a later turn)
        and the same reply computed afresh (a compare's, after its steering change) would differ even with
        the same seed. Batched the same way either way, they differ only by the steering."""
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens]  # the tokens whose KV cache llama.cpp holds
        limit = min(len(cached), len(prompt) - 1, self._chunked_upto)
        common = 0
        while common < limit and cached[common] == prompt[common]:
            common += 1
        start = common // PREFILL_CHUNK * PREFILL_CHUNK
        last = (len(prompt) - 1) // PREFILL_CHUNK * PREFILL_CHUNK
        llm.n_tokens = start  # eval() drops the cached cells from here on
        for begin in range(start, last, PREFILL_CHUNK):
            llm.eval(prompt[begin : begin + PREFILL_CHUNK])
        self._chunked_upto = last
        return prompt[last:]

    def _pieces(
        self, prompt: list[int], sampling: Sampling, stop: threading.Event, generation: Generation
    ) -> Iterator[str]:
        import llama_cpp

        llm = self._llm
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        llm.set_seed(sampling.seed)
        started = time.perf_counter()
        first_at = last_at = None
        produced = 0
        finish = "stop"
        try:
            tokens = llm.generate(
                self._prefill(prompt),
                temp=sampling.temperature,
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                min_p=sampling.min_p,
                repeat_penalty=sampling.repeat_penalty,
                reset=False,
            )
            for token in tokens:
                if stop.is_set():
                    finish = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    break
                last_at = time.perf_counter()
                if first_at is None:
                    first_at = last_at
                produced += 1
                piece = decoder.decode(llm.detokenize([token]))
                if piece:
                    yield piece
                if produced >= sampling.max_tokens:
                    finish = "length"
                    break
                if llm.n_tokens + 1 >= self.info.n_ctx:
                    finish = "context"
                    break
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        except RuntimeError as exc:  # llama_decode failures surface as RuntimeError
            raise PasoError(f"llama.cpp failed while generating: {exc}") from exc
        finally:
            generation.stats = self._stats(produced, len(prompt), started, first_at, last_at, finish)

    def _stats(
        self,
        produced: int,
        prompt_tokens: int,
        started: float,
        first_at: float | None,
        last_at: float | None,
        finish: str,
    ) -> GenerationStats:
        now = time.perf_counter()
        prompt_seconds = (first_at if first_at is not None else now) - started
        decode_seconds = (last_at - first_at) if first_at is not None and last_at is not None else 0.0
        if produced >= 2 and decode_seconds > 0:
            rate = (produced - 1) / decode_seconds
        else:
            rate = produced / max(now - started, 1e-9)
        strength = 0.0
        if self._applied_key and self._applied_key[0] is True:
            strength = float(self._applied_key[1])
        return GenerationStats(
            tokens=produced,
            prompt_tokens=prompt_tokens,
            prompt_seconds=prompt_seconds,
            decode_seconds=decode_seconds,
            tokens_per_second=rate,
            context_used=self.context_used,
            context_size=self.info.n_ctx,
            finish_reason=finish,
            steered=self.steered,
            strength=strength,
        )
