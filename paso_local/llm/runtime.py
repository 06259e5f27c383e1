"""The one adapter over llama-cpp-python: load a GGUF model, apply a control vector, stream a chat reply,
evaluate tokens and read logits (eval, check-model), apply a LoRA adapter. What `Llama` does not expose is in
paso_local.llm.llama_native; the steering values (`Steering`, `LoadedVector`) in paso_local.llm.steering.

Steering facts this module relies on (llama.cpp's llama_set_adapter_cvec): the vector is applied with
`llama_set_adapter_cvec` as the FULL (n_layer - 1) * n_embd buffer, cleared with a null buffer, and every
change is followed by `Llama.reset()`, because llama.cpp keeps the KV cache (computed under the old steering)
otherwise.

A `Runtime` is not thread-safe: one thread at a time generates (the chat app uses a single worker).
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paso_local.errors import PasoError
from paso_local.llm.controlvector import (
    META_MODEL_SHA256,
    domain_vectors,
    read_control_vector,
    vector_model_name,
)
from paso_local.llm.generation import (
    DEFAULT_SEED,
    ChatGeneration,
)
from paso_local.llm.kernel_choice import TIMING_REPEATS, TIMING_TOKENS, kernel_copy
from paso_local.llm.llama_native import (
    cvec_function,
    llama_api,
    llama_context_params,
    llama_model_params,
    model_description,
    native_stderr_hidden,
)
from paso_local.llm.rpc import Endpoint, use_servers
from paso_local.llm.steering import MAX_STRENGTH, UNSTEERED, LoadedVector, Steering

if TYPE_CHECKING:
    from paso_local.llm.lora_adapter import LoraHandle

EXTRA_BUFFERS_ENV = "PASO_LOCAL_EXTRA_BUFFERS"
MIN_CONTEXT = 128
# Off (llama-cpp-python's default; llama.cpp's own is on). On, questionnaire items were 10-14% faster on SmolLM2
# and 6-7% on the 1.5B, but an unsteered item's probabilities then differed by up to 0.0006 between two prompt
# sets it was asked in, so an item's score was no longer a function of the item and the vector alone
# (tests/test_eval_keyed.py; docs/performance.md, benchmarks/flash_attention.py)
FLASH_ATTENTION = False


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
    kernels_path: Path | None = None  # the file llama.cpp loaded, when not `path` (the embedded model's copy)

    @property
    def file_name(self) -> str:
        return self.path.name


class Runtime(ChatGeneration):
    """A loaded model and its llama.cpp context, with optional steering. Close it (or use `with`)."""

    def __init__(self, llm: Any, info: ModelInfo, *, logits_all: bool = False):
        from paso_local.llm.chat_format import ChatFormat

        self._llm = llm
        self.info = info
        self._logits_all = logits_all
        self.chat_format = ChatFormat.from_llama(llm)
        self.vector: LoadedVector | None = None
        self._applied_key: tuple = (False,)
        self._vocab = llama_api().llama_model_get_vocab(llm.model)
        self._chunked_upto = 0  # the cached prompt positions below this were evaluated in whole chunks
        self._decoder: Any = None  # paso_local.llm.llama_batch.SequenceDecoder, made on first use

    # --- loading -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        extra_buffers: bool | None = None,
        n_seq_max: int = 1,
        n_batch: int = 512,
        rpc_servers: Sequence[Endpoint] = (),
        kv_unified: bool = True,
    ) -> Runtime:
        """Load a GGUF model. `extra_buffers` enables llama.cpp's CPU weight repacking (AMX / CPU_REPACK);
        None reads PASO_LOCAL_EXTRA_BUFFERS (default off: on some virtual machines AMX crashes llama.cpp).
        `n_seq_max` > 1 lets `batch_logits` run that many prompts at once (a unified KV cache of n_ctx cells
        shared by all of them, or with `kv_unified=False` one stream of cells each); `n_batch` is the most
        tokens one decode takes. `rpc_servers`: llama.cpp
        rpc-servers to split the model over (checked first); `n_gpu_layers` None offloads every layer to
        them (and none when there are none)."""
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
        contexts = {"n_seq_max": n_seq_max, "kv_unified": kv_unified} if n_seq_max > 1 else {}
        if rpc_servers:
            use_servers(rpc_servers)
        if n_gpu_layers is None:
            n_gpu_layers = -1 if rpc_servers else 0
        loaded = kernel_copy(path, threads, prompt_speed)
        runtime = cls._load(
            loaded,
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
        # the model is still the one asked for (vectors, profiles); its kernels are the copy's
        if loaded != path:
            runtime.info = dataclasses.replace(
                runtime.info, path=path.resolve(), kernels_path=loaded.resolve()
            )
        return runtime

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
                llm = llama_cpp.Llama(
                    model_path=str(path), verbose=False, flash_attn=FLASH_ATTENTION, **options
                )
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
            description=model_description(llm.model),
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
            from paso_local.llm.modelfiles import file_sha256

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
        name, function = cvec_function()
        if buffer is None:
            code = function(self._llm.ctx, None, 0, self.info.n_embd, -1, -1)
        else:
            buffer = np.ascontiguousarray(buffer, dtype=np.float32)
            if not np.isfinite(buffer).all():  # the one door into llama.cpp: a NaN there garbles every reply
                raise PasoError(
                    "the control vector, at the strength asked for, holds NaN or infinite values; nothing was "
                    f"applied: choose a strength from 0 to {MAX_STRENGTH:g}, or make the vector again with "
                    "`paso-local align`"
                )
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
            raise PasoError(
                "a steering direction holds NaN or infinite values; it was not applied (the fit that made it "
                "went wrong: make it again, and report it if that repeats)"
            )
        key = ("raw", hashlib.sha256(buffer.tobytes()).hexdigest())
        if key != self._applied_key:
            self._apply(buffer)
            self._applied_key = key

    def apply_lora(self, path: str | Path, scale: float = 1.0) -> LoraHandle:
        """Load the LoRA GGUF adapter at `path` and apply it at `scale`; close the handle to remove it."""
        from paso_local.llm.lora_adapter import LoraHandle

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
        pointer = llama_api().llama_get_logits(self._live().ctx)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def all_logits(self, count: int) -> np.ndarray:
        """float64 [count, n_vocab] at the first `count` evaluated positions (needs `logits_all`)."""
        if not self._logits_all:
            raise ValueError("open the runtime with logits_all=True to read every position")
        return np.array(self._live().scores[:count], dtype=np.float64)

    def is_end_token(self, token: int) -> bool:
        """Whether `token` ends a generation (llama.cpp's end-of-generation set)."""
        return bool(llama_api().llama_vocab_is_eog(self._vocab, int(token)))

    def _live(self) -> Any:
        if self._llm is None:
            raise PasoError("the model runtime is closed")
        return self._llm

    @property
    def tokens_decoded(self) -> int:
        """Tokens this runtime has decoded for `batch_logits` so far (align's and eval's cost counters)."""
        return 0 if self._decoder is None else int(self._decoder.tokens_decoded)

    def batch_logits(
        self,
        prefix: Sequence[int],
        suffixes: Sequence[Sequence[int]],
        outputs: int = 2,
        *,
        per_batch: int = 0,
        on_done: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Logits [len(suffixes), outputs, n_vocab] at the last `outputs` tokens of each prompt `prefix +
        suffix`, under the current steering. The prefix is decoded once; the prompts run as llama.cpp
        sequences, up to `per_batch` (0: as many as fit the context's n_seq_max and n_batch) per decode,
        and `on_done(n)` hears after each decode how many more are read."""
        from paso_local.llm.llama_batch import SequenceDecoder

        llm = self._llm
        if self._decoder is None:
            self._decoder = SequenceDecoder(
                llm.ctx,
                n_vocab=int(llm.n_vocab()),
                n_ctx=self.info.n_ctx,
                n_batch=int(llm.n_batch),
                n_seq_max=int(llama_api().llama_n_seq_max(llm.ctx)),
            )
        llm.n_tokens = 0  # what llama-cpp-python's own eval cached is gone after this
        self._chunked_upto = 0
        try:
            self._decoder.check_room(len(prefix), suffixes, outputs)
            self._decoder.decode_prefix(list(prefix))
            return self._decoder.logits_after_prefix(
                len(prefix), suffixes, outputs, per_batch=per_batch, on_done=on_done
            )
        finally:
            self._decoder.clear()

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


def prompt_speed(path: Path, threads: int | None) -> float:
    """llama.cpp's prompt-evaluation tokens/s on `path` (paso_local.llm.kernel_choice compares copies by it): the
    best of TIMING_REPEATS decodes of one prompt, after one that pages the weights in."""
    with Runtime.open(path, n_ctx=2 * TIMING_TOKENS, n_threads=threads) as runtime:
        tokens = [(7919 * i) % runtime.n_vocab for i in range(1, TIMING_TOKENS + 1)]  # any tokens: same speed
        best = float("inf")
        for turn in range(TIMING_REPEATS + 1):
            runtime.reset()
            started = time.perf_counter()
            try:
                runtime.eval_tokens(tokens, after=0)
            except RuntimeError as exc:  # llama.cpp's decode failed: no speed to compare
                raise PasoError(f"llama.cpp could not time {path.name} ({exc})") from exc
            if turn:  # the first decode also pages the weights in
                best = min(best, time.perf_counter() - started)
    return TIMING_TOKENS / best
