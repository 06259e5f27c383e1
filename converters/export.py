"""The aligned vector as a paso_local.llm.controlvector.ControlVector: `direction.L` at the chosen strength
(llama.cpp scale 1.0 reproduces paso-local's steering) and align's record under `paso.*` metadata (the format's
keys are paso_local.llm.controlvector's)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from paso_local.llm.controlvector import ControlVector, aligned_metadata

__all__ = ["build_control_vector"]


def build_control_vector(
    *,
    model_hint: str,
    n_embd: int,
    n_layer: int,
    directions: Mapping[int, np.ndarray],
    strength: float,
    model_path: Path,
    cv: Mapping[str, Any],
    domains: Mapping[str, Mapping[str, Any]],
    **record: Any,
) -> ControlVector:
    """`directions` are at unit strength; the file holds strength x directions (block 0 never appears).
    `record`: the rest of align's record as `aligned_metadata` takes it (model_sha256, profile, form,
    usable_answers, heads_k, chosen_heads, placement); `cv`: the cross-validation's figures, added last."""
    scaled = {
        b: (np.asarray(v, dtype=np.float32) * np.float32(strength)).astype(np.float32)
        for b, v in directions.items()
        if b >= 1
    }
    metadata = aligned_metadata(
        model_file=Path(model_path).name,
        n_embd=n_embd,
        n_layer=n_layer,
        strength=strength,
        unit_directions=directions,
        domains=domains,
        **record,
    )
    metadata.update(cv)
    return ControlVector(model_hint=model_hint, directions=scaled, n_embd=int(n_embd), metadata=metadata)
