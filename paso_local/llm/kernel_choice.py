"""Which copy of a model llama.cpp runs fastest on this CPU, chosen by a short timing the first time, then recorded.

F16, BF16 and F32 copies of the embedded SmolLM2 all give the shipped Q4_1's median answer on every questionnaire
item; which is fastest depends on the CPU, and no CPU flag predicted it: BF16 by 10-55% on an AMD EPYC with
AVX512-BF16, F16 by 8-13% over BF16 and F32 by about a third over F16 on an Intel Xeon with AMX
(docs/performance.md). So the copies are made once, each evaluates the same prompt, the fastest is kept (F16,
which holds Q4_1's values up to rounding, unless another is clearly faster), the others are deleted, and the
choice is recorded per source file and CPU. F32 doubles the copy, so it must be faster by more, and is tried only
while its copy stays small. `paso-local requantize` does the same for any GGUF when no type is given
(`requantize_command`).
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.llm.requantize import Requantized, cpu_flags, requantize, requantized_dir
from paso_local.store.storage import atomic_write_json, read_json_object

CANDIDATES = ("F16", "BF16", "F32")  # the first wins a tie
TIMING_TOKENS = 128  # one decode: about 0.3 s on SmolLM2 at 400 tokens/s
TIMING_REPEATS = 3  # after one warm-up evaluation; the fastest is kept (a busy moment only slows one)
# The candidates are timed in turn, this many times each, and each keeps its best: one noisy moment on a shared
# machine once read F32 4% faster than F16 where every other timing read it 20-37% faster
TIMING_ROUNDS = 2
# How much faster a later candidate must be than the one chosen so far: beyond timing noise (3%), and for F32,
# whose copy and memory are twice F16's, a gain worth that (set before measuring)
CLEAR_GAIN = {"BF16": 0.03, "F32": 0.10}
F32_MAX_BYTES = 1 << 30  # F32 is tried only while its copy (twice the F16 copy) stays under 1 GiB
CHOICE_VERSION = 2  # 1 chose between F16 and BF16 only
FAST_EMBEDDED_ENV = "PASO_LOCAL_FAST_EMBEDDED"  # "0": llama.cpp loads the shipped Q4_1 itself

# a copy's path and the threads -> its prompt-evaluation tokens/s (paso_local.llm.runtime.prompt_speed)
SpeedMeter = Callable[[Path, "int | None"], float]


@dataclass(frozen=True)
class KernelChoice:
    copy: Requantized
    tokens_per_second: dict[str, float]  # measured now; empty when the recorded choice was used
    seconds: float  # making the copies and timing them; 0 when the recorded choice was used


def cpu_identity() -> str:
    """The CPU a choice was measured on: its model name and a digest of its feature flags."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12]
    return f"{name} [{flags}]"


def choice_path(source_sha256: str) -> Path:
    return requantized_dir() / f"{source_sha256[:16]}.kernels.json"


def recorded_type(source_sha256: str, cpu: str) -> str | None:
    """The type chosen earlier for this source on this CPU, or None (never measured, another CPU, unreadable)."""
    path = choice_path(source_sha256)
    if not path.is_file():
        return None
    try:
        record = read_json_object(path, unreadable="", not_object="")
    except PasoError:
        return None  # an unreadable record: measured again
    same = record.get("version") == CHOICE_VERSION and record.get("source_sha256") == source_sha256
    chosen = record.get("type")
    return chosen if same and record.get("cpu") == cpu and chosen in CANDIDATES else None


def faster_type(speeds: dict[str, float]) -> str:
    """The first candidate unless a later one timed is its CLEAR_GAIN faster than the one chosen before it."""
    chosen = CANDIDATES[0]
    for name in CANDIDATES[1:]:
        if name in speeds and speeds[name] > speeds[chosen] * (1 + CLEAR_GAIN[name]):
            chosen = name
    return chosen


def made_copies(source: Path, threads: int | None) -> dict[str, Requantized]:
    """The candidates' copies of `source`, F32 only while small enough (its size is twice the F16 copy's)."""
    made = {}
    for name in CANDIDATES:
        if name == "F32" and 2 * made["F16"].path.stat().st_size > F32_MAX_BYTES:
            continue
        made[name] = requantize(source, name, threads=threads)
    return made


def fastest_copy(source: Path, threads: int | None, speed: SpeedMeter) -> KernelChoice:
    """The copy of `source` in the type fastest on this CPU: the recorded one, or measured now (the copies made
    and timed, the others deleted, the choice recorded)."""
    from paso_local.llm.modelfiles import file_sha256

    source_sha, cpu = file_sha256(source), cpu_identity()
    known = recorded_type(source_sha, cpu)
    if known is not None:
        return KernelChoice(requantize(source, known, threads=threads), {}, 0.0)
    started = time.perf_counter()
    made = made_copies(source, threads)
    speeds = dict.fromkeys(made, 0.0)
    for _ in range(TIMING_ROUNDS):
        for name, copy in made.items():
            speeds[name] = max(speeds[name], speed(copy.path, threads))
    chosen = faster_type(speeds)
    for name, copy in made.items():
        if name != chosen:  # a copy the size of the model's float weights: not kept unused
            copy.path.unlink(missing_ok=True)
            copy.path.with_suffix(".json").unlink(missing_ok=True)
    atomic_write_json(
        choice_path(source_sha),
        {
            "version": CHOICE_VERSION,
            "source": str(source),
            "source_sha256": source_sha,
            "cpu": cpu,
            "type": chosen,
            "tokens_per_second": {k: round(v, 1) for k, v in speeds.items()},
            "threads": threads,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    return KernelChoice(made[chosen], speeds, time.perf_counter() - started)


def describe(choice: KernelChoice) -> str:
    """What was measured, in a line: each candidate's speed and the time it took."""
    speeds = ", ".join(f"{name} {rate:.0f}" for name, rate in choice.tokens_per_second.items())
    return f"{choice.copy.type_name} copy ({speeds} tokens/s here; {choice.seconds:.1f} s once)"


def kernel_copy(path: Path, threads: int | None, speed: SpeedMeter) -> Path:
    """The file llama.cpp should load for `path`: the embedded model's fastest copy (chosen on first use), or
    `path` itself (any other model, PASO_LOCAL_FAST_EMBEDDED=0, or copies that cannot be written)."""
    from paso_local.llm.modelfiles import embedded_model_path
    from paso_local.progress import status

    embedded = embedded_model_path()
    off = os.environ.get(FAST_EMBEDDED_ENV, "1").strip().lower() in ("0", "false", "no", "off")
    if off or embedded is None or Path(path).resolve() != embedded.resolve():
        return Path(path)
    try:
        choice = fastest_copy(Path(path), threads, speed)
    except PasoError as exc:
        status(f"Using the shipped model's own (slower) kernels: {exc}")
        return Path(path)
    if choice.seconds:
        status(f"Prepared the embedded model for this CPU once, {describe(choice)}: {choice.copy.path}")
    return choice.copy.path
