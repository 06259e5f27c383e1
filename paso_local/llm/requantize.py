"""A GGUF model re-quantised once into a type with fast CPU kernels, through llama.cpp's own quantizer
(`llama_model_quantize`, part of llama-cpp-python: no new dependency).

The embedded SmolLM2 ships as Q4_1, whose CPU kernels are slow here; `Runtime.open` loads its copy instead, in the
type `paso_local.llm.kernel_choice` measured fastest on this CPU the first time, kept in the data directory. The
copy is named by the source's sha256 and the type, and a sidecar records both shas: a copy whose bytes no longer
match is made again, never trusted. Any other GGUF is copied only on request (`paso-local requantize`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.store.paths import data_dir
from paso_local.store.storage import atomic_output, atomic_write_json, read_json_object

# llama.cpp's LLAMA_FTYPE_MOSTLY_* values (include/llama.h), the types worth a copy on a CPU
FTYPES = {"F16": 1, "BF16": 32, "F32": 0, "Q8_0": 7, "Q6_K": 18, "Q4_K_M": 15, "Q4_0": 2}
DEFAULT_TYPE = "F16"  # holds a 4-bit file's values up to rounding
SIDECAR_VERSION = 1
COPIES_ENV = "PASO_LOCAL_MODEL_COPIES"  # where copies are kept (default: <data dir>/models)


@dataclass(frozen=True)
class Requantized:
    path: Path
    source_sha256: str
    sha256: str
    type_name: str
    seconds: float  # 0 when the copy already existed


def requantized_dir() -> Path:
    override = os.environ.get(COPIES_ENV, "").strip()
    return Path(override).expanduser() if override else data_dir() / "models"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def copy_path(source_sha256: str, type_name: str) -> Path:
    return requantized_dir() / f"{source_sha256[:16]}.{type_name}.gguf"


def requantize(source: Path, type_name: str = DEFAULT_TYPE, *, threads: int | None = None) -> Requantized:
    """The copy of `source` in `type_name`, made now if it is missing or its bytes changed."""
    from paso_local.llm.modelfiles import file_sha256

    if type_name not in FTYPES:
        raise PasoError(f"type {type_name!r}: choose one of {', '.join(FTYPES)}")
    source_sha = file_sha256(source)
    target = copy_path(source_sha, type_name)
    sidecar = target.with_suffix(".json")
    known = _recorded_sha(sidecar, source_sha, type_name)
    if known and target.is_file() and file_sha256(target) == known:
        return Requantized(target, source_sha, known, type_name, 0.0)
    started = time.perf_counter()
    with atomic_output(target, f"the {type_name} copy of {source.name}") as tmp:
        quantize_file(source, Path(tmp), type_name, threads)
    sha = file_sha256(target)
    atomic_write_json(
        sidecar,
        {
            "version": SIDECAR_VERSION,
            "source": str(source),
            "source_sha256": source_sha,
            "type": type_name,
            "sha256": sha,
        },
    )
    return Requantized(target, source_sha, sha, type_name, time.perf_counter() - started)


def _recorded_sha(sidecar: Path, source_sha: str, type_name: str) -> str | None:
    if not sidecar.is_file():
        return None
    try:
        record = read_json_object(sidecar, unreadable="", not_object="")
    except PasoError:
        return None  # an unreadable record: the copy is made again
    same = record.get("source_sha256") == source_sha and record.get("type") == type_name
    return str(record.get("sha256")) if same and record.get("version") == SIDECAR_VERSION else None


def quantize_file(source: Path, target: Path, type_name: str, threads: int | None = None) -> None:
    """llama.cpp's quantizer, `source` -> `target` in `type_name`, no cache (benchmarks compare types)."""
    from paso_local.llm.llama_native import llama_api, native_stderr_hidden

    api = llama_api()
    params = api.llama_model_quantize_default_params()
    params.ftype = FTYPES[type_name]
    params.allow_requantize = True  # the source is already quantised
    params.nthread = threads or 0
    with native_stderr_hidden():
        code = int(api.llama_model_quantize(str(source).encode(), str(target).encode(), params))
    if code != 0:
        raise PasoError(
            f"llama.cpp could not re-quantise {source} to {type_name} (llama_model_quantize returned {code}); "
            "run with --verbose to see llama.cpp's own message"
        )
