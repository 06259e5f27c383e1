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
    the model file's hash."""
    from paso_local.store.paths import data_dir

    return data_dir() / "readers" / _reader_name(model_path)


def find_reader(model_path: Path) -> Path | None:
    """The model's profile reader: one trained here (the data directory), else the one shipped for it
    (paso_local/data/readers, the embedded model's), else None."""
    from importlib import resources

    from paso_local.store.paths import data_dir

    name = _reader_name(model_path)  # hashes the model file (cached)
    trained = data_dir() / "readers" / name
    if trained.is_file():
        return trained
    shipped = resources.files("paso_local").joinpath(f"data/readers/{name}")
    return Path(str(shipped)) if shipped.is_file() else None


def require_reader(given: str | None, model_path: Path) -> Path:
    """The reader methods' adapter (eval, assess): `given` (--reader FILE), else the model's own."""
    path = Path(given).expanduser() if given else find_reader(model_path)
    if path is None or not path.is_file():
        raise PasoError(
            f"the reader methods need a profile reader for {Path(model_path).name}: "
            f"{path or reader_adapter_path(model_path)} does not exist; "
            f"train one with `paso-local train-reader --model {model_path}` or give --reader FILE"
        )
    return path


def _reader_name(model_path: Path) -> str:
    from paso_local.llm.modelfiles import file_sha256

    return f"{file_sha256(model_path)[:16]}.reader-lora.gguf"


READER_CONFIG_KEY = "profile_reader"


def chosen_reader(wanted: bool | None, model_path: Path) -> tuple[Path | None, str | None]:
    """--reader / --no-reader for chat and ask: the model's profile reader (`find_reader`) or None, and a notice
    when one was asked for and there is none. None: config.json's "profile_reader", else off: in the chat's
    path (a list of facet-matched answers, free-text replies) SmolLM2's reader made assess's round trip worse
    (on the person's side 0.24 against 0.48; docs/results/2026-12-04-same-key-and-reader.md)."""
    from paso_local.store.config import flag

    if not (flag(READER_CONFIG_KEY, False) if wanted is None else wanted):
        return None, None
    found = find_reader(model_path)
    if found is None:
        return None, (
            f"No profile reader for {Path(model_path).name}: train one with "
            f"`paso-local train-reader --model {model_path}`; the chat runs without it."
        )
    return found, None


def session_adapter(
    adapter: str | None, reader_wanted: bool | None, model_path: Path
) -> tuple[Path | None, bool, str | None]:
    """The one LoRA a chat or ask applies: (path or None, whether it is the profile reader, a notice or None).
    --adapter and --reader together are refused; --adapter beside a reader from config.json runs without it."""
    if adapter and reader_wanted:
        raise PasoError("--adapter and --reader each apply a LoRA adapter; give one of them")
    if adapter:
        quiet = reader_wanted is None and chosen_reader(None, model_path)[0] is not None
        notice = f'{adapter} is applied instead of config.json\'s "{READER_CONFIG_KEY}"' if quiet else None
        return Path(adapter).expanduser(), False, notice
    reader, notice = chosen_reader(reader_wanted, model_path)
    return reader, reader is not None, notice
