"""The aligned vector as a paso_local.controlvector.ControlVector: `direction.L` at the chosen strength
(llama.cpp scale 1.0 reproduces paso-local's steering) and everything else under `paso.*` metadata."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from paso_local import __version__
from paso_local.controlvector import ControlVector


def directions_json(directions: Mapping[int, np.ndarray]) -> dict[str, list[float]]:
    """{"L": [floats]} for metadata (float32 values survive the JSON round trip exactly)."""
    return {
        str(b): [float(x) for x in np.asarray(v, dtype=np.float32)] for b, v in sorted(directions.items())
    }


def build_control_vector(
    *,
    model_hint: str,
    n_embd: int,
    n_layer: int,
    directions: Mapping[int, np.ndarray],
    strength: float,
    model_path: Path,
    model_sha256: str,
    profile: str,
    form: str,
    usable_answers: int,
    heads_k: int,
    chosen_heads: list[tuple[int, int]],
    placement: str,
    cv: Mapping[str, Any],
    domains: Mapping[str, Mapping[str, Any]],
) -> ControlVector:
    """`directions` are at unit strength; the file holds strength x directions (block 0 never appears)."""
    scaled = {
        b: (np.asarray(v, dtype=np.float32) * np.float32(strength)).astype(np.float32)
        for b, v in directions.items()
        if b >= 1
    }
    metadata: dict[str, Any] = {
        "model_file": Path(model_path).name,
        "model_sha256": model_sha256,
        "n_embd": int(n_embd),
        "n_layer": int(n_layer),
        "profile": profile,
        "form": form,
        "usable_answers": int(usable_answers),
        "heads_k": int(heads_k),
        "chosen_heads": [[int(layer), int(head)] for layer, head in chosen_heads],
        "placement": placement,
        "strength": float(strength),
        "readout": "median of the option distribution (A..E marginalised over 'A', ' A', '(A', '(' + 'A')",
        "unit_directions": directions_json(directions),
        "domains": {
            d: {"strength": float(p["strength"]), "directions": directions_json(p["directions"])}
            for d, p in domains.items()
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "paso_local_version": __version__,
    }
    metadata.update(cv)
    return ControlVector(model_hint=model_hint, directions=scaled, n_embd=int(n_embd), metadata=metadata)
