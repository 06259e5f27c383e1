"""The one adapter over llama-cpp-python: load a GGUF model, apply a control vector, stream a chat reply.

Steering facts this module relies on (llama.cpp's llama_set_adapter_cvec): the vector is applied with
`llama_set_adapter_cvec` as the FULL (n_layer - 1) * n_embd buffer, cleared with a null buffer, and every
change is followed by `Llama.reset()`, because llama.cpp keeps the KV cache (computed under the old steering)
otherwise.

A `Runtime` is not thread-safe: one thread at a time generates (the chat app uses a single worker).
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paso_local.controlvector import (
    META_MODEL_SHA256,
    ControlVector,
    DomainVector,
    domain_vectors,
    read_control_vector,
    vector_model_name,
)
from paso_local.errors import PasoError

if TYPE_CHECKING:
    from paso_local.lora_adapter import LoraHandle

EXTRA_BUFFERS_ENV = "PASO_LOCAL_EXTRA_BUFFERS"
VERBOSE_ENV = "PASO_LOCAL_VERBOSE"  # set by `paso-local --verbose`: llama.cpp's own log lines are shown
CVEC_FUNCTIONS = ("llama_set_adapter_cvec", "llama_apply_adapter_cvec", "llama_control_vector_apply")
DEFAULT_SEED = 0
MAX_STRENGTH = 3.0  # --strength and the chat's strength controls run from 0 to this
PREFILL_CHUNK = 128  # prompts are evaluated in batches starting at multiples of this (see Runtime._prefill)
MIN_CONTEXT = 128
REST_TOLERANCE = 1e-4  # relative size below which a vector counts as exactly the sum of its domain parts


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model is, from its own metadata (never from its file name)."""

    path: Path
    architecture: str
    name: str
    description: str
    n_embd: int
    n_layer: int
    n_ctx: int
    size_bytes: int

    @property
    def file_name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Steering:
    """How to steer the next generation: on/off, overall strength, per-domain multipliers (default 1.0)."""

    enabled: bool = True
    strength: float = 1.0
    domain_strengths: Mapping[str, float] = field(default_factory=dict)

    def key(self) -> tuple:
        """Equal keys mean llama.cpp needs no new buffer (off is off whatever the strengths say)."""
        if not self.enabled:
            return (False,)
        return (
            True,
            float(self.strength),
            tuple(sorted((k, float(v)) for k, v in self.domain_strengths.items())),
        )


UNSTEERED = Steering(enabled=False)


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


@dataclass(frozen=True)
class LoadedVector:
    """A control vector validated against the loaded model."""

    path: Path
    vector: ControlVector
    domains: dict[str, DomainVector]
    warnings: tuple[str, ...] = ()

    def composed(self, steering: Steering) -> ControlVector:
        """strength * (rest + sum_d m_d * s_d * dir_d), where rest is what the file's vector holds beyond its
        domain parts (nothing, up to rounding, for align's vectors). All multipliers 1: the file's vector."""
        multipliers = {d: float(m) for d, m in steering.domain_strengths.items() if d in self.domains}
        if all(m == 1.0 for m in multipliers.values()):
            return self.vector.scaled(steering.strength)
        layers = sorted(set(self.vector.directions).union(*(p.directions for p in self.domains.values())))
        zero = np.zeros(self.vector.n_embd, dtype=np.float64)
        parts = {layer: zero.copy() for layer in layers}
        scaled = {layer: zero.copy() for layer in layers}
        for domain, part in self.domains.items():
            weight = multipliers.get(domain, 1.0)
            for layer, direction in part.directions.items():
                parts[layer] += part.strength * direction
                scaled[layer] += weight * part.strength * direction
        combined = {layer: self.vector.directions.get(layer, zero).astype(np.float64) for layer in layers}
        rest = {layer: combined[layer] - parts[layer] for layer in layers}
        total = np.sqrt(sum(float(v @ v) for v in combined.values()))
        if np.sqrt(sum(float(v @ v) for v in rest.values())) <= REST_TOLERANCE * max(total, 1e-30):
            rest = {layer: zero for layer in layers}  # the file's vector is the sum of its parts
        directions = {layer: (rest[layer] + scaled[layer]).astype(np.float32) for layer in layers}
        return replace(self.vector, directions=directions).scaled(steering.strength)


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


class Runtime:
    """A loaded model and its llama.cpp context, with optional steering. Close it (or use `with`)."""

    def __init__(self, llm: Any, info: ModelInfo, *, logits_all: bool = False):
        from paso_local.chat_format import ChatFormat

        self._llm = llm
        self.info = info
        self._logits_all = logits_all
        self.chat_format = ChatFormat.from_llama(llm)
        self.vector: LoadedVector | None = None
        self._applied_key: tuple = (False,)
        self._vocab = _llama_api().llama_model_get_vocab(llm.model)
        self._chunked_upto = 0  # the cached prompt positions below this were evaluated in whole chunks
        self._decoder: Any = None  # paso_local.llama_batch.SequenceDecoder, made on first use

    # --- loading -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        extra_buffers: bool | None = None,
        n_seq_max: int = 1,
        n_batch: int = 512,
    ) -> Runtime:
        """Load a GGUF model. `extra_buffers` enables llama.cpp's CPU weight repacking (AMX / CPU_REPACK);
        None reads PASO_LOCAL_EXTRA_BUFFERS (default off: on some virtual machines AMX crashes llama.cpp).
        `n_seq_max` > 1 lets `batch_logits` run that many prompts at once (a unified KV cache of n_ctx cells
        shared by all of them); `n_batch` is the most tokens one decode takes."""
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise PasoError(
                f"model file {path} does not exist; give the path of a .gguf file (see `paso-local models`)"
            )
        if n_ctx < MIN_CONTEXT:
            raise PasoError(f"--n-ctx {n_ctx} is too small; use at least {MIN_CONTEXT}")
        threads = n_threads if n_threads and n_threads > 0 else (os.cpu_count() or 1)
        if extra_buffers is None:
            extra_buffers = os.environ.get(EXTRA_BUFFERS_ENV, "0").strip().lower() in (
                "1",
                "true",
                "yes",
                "on",
            )
        contexts = {"n_seq_max": n_seq_max, "kv_unified": True} if n_seq_max > 1 else {}
        return cls._load(
            path,
            extra_buffers=extra_buffers,
            contexts=contexts,
            n_ctx=n_ctx,
            n_batch=n_batch,
            n_ubatch=n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=n_gpu_layers,
            seed=DEFAULT_SEED,
        )

    @classmethod
    def open_reference(
        cls, model_path: str | Path, *, n_ctx: int, logits_all: bool = False, n_threads: int | None = None
    ) -> Runtime:
        """The model as check-model compares it with torch: a prompt of up to `n_ctx` tokens (any size) in
        one decode, llama-cpp-python's default threads unless `n_threads`, no weight repacking (it computes
        the same products and crashes on virtual machines that advertise AMX without enabling it).
        `logits_all` keeps every position's logits for `all_logits`."""
        threads = {"n_threads": n_threads, "n_threads_batch": n_threads} if n_threads else {}
        return cls._load(
            Path(model_path).expanduser(),
            extra_buffers=False,
            contexts={},
            n_ctx=n_ctx,
            n_batch=n_ctx,
            logits_all=logits_all,
            **threads,
        )

    @classmethod
    def _load(cls, path: Path, *, extra_buffers: bool, contexts: dict, **options: Any) -> Runtime:
        import llama_cpp

        try:
            with (
                llama_model_params(use_extra_bufts=extra_buffers),
                llama_context_params(**contexts),
                native_stderr_hidden(),
            ):
                llm = llama_cpp.Llama(model_path=str(path), verbose=False, **options)
        except (ValueError, RuntimeError, OSError) as exc:
            raise PasoError(
                f"llama.cpp cannot load {path} ({exc}); is it a complete GGUF model file "
                "of an architecture this llama-cpp-python supports?"
            ) from exc
        meta = llm.metadata
        info = ModelInfo(
            path=path.resolve(),
            architecture=meta.get("general.architecture", "unknown"),
            name=meta.get("general.name", path.stem),
            description=llm._model.desc(),
            n_embd=int(llama_cpp.llama_model_n_embd(llm.model)),
            n_layer=int(llama_cpp.llama_model_n_layer(llm.model)),
            n_ctx=int(llm.n_ctx()),
            size_bytes=int(llama_cpp.llama_model_size(llm.model)),
        )
        return cls(llm, info, logits_all=bool(options.get("logits_all", False)))

    def load_vector(self, path: str | Path) -> LoadedVector:
        """Read a control vector and check it fits this model (it is applied by `set_steering`)."""
        path = Path(path).expanduser()
        vector = read_control_vector(path)
        made_for = vector_model_name(vector)
        info = self.info
        model = f"{info.file_name} ({info.architecture}, n_embd {info.n_embd}, {info.n_layer} layers)"
        realign = f"run `paso-local align --model {info.path}` to make one for it"
        if vector.n_embd != info.n_embd:
            raise PasoError(
                f"control vector {path} was made for {made_for} (n_embd {vector.n_embd}), but the loaded "
                f"model is {model}. Use the vector made for this model, or {realign}."
            )
        if vector.layer_count > info.n_layer - 1:
            raise PasoError(
                f"control vector {path} was made for {made_for} (steers up to block {vector.layer_count}), "
                f"but the loaded model is {model}. Use the vector made for this model, or {realign}."
            )
        warnings = []
        expected = vector.metadata.get(META_MODEL_SHA256)
        if expected:
            from paso_local.modelfiles import file_sha256

            if str(expected) != file_sha256(info.path):
                warnings.append(
                    f"control vector {path.name} was made for {made_for}, a different file than "
                    f"{info.file_name} (same shape, other sha256): the steering may not mean what it did; "
                    f"{realign}."
                )
        loaded = LoadedVector(path, vector, domain_vectors(vector, path), tuple(warnings))
        if self._applied_key != (False,):
            self._apply(None)
            self._applied_key = (False,)
        self.vector = loaded
        return loaded

    # --- steering ------------------------------------------------------------------------------------------

    @property
    def steered(self) -> bool:
        return self._applied_key[0] in (True, "raw")

    def set_steering(self, steering: Steering) -> None:
        """Apply (or clear) the loaded vector as `steering` says; a no-op when nothing changes."""
        if steering.enabled and self.vector is None:
            raise PasoError("no control vector is loaded; load one first (or chat unsteered)")
        key = steering.key()
        if key == self._applied_key:
            return
        if steering.enabled:
            buffer = self.vector.composed(steering).as_buffer(self.info.n_layer)
            self._apply(buffer)
        else:
            self._apply(None)
        self._applied_key = key

    def clear_steering(self) -> None:
        self.set_steering(UNSTEERED)

    def _apply(self, buffer: np.ndarray | None) -> None:
        """Set (or clear, for None) llama.cpp's control vector and drop the KV cache computed under the old
        one. The caller records the new steering key once this returns."""
        self._applied_key = (None,)  # unknown until it succeeds
        name, function = _cvec_function()
        if buffer is None:
            code = function(self._llm.ctx, None, 0, self.info.n_embd, -1, -1)
        else:
            buffer = np.ascontiguousarray(buffer, dtype=np.float32)
            expected = (self.info.n_layer - 1, self.info.n_embd)
            if buffer.shape != expected:  # checked here: llama.cpp would read past a short buffer
                raise PasoError(f"control-vector buffer has shape {buffer.shape}, expected {expected}")
            pointer = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            code = function(self._llm.ctx, pointer, buffer.size, self.info.n_embd, 1, self.info.n_layer - 1)
        if code != 0:
            raise PasoError(f"llama.cpp refused the control vector ({name} returned {code})")
        self._llm.reset()

    def set_vector_directions(self, directions: Mapping[int, np.ndarray] | None) -> None:
        """Steer with raw directions (block -> [n_embd], added to that block's output) instead of a loaded
        file's vector: what scoring a candidate vector needs. None or {} clears the steering."""
        if not directions:
            self._apply(None)
            self._applied_key = (False,)
            return
        buffer = np.zeros((self.info.n_layer - 1, self.info.n_embd), dtype=np.float32)
        for block, values in directions.items():
            values = np.asarray(values, dtype=np.float32)
            if not 1 <= int(block) <= self.info.n_layer - 1 or values.shape != (self.info.n_embd,):
                raise PasoError(
                    f"a steering direction for block {block} with shape {values.shape} does not fit "
                    f"{self.info.file_name} (blocks 1..{self.info.n_layer - 1}, n_embd {self.info.n_embd})"
                )
            buffer[int(block) - 1] = values
        self.set_vector_buffer(buffer)

    def set_vector_buffer(self, buffer: np.ndarray | None) -> None:
        """Steer with a whole buffer as llama.cpp takes it, [(n_layer - 1), n_embd] with row 0 = block 1
        (float32); None clears the steering. A no-op when the same buffer is already applied."""
        if buffer is None:
            self._apply(None)
            self._applied_key = (False,)
            return
        buffer = np.ascontiguousarray(buffer, dtype=np.float32)
        if not np.isfinite(buffer).all():
            raise PasoError("a steering direction holds NaN or infinite values; it cannot be applied")
        key = ("raw", hashlib.sha256(buffer.tobytes()).hexdigest())
        if key != self._applied_key:
            self._apply(buffer)
            self._applied_key = key

    def apply_lora(self, path: str | Path, scale: float = 1.0) -> LoraHandle:
        """Load the LoRA GGUF adapter at `path` and apply it at `scale`; close the handle to remove it."""
        from paso_local.lora_adapter import LoraHandle

        llm = self._live()
        return LoraHandle(llm.model, llm.ctx, path, scale, on_change=self.reset)

    # --- tokens and logits (eval's generate readout, check-model) -----------------------------------------

    @property
    def n_vocab(self) -> int:
        return int(self._live().n_vocab())

    def reset(self) -> None:
        """Forget every evaluated token: the next evaluation starts from an empty cache."""
        self._live().reset()
        self._chunked_upto = 0

    def eval_tokens(self, tokens: Sequence[int], *, after: int) -> None:
        """Evaluate `tokens` after the first `after` tokens evaluated so far, whose KV cache is kept
        (llama-cpp-python removes the cache beyond its n_tokens before decoding). llama.cpp's failures
        surface as RuntimeError."""
        llm = self._live()
        llm.n_tokens = after
        self._chunked_upto = min(self._chunked_upto, after)
        llm.eval(list(tokens))

    def last_logits(self) -> np.ndarray:
        """float32 [n_vocab], a copy of the logits at the last evaluated position."""
        pointer = _llama_api().llama_get_logits(self._live().ctx)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def all_logits(self, count: int) -> np.ndarray:
        """float64 [count, n_vocab] at the first `count` evaluated positions (needs `logits_all`)."""
        if not self._logits_all:
            raise ValueError("open the runtime with logits_all=True to read every position")
        return np.array(self._live().scores[:count], dtype=np.float64)

    def is_end_token(self, token: int) -> bool:
        """Whether `token` ends a generation (llama.cpp's end-of-generation set)."""
        return bool(_llama_api().llama_vocab_is_eog(self._vocab, int(token)))

    def _live(self) -> Any:
        if self._llm is None:
            raise PasoError("the model runtime is closed")
        return self._llm

    def batch_logits(
        self,
        prefix: Sequence[int],
        suffixes: Sequence[Sequence[int]],
        outputs: int = 2,
        *,
        per_batch: int = 0,
    ) -> np.ndarray:
        """Logits [len(suffixes), outputs, n_vocab] at the last `outputs` tokens of each prompt `prefix +
        suffix`, under the current steering. The prefix is decoded once; the prompts run as llama.cpp
        sequences, up to `per_batch` (0: as many as fit the context's n_seq_max and n_batch) per decode."""
        from paso_local.llama_batch import SequenceDecoder

        llm = self._llm
        if self._decoder is None:
            self._decoder = SequenceDecoder(
                llm.ctx,
                n_vocab=int(llm.n_vocab()),
                n_ctx=self.info.n_ctx,
                n_batch=int(llm.n_batch),
                n_seq_max=int(_llama_api().llama_n_seq_max(llm.ctx)),
            )
        llm.n_tokens = 0  # what llama-cpp-python's own eval cached is gone after this
        self._chunked_upto = 0
        try:
            self._decoder.check_room(len(prefix), suffixes, outputs)
            self._decoder.decode_prefix(list(prefix))
            return self._decoder.logits_after_prefix(len(prefix), suffixes, outputs, per_batch=per_batch)
        finally:
            self._decoder.clear()

    # --- generation ----------------------------------------------------------------------------------------

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
        cached = llm._input_ids
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

    # --- lifetime ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the llama.cpp model and context now (not at garbage collection)."""
        llm, self._llm = self._llm, None
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()
        if llm is not None:
            llm.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- helpers ------------------------------------------------------------------------------------------------

_PARAMS_LOCK = threading.RLock()


@contextmanager
def _default_params(kind: str, overrides: Mapping[str, Any]) -> Iterator[None]:
    """Override the fields of llama.cpp's default `kind` params ("model" or "context") that `Llama` starts
    from, for the duration of one load only (fields this llama.cpp lacks are skipped)."""
    import llama_cpp.llama_cpp as low

    getter = f"llama_{kind}_default_params"
    known = {name for name, _ in getattr(low, f"llama_{kind}_params")._fields_}
    overrides = {k: v for k, v in overrides.items() if k in known}
    with _PARAMS_LOCK:
        original = getattr(low, getter)

        def patched() -> Any:
            params = original()
            for key, value in overrides.items():
                setattr(params, key, value)
            return params

        setattr(low, getter, patched)
        try:
            yield
        finally:
            setattr(low, getter, original)


def llama_model_params(**overrides: Any) -> Any:
    """llama-cpp-python's `Llama` exposes no `use_extra_bufts`: set it (and others) for one load."""
    return _default_params("model", overrides)


def llama_context_params(**overrides: Any) -> Any:
    """`Llama` exposes neither `n_seq_max` nor `kv_unified`: set them for one load."""
    return _default_params("context", overrides)


@contextmanager
def native_stderr_hidden() -> Iterator[None]:
    """llama.cpp writes warnings such as "n_ctx_seq (512) > n_ctx_train (0)" straight to file descriptor 2
    while it loads, whatever `verbose` says: point that descriptor at /dev/null for the load, unless
    PASO_LOCAL_VERBOSE is set. Load failures still surface, as the exception `Llama` raises."""
    if os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0"):
        yield
        return
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (an embedding host): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _llama_api() -> Any:
    import llama_cpp

    return llama_cpp


def _cvec_function() -> tuple[str, Any]:
    """The newest control-vector entry point this llama-cpp-python has."""
    api = _llama_api()
    for name in CVEC_FUNCTIONS:
        function = getattr(api, name, None)
        if function is not None:
            return name, function
    raise PasoError(
        "this llama-cpp-python has no control-vector function "
        f"({', '.join(CVEC_FUNCTIONS)}); install llama-cpp-python 0.3.x"
    )
