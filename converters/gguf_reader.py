"""Reading a GGUF model file: its config (from metadata, never from the file name) and its tensors.

The file stays memory-mapped and quantised; a tensor is dequantised (gguf's numpy dequantisers) only when
asked, whole or a few rows at a time, so the caller decides how much float32 is alive at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.errors import PasoError

# Architecture -> RoPE layout as llama.cpp uses it on that architecture's GGUF weights. llama-arch GGUFs
# (Llama 2/3.x, SmolLM, Mistral) have Q/K rows permuted by the converter, hence interleaved pairs; Qwen2/3 use
# NeoX.
SUPPORTED_ARCHITECTURES = {"llama": "interleaved", "qwen2": "neox", "qwen3": "neox"}

# Every metadata key read, in one place ({arch} is general.architecture).
KEY_ARCH = "general.architecture"
KEY_NAME = "general.name"
KEY_CONTEXT = "{arch}.context_length"
KEY_EMBD = "{arch}.embedding_length"
KEY_LAYERS = "{arch}.block_count"
KEY_FF = "{arch}.feed_forward_length"
KEY_HEADS = "{arch}.attention.head_count"
KEY_HEADS_KV = "{arch}.attention.head_count_kv"
KEY_KEY_LENGTH = "{arch}.attention.key_length"
KEY_VALUE_LENGTH = "{arch}.attention.value_length"
KEY_RMS_EPS = "{arch}.attention.layer_norm_rms_epsilon"
KEY_ROPE_BASE = "{arch}.rope.freq_base"
KEY_ROPE_DIM = "{arch}.rope.dimension_count"
KEY_ROPE_SCALING = "{arch}.rope.scaling.type"
KEY_ROPE_FACTOR = "{arch}.rope.scaling.factor"
KEY_EXPERTS = "{arch}.expert_count"

TOKEN_EMBD = "token_embd.weight"
OUTPUT = "output.weight"
OUTPUT_NORM = "output_norm.weight"
ROPE_FREQS = "rope_freqs.weight"


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a decoder-only transformer, as llama.cpp reads it from the GGUF metadata and tensors."""

    arch: str
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    vocab_size: int
    rms_eps: float
    rope_base: float
    rope_dim: int
    rope_style: str  # 'interleaved' (pairs 2i, 2i+1) | 'neox' (pairs i, i + rope_dim/2)
    rope_scale: float  # linear position scaling (1.0: none); rope_freqs holds any per-frequency factors
    context_length: int
    tied_output: bool  # no output.weight: the head reuses token_embd
    has_qkv_bias: bool
    has_qk_norm: bool
    has_rope_freqs: bool

    @property
    def n_rep(self) -> int:
        """Query heads per key/value head (grouped-query attention)."""
        return self.n_head // self.n_head_kv


class GGUFModelFile:
    """A memory-mapped GGUF model: metadata, config and on-demand dequantisation into torch float32."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._reader = _open_reader(self.path)
        self._tensors = {t.name: t for t in self._reader.tensors}
        self.config = _config_from(self)

    # --- metadata -------------------------------------------------------------------------------------------

    def value(self, key: str, default: Any = None) -> Any:
        """A scalar or string metadata value (arrays are refused: no model key we read is one)."""
        field = self._reader.fields.get(key)
        if field is None:
            return default
        try:
            value = field.contents()
        except Exception as exc:  # damaged field payloads
            raise PasoError(
                f"{self.path}: metadata key {key} cannot be read ({exc}); the file is damaged"
            ) from exc
        if isinstance(value, list):
            raise PasoError(
                f"{self.path}: metadata key {key} holds a per-layer list {value[:4]}...; "
                "models with varying layer shapes are not supported"
            )
        return value

    # --- tensors --------------------------------------------------------------------------------------------
    @property
    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def has_tensor(self, name: str) -> bool:
        return name in self._tensors

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape in torch order (out, in), like a Linear weight: ggml's order reversed."""
        return tuple(int(d) for d in reversed(self._tensor(name).shape.tolist()))

    def type_name(self, name: str) -> str:
        return self._tensor(name).tensor_type.name

    def dequantize(self, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The whole tensor in `dtype`, shape as `shape(name)`."""
        tensor = self._tensor(name)
        return self._to_torch(name, _dequantize(tensor.data, tensor.tensor_type, name, self.path), dtype)

    def dequantize_rows(
        self, name: str, rows: np.ndarray | slice, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Rows of a 2-D tensor (e.g. a few token embeddings, or a slice of the output head)."""
        tensor = self._tensor(name)
        if tensor.data.ndim != 2:
            raise PasoError(f"{self.path}: tensor {name} is not 2-D")
        values = _dequantize(tensor.data[rows], tensor.tensor_type, name, self.path)
        return torch.from_numpy(_owned_float32(values)).to(dtype)

    def _tensor(self, name: str) -> Any:
        try:
            return self._tensors[name]
        except KeyError:
            raise PasoError(
                f"{self.path}: tensor {name} is missing; "
                f"the file is not a complete {self.config_arch()} model"
            ) from None

    def config_arch(self) -> str:
        return str(self.value(KEY_ARCH, "unknown"))

    def _to_torch(self, name: str, values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(_owned_float32(values).reshape(self.shape(name))).to(dtype)

    def close(self) -> None:
        """Drop the memory map (tensors already dequantised stay valid: they are copies)."""
        self._tensors = {}
        mm = getattr(self._reader, "data", None)
        self._reader = None  # type: ignore[assignment]
        if mm is not None and getattr(mm, "_mmap", None) is not None:
            try:
                mm._mmap.close()
            except (BufferError, ValueError):
                pass  # a view is still alive somewhere; the mapping goes with it


_CONFIGS: dict[tuple[str, int, int], ModelConfig] = {}  # (path, size, mtime_ns) -> config, this process
# The file read_config last parsed, kept open for the next open_model_file of the same file: gguf parses the
# whole header, tokenizer included (seconds for a large vocabulary), and align reads the config, then loads.
_SPARE: dict[tuple[str, int, int], GGUFModelFile] = {}


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # a missing file: GGUFModelFile says so
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def read_config(path: str | Path) -> ModelConfig:
    """The config of a GGUF model file (PasoError if it is damaged or of an unsupported architecture),
    remembered per file (path, size, modification time)."""
    path = Path(path)
    key = _file_key(path)
    if key is not None and key in _CONFIGS:
        return _CONFIGS[key]
    model_file = GGUFModelFile(path)  # PasoError for a missing, damaged or unsupported file
    config = model_file.config
    if key is None:  # the file appeared after the first look: nothing to remember it by
        model_file.close()
        return config
    _CONFIGS[key] = config
    for spare in _SPARE.values():
        spare.close()
    _SPARE.clear()
    _SPARE[key] = model_file
    return config


def open_model_file(path: str | Path) -> GGUFModelFile:
    """The model file, parsed once: the one read_config just parsed if it is the same unchanged file."""
    path = Path(path)
    key = _file_key(path)
    spare = _SPARE.pop(key, None) if key is not None else None
    return spare if spare is not None else GGUFModelFile(path)


def _open_reader(path: Path) -> Any:
    import gguf

    if not path.is_file():
        raise PasoError(f"model file {path} does not exist; give the path of a .gguf file")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise PasoError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF'); "
            "give a llama.cpp .gguf model file"
        )
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf raises ValueError, IndexError, struct/KeyError... on damaged headers
        raise PasoError(
            f"{path} is a damaged or truncated GGUF file ({type(exc).__name__}: {exc}); "
            "download or copy it again"
        ) from exc
    for tensor in reader.tensors:
        end = int(tensor.data_offset) + int(tensor.n_bytes)
        if end > size:
            raise PasoError(
                f"{path} is truncated: tensor {tensor.name} ends at byte {end:,} but the file has "
                f"{size:,} bytes; download or copy it again"
            )
    return reader


def _dequantize(data: np.ndarray, qtype: Any, name: str, path: Path | str) -> np.ndarray:
    from gguf.quants import dequantize

    try:
        return dequantize(data, qtype)
    except NotImplementedError as exc:
        raise PasoError(
            f"{path}: tensor {name} is of type {qtype.name}, which gguf {_gguf_version()} cannot "
            "dequantise; use a file quantised as Q4_K_M, Q5_K_M, Q8_0 or similar"
        ) from exc


def _owned_float32(values: np.ndarray) -> np.ndarray:
    """A contiguous float32 array of our own (F32 tensors come back as read-only views of the file)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    return values if values.flags.writeable and not isinstance(values, np.memmap) else np.array(values)


def _gguf_version() -> str:
    from importlib.metadata import version

    return version("gguf")


def _config_from(model_file: GGUFModelFile) -> ModelConfig:
    path = model_file.path
    arch = model_file.config_arch()
    if arch not in SUPPORTED_ARCHITECTURES:
        raise PasoError(
            f"{path}: architecture {arch!r} is not supported by the converter; supported: "
            f"{', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
        )

    def key(template: str) -> str:
        return template.format(arch=arch)

    def required_int(template: str) -> int:
        value = model_file.value(key(template))
        if value is None:
            raise PasoError(
                f"{path}: metadata key {key(template)} is missing; the file is not a complete {arch} model"
            )
        return _positive_int(path, key(template), value)

    experts = model_file.value(key(KEY_EXPERTS), 0)
    if int(experts or 0) > 0 or any("_exps." in name for name in model_file.tensor_names):
        raise PasoError(f"{path}: mixture-of-experts {arch} models are not supported by the converter")

    n_embd = required_int(KEY_EMBD)
    n_head = required_int(KEY_HEADS)
    n_head_kv = _positive_int(path, key(KEY_HEADS_KV), model_file.value(key(KEY_HEADS_KV), n_head))
    if n_head % n_head_kv:
        raise PasoError(f"{path}: {n_head} query heads cannot share {n_head_kv} key/value heads evenly")
    head_dim = _positive_int(
        path, key(KEY_KEY_LENGTH), model_file.value(key(KEY_KEY_LENGTH), n_embd // n_head)
    )
    value_dim = _positive_int(path, key(KEY_VALUE_LENGTH), model_file.value(key(KEY_VALUE_LENGTH), head_dim))
    if value_dim != head_dim:
        raise PasoError(f"{path}: key length {head_dim} != value length {value_dim} is not supported")
    rope_dim = _positive_int(path, key(KEY_ROPE_DIM), model_file.value(key(KEY_ROPE_DIM), head_dim))
    if rope_dim > head_dim or rope_dim % 2:
        raise PasoError(f"{path}: {key(KEY_ROPE_DIM)} = {rope_dim} does not fit head size {head_dim}")

    if not model_file.has_tensor(TOKEN_EMBD):
        raise PasoError(f"{path}: tensor {TOKEN_EMBD} is missing; the file is not a complete {arch} model")
    embd_shape = model_file.shape(TOKEN_EMBD)
    if len(embd_shape) != 2 or embd_shape[1] != n_embd:
        raise PasoError(f"{path}: {TOKEN_EMBD} has shape {embd_shape}, expected (vocab, {n_embd})")

    return ModelConfig(
        arch=arch,
        name=str(model_file.value(KEY_NAME, path.stem)),
        n_layer=required_int(KEY_LAYERS),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim=head_dim,
        n_ff=required_int(KEY_FF),
        vocab_size=embd_shape[0],
        rms_eps=float(model_file.value(key(KEY_RMS_EPS), 1e-5)),
        rope_base=float(model_file.value(key(KEY_ROPE_BASE), 10000.0)),
        rope_dim=rope_dim,
        rope_style=SUPPORTED_ARCHITECTURES[arch],
        rope_scale=_rope_scale(model_file, arch),
        context_length=_positive_int(path, key(KEY_CONTEXT), model_file.value(key(KEY_CONTEXT), 2048)),
        tied_output=not model_file.has_tensor(OUTPUT),
        has_qkv_bias=model_file.has_tensor("blk.0.attn_q.bias"),
        has_qk_norm=model_file.has_tensor("blk.0.attn_q_norm.weight"),
        has_rope_freqs=model_file.has_tensor(ROPE_FREQS),
    )


def _rope_scale(model_file: GGUFModelFile, arch: str) -> float:
    """llama.cpp's freq_scale: 1/factor for linear scaling. YaRN & co. change attention itself: refused."""
    kind = str(model_file.value(KEY_ROPE_SCALING.format(arch=arch), "none") or "none")
    factor = float(model_file.value(KEY_ROPE_FACTOR.format(arch=arch), 0.0) or 0.0)
    if kind == "none" or factor in (0.0, 1.0):
        return 1.0
    if kind == "linear":
        return 1.0 / factor
    raise PasoError(
        f"{model_file.path}: RoPE scaling {kind!r} (factor {factor}) is not supported by the converter; "
        "supported: none, linear, and per-frequency factors (rope_freqs, as in Llama 3.1)"
    )


def _positive_int(path: Path, key: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PasoError(f"{path}: metadata key {key} = {value!r} is not a whole number") from None
    if number <= 0:
        raise PasoError(f"{path}: metadata key {key} = {number} must be positive")
    return number
