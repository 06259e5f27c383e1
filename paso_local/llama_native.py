"""What llama-cpp-python's `Llama` does not expose, for the runtime (paso_local.runtime) alone: llama.cpp's
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
