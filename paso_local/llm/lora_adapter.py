"""Applying a llama.cpp LoRA GGUF adapter to a model the runtime (paso_local.llm.runtime) holds (no torch here).

llama-cpp-python 0.3.36 loads a LoRA only at construction (`Llama(lora_path=...)`); to switch adapters on one
loaded model we use the low-level API it exposes:
    llama_adapter_lora_init(model, path) -> adapter | NULL
    llama_set_adapters_lora(ctx, adapters[], n, scales[]) -> 0   (n = 0, NULL: no adapter)
    llama_adapter_lora_free(adapter)
As with control vectors, the KV cache is not invalidated: the runtime resets it after every change.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from paso_local.errors import PasoError


class SupportsLora(Protocol):
    """What applying an adapter needs of a runtime (paso_local.llm.runtime.Runtime has it)."""

    def apply_lora(self, path: str | Path, scale: float = 1.0) -> LoraHandle: ...


class LoraHandle:
    """One loaded adapter on one llama.cpp model and context (`Runtime.apply_lora` makes it). Close it (or
    `with`) to clear and free it. `on_change` is called after every change: the KV cache computed under the
    old weights must go."""

    def __init__(
        self, model: Any, ctx: Any, path: str | Path, scale: float = 1.0, *, on_change: Callable[[], None]
    ):
        import llama_cpp

        self._api = llama_cpp
        self._ctx = ctx
        self._on_change = on_change
        self.path = Path(path)
        if not self.path.is_file():
            raise PasoError(f"LoRA adapter {self.path} does not exist")
        _require_finite_scale(self.path, scale)  # before the adapter is loaded: nothing to free on refusal
        self._adapter = llama_cpp.llama_adapter_lora_init(model, str(self.path).encode("utf-8"))
        if not self._adapter:
            raise PasoError(
                f"llama.cpp refused the LoRA adapter {self.path} (wrong base model or not a LoRA GGUF); "
                "re-run `paso-local align --method dpo|ppo` for this model"
            )
        self.applied = False
        self.apply(scale)

    def apply(self, scale: float = 1.0) -> None:
        _require_finite_scale(self.path, scale)
        adapters = (self._api.llama_adapter_lora_p_ctypes * 1)(self._adapter)
        scales = (ctypes.c_float * 1)(float(scale))
        if self._api.llama_set_adapters_lora(self._ctx, adapters, 1, scales) != 0:
            raise PasoError(f"llama.cpp could not apply the LoRA adapter {self.path}")
        self.applied = True
        self._on_change()

    def clear(self) -> None:
        if self.applied:
            self._api.llama_set_adapters_lora(self._ctx, None, 0, None)
            self.applied = False
            self._on_change()

    def close(self) -> None:
        self.clear()
        if self._adapter:
            self._api.llama_adapter_lora_free(self._adapter)
            self._adapter = None

    def __enter__(self) -> LoraHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _require_finite_scale(path: Path, scale: float) -> None:
    """llama.cpp multiplies every adapted weight by the scale: NaN there garbles every reply."""
    if not math.isfinite(float(scale)):
        raise PasoError(f"LoRA adapter {path}: scale {scale!r} is not a finite number; give e.g. 1.0")


def apply_lora(runtime: SupportsLora, path: str | Path, scale: float = 1.0) -> LoraHandle:
    """Load and apply the adapter at `path` on a paso_local.llm.runtime.Runtime (`Runtime.apply_lora`)."""
    return runtime.apply_lora(path, scale)


def reader_adapter_path(model_path: Path) -> Path:
    """Where `paso-local train-reader` writes a model's profile reader: readers/ in the data directory, named by
    the model file's hash (eval's reader methods look there)."""
    from paso_local.llm.modelfiles import file_sha256
    from paso_local.store.paths import data_dir

    return data_dir() / "readers" / f"{file_sha256(model_path)[:16]}.reader-lora.gguf"
