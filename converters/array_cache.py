"""The arrays align and the LoRA trainer keep between runs, under the user cache directory: one .npz per key,
the key a sha256 of everything that shapes the arrays (model file, prompt, items, numerics). A cache only
saves time: an unreadable file is recomputed and rewritten, an unwritable directory is passed over."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paso_local.errors import PasoError
from paso_local.store.paths import cache_dir
from paso_local.store.storage import atomic_write_bytes


def cache_key(payload: Any) -> str:
    """The sha256 of `payload` as sorted JSON: the same inputs give the same key on every run."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def cache_path(kind: str, key: str, prefix: str = "") -> Path:
    """Where the arrays of `key` live: <cache>/<kind>/<prefix><key>.npz."""
    return cache_dir() / kind / f"{prefix}{key}.npz"


def load_arrays(path: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The named arrays of a cache file, or None when it is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except (OSError, ValueError, KeyError):
        return None


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write the arrays atomically; a failure to write is passed over (the next run recomputes them)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except (OSError, PasoError):
        pass
