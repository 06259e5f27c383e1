"""Writing a LoRA adapter as a llama.cpp LoRA GGUF (what `llama_adapter_lora_init` loads).

Checked against llama.cpp's llama-adapter.cpp (llama_adapter_lora_init_impl):
- `general.type` = "adapter", `adapter.type` = "lora", `general.architecture` = the base model's architecture
  (a mismatch is refused), `adapter.lora.alpha` (float32; llama.cpp scales by alpha / rank, rank = B's ne[0]).
- Tensors `<model tensor name>.lora_a` and `.lora_b`, e.g. `blk.29.attn_q.weight.lora_a`. With the model
  weight of ggml shape ne = [in, out]: A has ne = [in, rank] (numpy [rank, in]) and B ne = [rank, out]
  (numpy [out, rank]): the torch / PEFT orientation, written as is. llama.cpp computes scale * B (A x).
- Q/K rows: the adapter is trained on the GGUF's own (already permuted) weights, so no permutation is needed.
Extra metadata goes under `paso.*` (ignored by llama.cpp).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from paso_local.errors import PasoError
from paso_local.store.storage import atomic_output

PASO_PREFIX = "paso."


def write_lora_gguf(
    tensors: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    architecture: str,
    alpha: float,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write {weight name: (A [rank, in], B [out, rank])} atomically (temp file + rename, owner-only)."""
    import gguf

    path = Path(path)
    if not tensors:
        raise PasoError(f"cannot write an empty LoRA adapter to {path}")
    with atomic_output(path, "the LoRA adapter") as tmp:
        writer = gguf.GGUFWriter(tmp, architecture)
        writer.add_type("adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(alpha))
        for key, value in sorted((metadata or {}).items()):
            writer.add_string(PASO_PREFIX + key, json.dumps(value, sort_keys=True))
        for name in sorted(tensors):
            a, b = tensors[name]
            a = np.ascontiguousarray(a, dtype=np.float32)
            b = np.ascontiguousarray(b, dtype=np.float32)
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise PasoError(f"LoRA pair {name}: A {a.shape} and B {b.shape} do not share a rank")
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def read_lora_gguf(
    path: str | Path,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float, dict[str, Any]]:
    """({weight name: (A, B)}, alpha, paso metadata) from a file written by `write_lora_gguf`."""
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise PasoError(f"{path} is not a readable GGUF file ({exc})") from exc
    fields = reader.fields
    if "adapter.type" not in fields or fields["adapter.type"].contents() != "lora":
        raise PasoError(f"{path} is not a LoRA adapter (adapter.type is not 'lora')")
    alpha = float(fields["adapter.lora.alpha"].contents()) if "adapter.lora.alpha" in fields else 0.0
    metadata = {
        key[len(PASO_PREFIX) :]: json.loads(fld.contents())
        for key, fld in fields.items()
        if key.startswith(PASO_PREFIX)
    }
    parts: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        base, _, kind = tensor.name.rpartition(".")
        parts.setdefault(base, {})[kind] = np.array(tensor.data, dtype=np.float32)
    tensors = {name: (p["lora_a"], p["lora_b"]) for name, p in parts.items()}
    return tensors, alpha, metadata
