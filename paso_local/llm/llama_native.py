"""What llama-cpp-python's `Llama` does not expose, for the runtime (paso_local.llm.runtime) alone: llama.cpp's
default model and context params overridden for one load, its load-time log lines kept off the terminal,
and the newest control-vector entry point."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from paso_local.errors import PasoError

VERBOSE_ENV = "PASO_LOCAL_VERBOSE"  # set by `paso-local --verbose`: llama.cpp's own log lines are shown
CVEC_FUNCTIONS = ("llama_set_adapter_cvec", "llama_apply_adapter_cvec", "llama_control_vector_apply")

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


def llama_api() -> Any:
    import llama_cpp

    return llama_cpp


def cvec_function() -> tuple[str, Any]:
    """The newest control-vector entry point this llama-cpp-python has."""
    api = llama_api()
    for name in CVEC_FUNCTIONS:
        function = getattr(api, name, None)
        if function is not None:
            return name, function
    raise PasoError(
        "this llama-cpp-python has no control-vector function "
        f"({', '.join(CVEC_FUNCTIONS)}); install llama-cpp-python 0.3.x"
    )


def model_description(model: Any) -> str:
    """llama.cpp's one-line description of a loaded model (architecture, size, quantisation)."""
    buffer = ctypes.create_string_buffer(1024)
    llama_api().llama_model_desc(model, buffer, 1024)
    return buffer.value.decode("utf-8")


def token_text(model: Any, token: int) -> str:
    """A token's text as the vocabulary stores it ("" for -1, no such token)."""
    if token < 0:
        return ""
    api = llama_api()
    return api.llama_vocab_get_text(api.llama_model_get_vocab(model), token).decode("utf-8")


def rpc_supported() -> bool:
    """Whether this llama-cpp-python was built with llama.cpp's RPC backend (-DGGML_RPC=on)."""
    supports = getattr(llama_api(), "llama_supports_rpc", None)
    return bool(supports and supports())


_REGISTERED_RPC: set[str] = set()


def ggml_library() -> Any:
    """ggml's functions as libllama sees them. Looked up through libllama's own handle, because a wheel holds
    libggml.so and libggml.so.0 as two copies of one file: opening the other (llama_cpp._ggml does) loads a
    second ggml whose device registry llama.cpp never reads (measured: 2 devices there, 1 in libllama's)."""
    return llama_api().llama_cpp._lib


def rpc_function(name: str, signature: Any) -> Any:
    """A function of llama.cpp's RPC backend that it exports only by name (ggml_backend_reg_get_proc_address),
    as a ctypes `signature`; a PasoError when this build has no RPC backend or no such function."""
    libggml = ggml_library()
    pointer = ctypes.c_void_p
    libggml.ggml_backend_reg_by_name.restype = pointer
    libggml.ggml_backend_reg_by_name.argtypes = [ctypes.c_char_p]
    libggml.ggml_backend_reg_get_proc_address.restype = pointer
    libggml.ggml_backend_reg_get_proc_address.argtypes = [pointer, ctypes.c_char_p]
    rpc = libggml.ggml_backend_reg_by_name(b"RPC")
    address = libggml.ggml_backend_reg_get_proc_address(rpc, name.encode()) if rpc else None
    if not address:
        raise PasoError(f"this llama-cpp-python's RPC backend has no {name} (no RPC, or too old)")
    return signature(address)


def register_rpc_servers(endpoints: list[str]) -> None:
    """Add each rpc-server to llama.cpp's device registry (what llama.cpp's own `--rpc` does), once per
    process: the next model loaded offloads its layers to them. Check each address first
    (paso_local.llm.rpc.check_servers): llama.cpp ends the process on one it cannot reach."""
    libggml = ggml_library()
    pointer = ctypes.c_void_p
    libggml.ggml_backend_register.restype = None
    libggml.ggml_backend_register.argtypes = [pointer]
    add_server = rpc_function("ggml_backend_rpc_add_server", ctypes.CFUNCTYPE(pointer, ctypes.c_char_p))
    for endpoint in endpoints:
        if endpoint in _REGISTERED_RPC:
            continue
        registry = add_server(endpoint.encode())
        if not registry:
            raise PasoError(f"the rpc-server at {endpoint} offers no device; restart it")
        libggml.ggml_backend_register(registry)
        _REGISTERED_RPC.add(endpoint)


ABORT_PREFIX = "Error: llama.cpp stopped: "
_ABORT_HOOK: Any = None  # kept alive: llama.cpp holds only the C pointer


def explain_aborts(advice: str) -> None:
    """llama.cpp ends the process with GGML_ABORT (over RPC: when a server drops mid-run). Make its last words
    an `Error:` line with `advice` after llama.cpp's own message, instead of a bare backtrace."""
    global _ABORT_HOOK
    libggml = ggml_library()

    def said(message: bytes | None) -> None:
        text = (message or b"").decode("utf-8", "replace").strip()
        os.write(2, f"\n{ABORT_PREFIX}{text}\n{advice}\n".encode())

    hook_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
    libggml.ggml_set_abort_callback.restype = ctypes.c_void_p
    libggml.ggml_set_abort_callback.argtypes = [hook_type]
    _ABORT_HOOK = hook_type(said)
    libggml.ggml_set_abort_callback(_ABORT_HOOK)
