"""How a reply is steered: the `Steering` a chat asks for (on/off, strength, per-domain multipliers) and the
vector it composes from a loaded control-vector file (`LoadedVector.composed`). Plain values and arithmetic:
the runtime (paso_local.llm.runtime) applies the result through llama.cpp."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from paso_local.errors import PasoError
from paso_local.llm.controlvector import ControlVector, DomainVector

MAX_STRENGTH = 3.0  # --strength and the chat's strength controls run from 0 to this
REST_TOLERANCE = 1e-4  # relative size below which a vector counts as exactly the sum of its domain parts


@dataclass(frozen=True)
class Steering:
    """How to steer the next generation: on/off, overall strength, per-domain multipliers (default 1.0)."""

    enabled: bool = True
    strength: float = 1.0
    domain_strengths: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every strength that reaches llama.cpp is finite: NaN there turns every reply into "........"."""
        values = {"strength": self.strength, **{f"{d} strength": v for d, v in self.domain_strengths.items()}}
        for name, value in values.items():
            if not math.isfinite(float(value)):
                raise PasoError(
                    f"steering {name} {value!r} is not a finite number; give e.g. 1.0 (0 = unsteered)"
                )

    def key(self) -> tuple:
        """Equal keys mean llama.cpp needs no new buffer (off is off whatever the strengths say)."""
        if not self.enabled:
            return (False,)
        return (
            True,
            float(self.strength),
            tuple(sorted((k, float(v)) for k, v in self.domain_strengths.items())),
        )


UNSTEERED = Steering(enabled=False)


@dataclass(frozen=True)
class LoadedVector:
    """A control vector validated against the loaded model."""

    path: Path
    vector: ControlVector
    domains: dict[str, DomainVector]
    warnings: tuple[str, ...] = ()

    def composed(self, steering: Steering) -> ControlVector:
        """strength * (rest + sum_d m_d * s_d * dir_d), where rest is what the file's vector holds beyond its
        domain parts (nothing, up to rounding, for align's vectors). All multipliers 1: the file's vector."""
        multipliers = {d: float(m) for d, m in steering.domain_strengths.items() if d in self.domains}
        if all(m == 1.0 for m in multipliers.values()):
            return self.vector.scaled(steering.strength)
        layers = sorted(set(self.vector.directions).union(*(p.directions for p in self.domains.values())))
        zero = np.zeros(self.vector.n_embd, dtype=np.float64)
        parts = {layer: zero.copy() for layer in layers}
        scaled = {layer: zero.copy() for layer in layers}
        for domain, part in self.domains.items():
            weight = multipliers.get(domain, 1.0)
            for layer, direction in part.directions.items():
                parts[layer] += part.strength * direction
                scaled[layer] += weight * part.strength * direction
        combined = {layer: self.vector.directions.get(layer, zero).astype(np.float64) for layer in layers}
        rest = {layer: combined[layer] - parts[layer] for layer in layers}
        total = np.sqrt(sum(float(v @ v) for v in combined.values()))
        if np.sqrt(sum(float(v @ v) for v in rest.values())) <= REST_TOLERANCE * max(total, 1e-30):
            rest = {layer: zero for layer in layers}  # the file's vector is the sum of its parts
        directions = {layer: (rest[layer] + scaled[layer]).astype(np.float32) for layer in layers}
        return replace(self.vector, directions=directions).scaled(steering.strength)
