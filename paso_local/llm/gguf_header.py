"""Reading a GGUF file's header without loading the model: its metadata (all keys or the wanted ones), where
its tensor data ends (so a truncated file is found from the header alone) and the quantisation's name. Used by
`paso-local models` (paso_local.catalog) and by every command that opens a model (paso_local.llm.modelfiles)."""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paso_local.errors import PasoError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32  # GGUF's, when general.alignment is absent

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def read_header(path: Path, wanted: set[str] | None = None) -> dict[str, object]:
    """The GGUF metadata key/values (arrays skipped), reading only as far as needed. Stops once every key in
    `wanted` (a set of names, `{arch}` expanded after general.architecture) is found."""
    with _mapped(path) as data:
        return _read_metadata(_HeaderReader(data, path), wanted)


def read_layout(path: Path) -> tuple[dict[str, object], int]:
    """The metadata and the byte where the last tensor's data ends, from the header alone (no tensor data
    is read): a file shorter than that is truncated."""
    with _mapped(path) as data:
        reader = _HeaderReader(data, path)
        values = _read_metadata(reader, None)
        return values, _tensor_data_end(reader, values)


def check_complete(path: Path) -> None:
    """PasoError when `path` is not a GGUF file or is shorter than its header says (a cut-off download)."""
    _values, end = read_layout(path)
    size = Path(path).stat().st_size
    if size < end:
        raise PasoError(truncated_message(path, size, end))


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def truncated_message(path: Path, size: int, end: int) -> str:
    return (
        f"{path} is damaged: it is {format_size(size)} but its header describes {format_size(end)} of "
        "model data (an interrupted download or copy?). Get the file again."
    )


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap]:
    with open(path, "rb") as handle:
        try:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # empty file
            raise PasoError(f"{path} is empty") from exc
    with data:
        yield data


class _HeaderReader:
    """Little-endian GGUF values from a mapped file; every length is checked against the file's end."""

    def __init__(self, data: mmap.mmap, path: Path):
        self.data, self.path, self.offset = data, path, 0
        self.tensor_count = 0

    def _need(self, size: int) -> None:
        if self.offset + size > len(self.data):
            raise PasoError(f"{self.path} ends inside its GGUF header (truncated file?)")

    def take(self, fmt: str) -> object:
        size = struct.calcsize("<" + fmt)
        self._need(size)
        (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return value

    def string(self) -> str:
        length = int(self.take("Q"))
        self._need(length)
        raw = bytes(self.data[self.offset : self.offset + length])
        self.offset += length
        return raw.decode("utf-8", errors="replace")

    def skip(self, value_type: int) -> None:
        if value_type == _STRING:
            length = int(self.take("Q"))  # read first: `offset += take()` would add to the old offset
            self.offset += length
        elif value_type == _ARRAY:
            item_type, count = int(self.take("I")), int(self.take("Q"))
            if item_type in _SCALARS:
                self.offset += struct.calcsize("<" + _SCALARS[item_type]) * count  # count was read above
            elif item_type == _STRING:
                self._skip_strings(count)
            else:
                for _ in range(count):
                    self.skip(item_type)
        elif value_type in _SCALARS:
            self.take(_SCALARS[value_type])
        else:
            raise PasoError(f"{self.path}: unknown GGUF value type {value_type} (damaged file?)")
        self._need(0)

    def _skip_strings(self, count: int) -> None:
        """A tokenizer's vocabulary: tens of thousands of strings, so the tightest loop that checks bounds."""
        data, offset, unpack, end = self.data, self.offset, struct.unpack_from, len(self.data)
        complete = True
        for _ in range(count):
            if offset + 8 > end:
                complete = False
                break
            offset += 8 + unpack("<Q", data, offset)[0]
        self.offset = offset
        self._need(0 if complete else 8)  # raises when the list runs past the end of the file


def _read_metadata(reader: _HeaderReader, wanted: set[str] | None) -> dict[str, object]:
    if bytes(reader.data[:4]) != GGUF_MAGIC:
        raise PasoError(f"{reader.path} is not a GGUF file (no GGUF magic)")
    reader.offset = 4
    version = int(reader.take("I"))
    if version not in (2, 3):
        raise PasoError(f"{reader.path}: GGUF version {version} is not supported (2 or 3 expected)")
    reader.tensor_count = int(reader.take("Q"))
    n_kv = int(reader.take("Q"))
    values: dict[str, object] = {}
    pending = set(wanted) if wanted else None
    for _ in range(n_kv):
        key = reader.string()
        value_type = int(reader.take("I"))
        if value_type == _STRING:
            values[key] = reader.string()
        elif value_type in _SCALARS:
            values[key] = reader.take(_SCALARS[value_type])
        else:
            reader.skip(value_type)
        if pending is not None:
            if key == "general.architecture":
                pending = {k.replace("{arch}", str(values[key])) for k in pending}
            pending.discard(key)
            if not pending:
                break
    return values


def _tensor_data_end(reader: _HeaderReader, values: dict[str, object]) -> int:
    """After the key/values: each tensor's name, shape, type and offset; data starts at the next multiple
    of general.alignment. The end of the furthest tensor is where the file must reach."""
    import gguf

    end = 0
    for _ in range(reader.tensor_count):
        name = reader.string()
        dims = [int(reader.take("Q")) for _ in range(int(reader.take("I")))]
        kind, offset = int(reader.take("I")), int(reader.take("Q"))
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise PasoError(
                f"{reader.path}: tensor {name!r} has unknown type {kind} (damaged file?)"
            ) from None
        elements = math.prod(dims)
        end = max(end, offset + elements // block * type_size)
    alignment = values.get("general.alignment", DEFAULT_ALIGNMENT)
    alignment = alignment if isinstance(alignment, int) and alignment > 0 else DEFAULT_ALIGNMENT
    data_start = -(-reader.offset // alignment) * alignment
    return data_start + end


def quantization_name(file_type: object) -> str:
    import gguf

    try:
        return gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
    except (TypeError, ValueError):
        return "unknown"
