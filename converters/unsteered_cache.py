"""The model's unsteered answers to the form's items through llama.cpp, kept per model: they do not depend on
the person, so a second profile (and every eval subject) reuses them instead of asking 120 items again."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from paso_local.converters.array_cache import cache_key, cache_path, load_arrays, save_arrays
from paso_local.llm.modelfiles import file_sha256
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import prompt_fingerprint

CACHE_VERSION = 1
# item number -> (distribution over 1..5, mass on the options)
Unsteered = dict[int, tuple[np.ndarray, float]]


def unsteered_cache_path(model_path: Path, items: Sequence[Item]) -> Path:
    """Keyed by the bytes of the file llama.cpp loaded, the prompt, the items and the llama.cpp build."""
    try:
        build = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        build = "unknown"
    key = cache_key(
        {
            "version": CACHE_VERSION,
            "model_sha256": file_sha256(model_path),
            "prompt": prompt_fingerprint(),
            "items": [(i.number, i.text) for i in items],
            "llama_cpp_python": build,
        }
    )
    return cache_path("unsteered", key)


def load_unsteered(path: Path) -> Unsteered:
    values = load_arrays(path, ("numbers", "dist", "mass"))
    if values is None:
        return {}
    return {
        int(n): (d, float(m))
        for n, d, m in zip(values["numbers"], values["dist"], values["mass"], strict=True)
    }


def save_unsteered(path: Path, answers: Unsteered) -> None:
    numbers = sorted(answers)
    save_arrays(
        path,
        numbers=np.asarray(numbers, dtype=np.int64),
        dist=np.asarray([answers[n][0] for n in numbers], dtype=np.float64),
        mass=np.asarray([answers[n][1] for n in numbers], dtype=np.float64),
    )
