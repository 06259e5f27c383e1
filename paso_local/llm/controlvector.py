"""The control-vector file: the one module that writes, reads and validates it (converter and runtime alike).

On disk it is a llama.cpp control-vector GGUF: tensors `direction.L` (F32, 1-D, n_embd) for L >= 1, added to the
output of 0-based block L. llama.cpp rejects a whole file holding any other tensor, so everything else of ours
(per-domain vectors included) lives in metadata under the `paso.` namespace: the keys align writes
(`aligned_metadata`) and the ones the runtime reads back (`META_*`, `domain_vectors`, `vector_model_name`) are
all named here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from paso_local.errors import PasoError
from paso_local.store.storage import atomic_output

FORMAT_VERSION = 1
ARCHITECTURE = "controlvector"
KEY_ARCH = "general.architecture"
KEY_MODEL_HINT = "controlvector.model_hint"
KEY_LAYER_COUNT = "controlvector.layer_count"
PASO_PREFIX = "paso."
KEY_FORMAT_VERSION = "paso.format_version"
JSON_SUFFIX = ".json"  # `paso.<key>.json` holds a structured value (list, dict, array) as a JSON string
TENSOR_PREFIX = "direction."
# `paso.<name>` keys (name as in ControlVector.metadata) the runtime reads back
META_MODEL_SHA256 = "model_sha256"  # the model file's sha256: another file of the same shape is warned about
META_DOMAINS = (
    "domains"  # {"A": {"strength": s, "directions": {"L": [floats]}}, ...}: the chat's domain sliders
)
MODEL_NAME_KEYS = (
    "model_file",
    "model_name",
    "model",
)  # what names the model a vector was made for, in order
READOUT = "median of the option distribution (A..E marginalised over 'A', ' A', '(A', '(' + 'A')"
# What every surface says about a vector that steers nothing (align kept it at strength 0).
NO_DIRECTION = "your answers gave no reliable direction for this model: replies are unsteered"


@dataclass(frozen=True)
class ControlVector:
    """Per-layer directions (block index -> float32 [n_embd]) plus paso metadata. Arithmetic keeps metadata."""

    model_hint: str
    directions: dict[int, np.ndarray]
    n_embd: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for layer, vec in self.directions.items():
            if layer < 1:
                raise PasoError(f"control vector layer {layer}: llama.cpp steers blocks 1 and up only")
            if vec.ndim != 1 or vec.shape[0] != self.n_embd:
                raise PasoError(f"control vector layer {layer}: shape {vec.shape}, expected ({self.n_embd},)")
            bad = _first_non_finite(vec)
            if bad is not None:  # llama.cpp would add it to every token: the replies become "........"
                raise PasoError(
                    f"control vector layer {layer} holds {vec[bad]} at element {bad}, so it is neither applied "
                    "nor written; make it again with `paso-local align` (and report it if that repeats)"
                )

    @property
    def layer_count(self) -> int:
        """llama.cpp's convention: the highest steered block index (files hold direction.1..direction.N)."""
        return max(self.directions, default=0)

    @property
    def is_empty(self) -> bool:
        """True when it steers nothing: no directions, or all zero (align's vector at strength 0)."""
        return not any(np.any(v) for v in self.directions.values())

    def scaled(self, factor: float) -> ControlVector:
        return replace(
            self,
            directions={k: (v * np.float32(factor)).astype(np.float32) for k, v in self.directions.items()},
        )

    def __mul__(self, factor: float) -> ControlVector:
        return self.scaled(factor)

    __rmul__ = __mul__

    def __neg__(self) -> ControlVector:
        return self.scaled(-1.0)

    def __add__(self, other: ControlVector) -> ControlVector:
        if other.n_embd != self.n_embd:
            raise PasoError(f"cannot add control vectors of n_embd {self.n_embd} and {other.n_embd}")
        layers = set(self.directions) | set(other.directions)
        zero = np.zeros(self.n_embd, dtype=np.float32)
        summed = {
            k: (self.directions.get(k, zero) + other.directions.get(k, zero)).astype(np.float32)
            for k in layers
        }
        return replace(self, directions=summed)

    def as_buffer(self, n_layer: int) -> np.ndarray:
        """llama_set_adapter_cvec's layout: (n_layer - 1) rows of n_embd, row 0 = block 1."""
        if self.layer_count > n_layer - 1:
            raise PasoError(
                f"control vector steers block {self.layer_count}, but the model has blocks 0..{n_layer - 1}"
            )
        buf = np.zeros((n_layer - 1, self.n_embd), dtype=np.float32)
        for layer, vec in self.directions.items():
            buf[layer - 1] = vec
        return buf


@dataclass(frozen=True)
class DomainVector:
    """One domain's part of a vector: its aligned strength and its (unscaled) directions."""

    strength: float
    directions: dict[int, np.ndarray]


def directions_json(directions: Mapping[int, np.ndarray]) -> dict[str, list[float]]:
    """{"L": [floats]} for metadata (float32 values survive the JSON round trip exactly)."""
    return {
        str(b): [float(x) for x in np.asarray(v, dtype=np.float32)] for b, v in sorted(directions.items())
    }


def aligned_metadata(
    *,
    model_file: str,
    model_sha256: str,
    n_embd: int,
    n_layer: int,
    profile: str,
    form: str,
    usable_answers: int,
    heads_k: int,
    chosen_heads: list[tuple[int, int]],
    placement: str,
    strength: float,
    unit_directions: Mapping[int, np.ndarray],
    domains: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The `paso.*` record align writes beside the directions: where they come from, at which strength, and
    each domain's part (`domains`: name -> {"strength", "directions"}) for the chat's domain sliders."""
    from paso_local import __version__

    return {
        "model_file": model_file,
        META_MODEL_SHA256: model_sha256,
        "n_embd": int(n_embd),
        "n_layer": int(n_layer),
        "profile": profile,
        "form": form,
        "usable_answers": int(usable_answers),
        "heads_k": int(heads_k),
        "chosen_heads": [[int(layer), int(head)] for layer, head in chosen_heads],
        "placement": placement,
        "strength": float(strength),
        "readout": READOUT,
        "unit_directions": directions_json(unit_directions),
        META_DOMAINS: {
            d: {"strength": float(p["strength"]), "directions": directions_json(p["directions"])}
            for d, p in domains.items()
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "paso_local_version": __version__,
    }


def vector_model_name(vector: ControlVector) -> str:
    """The model a vector was made for, in words (its file name when the metadata has one)."""
    meta = vector.metadata
    for key in MODEL_NAME_KEYS:
        if meta.get(key):
            return f"{meta[key]} ({vector.model_hint})"
    return f"a {vector.model_hint} model"


def domain_vectors(vector: ControlVector, path: Path) -> dict[str, DomainVector]:
    """The per-domain parts in metadata["domains"] (optional: {} without it), validated against the vector."""
    raw = vector.metadata.get(META_DOMAINS)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PasoError(
            f"control vector {path}: metadata 'domains' is not a mapping; re-run `paso-local align`"
        )
    domains = {}
    for name, part in raw.items():
        where = f"control vector {path}: domains[{name!r}]"
        try:
            strength = float(part.get("strength", 1.0))
            directions = {
                int(k): np.asarray(v, dtype=np.float32) for k, v in dict(part["directions"]).items()
            }
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise PasoError(f"{where} is damaged ({exc}); re-run `paso-local align`") from exc
        for layer, values in directions.items():
            if layer < 1 or values.shape != (vector.n_embd,):
                raise PasoError(
                    f"{where}: layer {layer} has shape {values.shape}; want ({vector.n_embd},), layer >= 1"
                )
        _require_finite_part(where, strength, directions)
        domains[str(name)] = DomainVector(strength, directions)
    return domains


def _require_finite_part(where: str, strength: float, directions: Mapping[int, np.ndarray]) -> None:
    """A domain slider multiplies its part into the applied vector: one NaN there garbles every reply."""
    remake = "a vector must be finite: run `paso-local align` again to make a new one"
    if not np.isfinite(strength):
        raise PasoError(f"{where}: strength {strength} is not a finite number; {remake}")
    for layer, values in sorted(directions.items()):
        bad = _first_non_finite(values)
        if bad is not None:
            raise PasoError(f"{where}: layer {layer} holds {values[bad]} at element {bad}; {remake}")


def _first_non_finite(values: np.ndarray) -> int | None:
    """The index of the first NaN or infinite element of a 1-D array, None when every one is finite."""
    finite = np.isfinite(values)
    return None if finite.all() else int(np.flatnonzero(~finite)[0])


def write_control_vector(vector: ControlVector, path: Path) -> Path:
    """Write atomically (temp file + rename, owner-only): a failure never leaves a half-written vector."""
    import gguf  # local import keeps `import paso_local` light

    path = Path(path)
    # The reader's rules on the domain parts, enforced before anything is written.
    domain_vectors(vector, path)
    with atomic_output(path, "the control vector") as tmp:
        writer = gguf.GGUFWriter(tmp, ARCHITECTURE)
        writer.add_string(KEY_MODEL_HINT, vector.model_hint)
        writer.add_uint32(KEY_LAYER_COUNT, vector.layer_count)
        writer.add_uint32(KEY_FORMAT_VERSION, FORMAT_VERSION)
        for key, value in sorted(vector.metadata.items()):
            _add_metadata(writer, key, value)
        for layer in sorted(vector.directions):
            data = np.ascontiguousarray(vector.directions[layer], dtype=np.float32)
            writer.add_tensor(f"{TENSOR_PREFIX}{layer}", data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def read_control_vector(path: Path) -> ControlVector:
    """Read and validate a control-vector GGUF (ours or any llama.cpp-compatible one)."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise PasoError(f"control vector {path}: no such file")
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf raises ValueError, struct.error, IndexError... on damaged files
        raise PasoError(
            f"control vector {path} is not a readable GGUF file ({exc}); re-run `paso-local align`"
        ) from exc
    directions: dict[int, np.ndarray] = {}
    n_embd = None
    for tensor in reader.tensors:
        if not tensor.name.startswith(TENSOR_PREFIX) or not tensor.name[len(TENSOR_PREFIX) :].isdigit():
            raise PasoError(
                f"control vector {path}: tensor {tensor.name!r} is not named direction.N (llama.cpp would reject the file)"
            )
        layer = int(tensor.name[len(TENSOR_PREFIX) :])
        if layer < 1:
            raise PasoError(f"control vector {path}: tensor {tensor.name!r}: layers start at 1")
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32:
            raise PasoError(
                f"control vector {path}: tensor {tensor.name!r} is {tensor.tensor_type.name}, expected F32"
            )
        data = np.array(tensor.data, dtype=np.float32).reshape(-1)
        if len([d for d in tensor.shape if d > 1]) > 1:
            raise PasoError(
                f"control vector {path}: tensor {tensor.name!r} is not 1-D (shape {list(tensor.shape)})"
            )
        if n_embd is None:
            n_embd = data.shape[0]
        elif data.shape[0] != n_embd:
            raise PasoError(
                f"control vector {path}: tensor {tensor.name!r} has length {data.shape[0]}, others {n_embd}"
            )
        bad = _first_non_finite(data)
        if bad is not None:
            raise PasoError(
                f"control vector {path}: tensor {tensor.name!r} holds {data[bad]} at element {bad}; a vector "
                "must be finite. The file is damaged: run `paso-local align` again to make a new one."
            )
        directions[layer] = data
    if n_embd is None:
        raise PasoError(f"control vector {path} holds no direction.N tensors")
    fields = reader.fields

    def text(key: str, default: str = "") -> str:
        return str(fields[key].contents()) if key in fields else default

    version = int(fields[KEY_FORMAT_VERSION].contents()) if KEY_FORMAT_VERSION in fields else None
    if version is not None and version > FORMAT_VERSION:
        raise PasoError(
            f"control vector {path} has paso format version {version}; this paso-local reads up to "
            f"{FORMAT_VERSION}. Upgrade paso-local or re-run `paso-local align`."
        )
    metadata: dict[str, Any] = {}
    for key, fld in fields.items():
        if not key.startswith(PASO_PREFIX) or key == KEY_FORMAT_VERSION:
            continue
        name = key[len(PASO_PREFIX) :]
        value = fld.contents()
        if name.endswith(JSON_SUFFIX):
            try:
                metadata[name[: -len(JSON_SUFFIX)]] = json.loads(value)
            except (json.JSONDecodeError, TypeError) as exc:
                raise PasoError(f"control vector {path}: damaged metadata {key} ({exc})") from exc
        else:
            metadata[name] = value
    return ControlVector(
        model_hint=text(KEY_MODEL_HINT, "unknown"), directions=directions, n_embd=n_embd, metadata=metadata
    )


def _add_metadata(writer: Any, key: str, value: Any) -> None:
    if not key or key.endswith(JSON_SUFFIX) or "." in key:
        raise PasoError(f"control vector metadata key {key!r}: use a plain name without dots")
    value = _jsonable(value)
    name = PASO_PREFIX + key
    if isinstance(value, bool):
        writer.add_bool(name, value)
    elif isinstance(value, int) and -(2**63) <= value < 2**63:
        writer.add_int64(name, value)
    elif isinstance(value, float):
        writer.add_float64(name, value)
    elif isinstance(value, str):
        writer.add_string(name, value)
    else:  # None, lists, dicts: JSON keeps their exact structure
        writer.add_string(name + JSON_SUFFIX, json.dumps(value, sort_keys=True))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
