"""How much memory align will need on a model, projected from its GGUF header before any model work, and the
refusal when that is more than this machine has.

align holds, at its peak (the cross-validation, after the activations): llama.cpp's scoring context (the
model file memory-mapped and resident while it scores, plus its KV cache), the torch model's bounded
working set (the weight cache of at most 1 GiB of dequantised blocks, one block in flight, the output head
kept when small, else dequantised in 64 MB chunks), the form's activations, and the interpreter with torch
and llama.cpp loaded, and per vocabulary entry. The last two are fit on the peaks measured on this project's
models (`benchmarks/align_memory.py` prints the projection beside the measured peak).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.store.memory import available_memory_bytes

GIB = 2**30
MEMORY_CHECK_ENV = "PASO_LOCAL_MEMORY_CHECK"  # "0": align does not refuse on the projection
BASE_BYTES = 600 * 2**20  # python, numpy, torch and llama.cpp loaded
# Per vocabulary entry: the tokenizer's tables in Python and vocabulary-sized buffers. Fit on the peak RSS measured
# here (benchmarks/align_memory.py): what the other parts leave unexplained is 8.7 KB per entry on SmolLM2
# (49,152) and on Qwen2.5-Coder-0.5B (151,936), 12 KB on the 1.5B of which 7 are its file counted a second time
# (torch and llama.cpp both map it: the same pages); 9 KiB is used.
VOCAB_ENTRY_BYTES = 9 * 2**10
PROMPT_TOKENS = 96  # the longest item prompt of the form, rounded up (its checkpoint activations are kept)
SCORING_CONTEXT = 4096
F32, F16 = 4, 2

WEIGHT_CACHE_BYTES = (
    1 << 30
)  # torch's cache of dequantised blocks (align_inputs.WoCache), at least two blocks


def block_bytes(config, bytes_per_value: int) -> int:
    """One transformer block's dequantised weights (attention and MLP matrices)."""
    d, f = config.n_embd, config.n_ff
    q, kv = config.n_head * config.head_dim, config.n_head_kv * config.head_dim
    return (d * (2 * q + 2 * kv) + 3 * d * f) * bytes_per_value


def cached_blocks(config, bytes_per_value: int) -> int:
    """How many dequantised blocks the torch model keeps between passes: as many as WEIGHT_CACHE_BYTES holds
    (at least two); where that is every block, a pass dequantises nothing."""
    fit = WEIGHT_CACHE_BYTES // max(block_bytes(config, bytes_per_value), 1)
    return int(max(2, min(config.n_layer, fit)))


@dataclass(frozen=True)
class MemoryProjection:
    parts: dict[str, int]  # what needs the memory -> bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        return ", ".join(f"{name} {gib(size)}" for name, size in self.parts.items())


def gib(size: float) -> str:
    return f"{size / GIB:.1f} GiB"


def projected_align_memory(config, file_bytes: int, items: int = 120) -> MemoryProjection:
    """align's projected peak on a model of this shape (paso_local.converters.gguf_reader.ModelConfig) and file size."""
    from paso_local.converters.model import OUTPUT_CHUNK_BYTES, OUTPUT_KEEP_BYTES

    d, n_layer = config.n_embd, config.n_layer
    kv = config.n_head_kv * config.head_dim
    block = block_bytes(config, F32)
    cached = cached_blocks(config, F32) * block
    head = config.vocab_size * d * F32
    return MemoryProjection(
        {
            "llama.cpp weights": file_bytes,
            "llama.cpp KV cache": SCORING_CONTEXT * n_layer * 2 * kv * F16,
            "torch weight cache": min(cached, n_layer * block),
            "torch block in flight": block,
            "torch output head": head if head <= OUTPUT_KEEP_BYTES else OUTPUT_CHUNK_BYTES,
            "activations": items * (2 * n_layer * d + PROMPT_TOKENS * d) * F32,
            "vocabulary": config.vocab_size * VOCAB_ENTRY_BYTES,
            "runtime": BASE_BYTES,
        }
    )


def check_align_memory(model_path: Path, config) -> MemoryProjection:
    """Refuse, naming the numbers, when align's projected peak exceeds the memory available now."""
    projection = projected_align_memory(config, Path(model_path).stat().st_size)
    available = available_memory_bytes()
    if os.environ.get(MEMORY_CHECK_ENV, "1").strip() == "0" or available is None:
        return projection
    if projection.total > available:
        raise PasoError(
            f"align on {Path(model_path).name} needs about {gib(projection.total)} of memory "
            f"({projection.describe()}), and {gib(available)} is available on this machine. Close other "
            f"programs, or align on a smaller quantisation of the model; {MEMORY_CHECK_ENV}=0 runs it anyway "
            "(it will swap or be stopped by the system)."
        )
    return projection
