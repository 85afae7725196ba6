"""What is inside a GGUF model file, read from its header (memory-mapped,
never loading weights): metadata, tensors and their types, parameter count,
quantization. A file that is not a complete GGUF model, or whose header
llama.cpp would abort on, is refused with a GGUFError fit for the user.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Optional

from desktop_app.core.llm.lineage import is_hearth_made, read_sidecar

_GGUF_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# Arrays longer than this (vocabularies, merges) are skipped, not decoded:
# they are most of a header's size and nothing the catalog shows needs them.
_MAX_KEPT_ARRAY = 4096


class GGUFError(ValueError):
    """A file that is not a usable GGUF model (corrupt, truncated, not GGUF)."""


# GGUF value types -> (struct code, size); 8 = string, 9 = array.
_SCALARS = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


def _quant_tables():
    import gguf

    sizes = {int(t): (t.name, block, size) for t, (block, size) in gguf.GGML_QUANT_SIZES.items()}
    file_types = {}
    for ft in gguf.LlamaFileType:
        name = ft.name
        for prefix in ("MOSTLY_", "ALL_"):
            if name.startswith(prefix):
                name = name[len(prefix):]
        file_types[int(ft.value)] = name
    return sizes, file_types


_TABLES: Optional[tuple] = None


def _tables():
    global _TABLES  # a cache of constants from the gguf package, not state
    if _TABLES is None:
        _TABLES = _quant_tables()
    return _TABLES


def ggml_type_name(type_id: int) -> str:
    entry = _tables()[0].get(type_id)
    return entry[0] if entry else f"type{type_id}"


def file_type_name(file_type: int) -> str:
    return _tables()[1].get(file_type, f"file_type {file_type}")


class _Cursor:
    """Bounds-checked little-endian reads over a memory map."""

    def __init__(self, buf, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"the file ends inside its header (while reading {what} at byte {self.pos}); "
                            "it is truncated or corrupt")

    def scalar(self, code: str, size: int, what: str):
        self.need(size, what)
        value = struct.unpack_from(code, self.buf, self.pos)[0]
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return self.scalar("<I", 4, what)

    def u64(self, what: str) -> int:
        return self.scalar("<Q", 8, what)

    def string(self, what: str, limit: int = 1 << 30) -> str:
        n = self.u64(what)
        if n > limit:
            raise GGUFError(f"implausible string length {n} in {what}; the file is corrupt")
        self.need(n, what)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        n = self.u64(what)
        self.need(n, what)
        self.pos += n

    def _skip_strings(self, count: int, what: str) -> None:
        # The hot loop of a header read (a 262k-token vocabulary, 4 MB of
        # strings): it holds the GIL, which the UI thread needs too, so it is
        # kept to one call per string; unpack_from's own bounds check stands
        # in for a comparison per string (33 ms instead of 56 ms for Gemma 3).
        unpack, buf, pos = _U64.unpack_from, self.buf, self.pos
        try:
            for _ in range(count):
                pos += 8 + unpack(buf, pos)[0]
        except struct.error:   # a length field past the end of the file
            self.pos = pos
            self.need(8, what)
            raise
        self.pos = pos
        self.need(0, what)

    def value(self, vtype: int, key: str, keep_all: bool = False):
        if vtype in _SCALARS:
            code, size = _SCALARS[vtype]
            return self.scalar(code, size, key)
        if vtype == _STRING:
            return self.string(key)
        if vtype == _ARRAY:
            item_type = self.u32(key)
            count = self.u64(key)
            if count > self.size:
                raise GGUFError(f"implausible array length {count} in {key}; the file is corrupt")
            if item_type in _SCALARS:
                code, size = _SCALARS[item_type]
                self.need(count * size, key)
                if count > _MAX_KEPT_ARRAY and not keep_all:
                    self.pos += count * size
                    return _SkippedArray(count)
                values = list(struct.unpack_from(f"<{count}{code[1]}", self.buf, self.pos))
                self.pos += count * size
                return values
            if item_type == _STRING:
                if count > _MAX_KEPT_ARRAY and not keep_all:
                    self._skip_strings(count, key)
                    return _SkippedArray(count)
                return [self.string(key) for _ in range(count)]
            if item_type == _ARRAY:
                return [self.value(_ARRAY, key, keep_all) for _ in range(count)]
            raise GGUFError(f"unknown array item type {item_type} in {key}; the file is corrupt")
        raise GGUFError(f"unknown value type {vtype} for key {key!r}; the file is corrupt")


@dataclass(frozen=True)
class _SkippedArray:
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str
    shape: tuple[int, ...]  # GGUF order: ne[0] (row length) first
    offset: int              # absolute byte offset of the data in the file
    n_bytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    file_size: int
    gguf_version: int
    architecture: str
    name: Optional[str]
    size_label: Optional[str]
    parameter_count: int
    file_type: Optional[str]          # general.file_type by name, e.g. "Q4_K_M"
    tensor_types: dict[str, int]      # ggml type name -> number of tensors
    tensor_count: int
    layer_count: Optional[int]        # <arch>.block_count
    context_length: Optional[int]
    embedding_length: Optional[int]
    chat_template: bool
    quantization: str                 # a label always present (file type or dominant weight type)
    lineage: Optional[dict] = None    # the sidecar, for variants Hearth made
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)  # scalar/short keys
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False)

    @property
    def hearth_made(self) -> bool:
        return is_hearth_made(self.lineage)

    @property
    def is_quantized(self) -> bool:
        """True when any weight matrix is stored in a quantized type (not F32/F16/BF16)."""
        return any(t not in ("F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64")
                   for t in self.tensor_types)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "file_size": self.file_size,
            "gguf_version": self.gguf_version,
            "architecture": self.architecture,
            "name": self.name,
            "size_label": self.size_label,
            "parameter_count": self.parameter_count,
            "file_type": self.file_type,
            "quantization": self.quantization,
            "tensor_types": dict(self.tensor_types),
            "tensor_count": self.tensor_count,
            "layer_count": self.layer_count,
            "context_length": self.context_length,
            "embedding_length": self.embedding_length,
            "chat_template": self.chat_template,
            "lineage": self.lineage,
            "hearth_made": self.hearth_made,
        }


def read_gguf_info(path: os.PathLike | str, *, with_lineage: bool = True) -> ModelInfo:
    """Read a GGUF file's header (memory-mapped; weights are never touched)
    and check that its tensor data fits in the file.

    Raises GGUFError with a message fit for the user on anything that is not
    a complete GGUF model.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise GGUFError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GGUFError(f"{path}: is a folder, not a GGUF file") from None
    except OSError as exc:
        raise GGUFError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24:
            head = handle.read(4)
            if head and _GGUF_MAGIC.startswith(head):
                raise GGUFError(f"{path.name}: truncated GGUF (only {size} bytes)")
            raise GGUFError(f"{path.name}: not a GGUF model (only {size} bytes)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                info = _parse(path, buf, size)
            except GGUFError as exc:
                raise GGUFError(f"{path.name}: {exc}") from None
            except (struct.error, OverflowError, MemoryError, ValueError) as exc:
                raise GGUFError(f"{path.name}: corrupt GGUF header ({exc})") from None
    if with_lineage:
        lineage = read_sidecar(path)
        if lineage is not None:
            info = replace(info, lineage=lineage)
    return info


def read_gguf_metadata(path: os.PathLike | str) -> list[tuple[str, int, Optional[int], Any]]:
    """Every metadata key of a GGUF file, in file order, with its full value:
    ``(key, value_type, array_item_type or None, value)`` (types are GGUF
    value-type numbers, as ``gguf.GGUFValueType``). For rewriting a model."""
    path = Path(path)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        size = len(buf)
        if bytes(buf[0:4]) != _GGUF_MAGIC:
            raise GGUFError(f"{path.name}: not a GGUF model")
        cur = _Cursor(buf, size)
        cur.pos = 4
        cur.u32("version")
        cur.u64("tensor count")
        kv_count = cur.u64("metadata count")
        items = []
        for _ in range(kv_count):
            key = cur.string("a metadata key", limit=65536)
            vtype = cur.u32(key)
            sub_type = None
            if vtype == _ARRAY:
                sub_type = struct.unpack_from("<I", buf, cur.pos)[0] if cur.pos + 4 <= size else None
            items.append((key, vtype, sub_type, cur.value(vtype, key, keep_all=True)))
        return items


def _parse(path: Path, buf, size: int) -> ModelInfo:
    cur = _Cursor(buf, size)
    magic = bytes(buf[0:4])
    if magic != _GGUF_MAGIC:
        raise GGUFError("not a GGUF model (the file does not start with the GGUF signature)")
    cur.pos = 4
    version = cur.u32("version")
    if version not in (2, 3):
        raise GGUFError(f"unsupported GGUF version {version} (Hearth reads versions 2 and 3)")
    tensor_count = cur.u64("tensor count")
    kv_count = cur.u64("metadata count")
    # Each tensor info takes at least 24 bytes; each key/value at least 12.
    if tensor_count * 24 > size or kv_count * 12 > size:
        raise GGUFError(f"the header announces {tensor_count} tensors and {kv_count} keys but the file has "
                        f"only {size:,} bytes; it is truncated or corrupt")

    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string("a metadata key", limit=65536)
        vtype = cur.u32(key)
        metadata[key] = cur.value(vtype, key)

    sizes = _tables()[0]
    tensors_raw = []
    for i in range(tensor_count):
        name = cur.string(f"tensor {i}'s name", limit=65536)
        n_dims = cur.u32(name)
        if not 1 <= n_dims <= 4:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions; the file is corrupt")
        shape = tuple(cur.u64(name) for _ in range(n_dims))
        type_id = cur.u32(name)
        offset = cur.u64(name)
        if type_id not in sizes:
            raise GGUFError(f"tensor {name!r} has unknown type {type_id}")
        tensors_raw.append((name, shape, type_id, offset))

    alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"invalid general.alignment {alignment!r}")
    data_start = (cur.pos + alignment - 1) // alignment * alignment

    tensors = []
    data_end = data_start
    params = 0
    for name, shape, type_id, offset in tensors_raw:
        type_name, block, type_size = sizes[type_id]
        n = 1
        for d in shape:
            n *= d
        if shape[0] % block:
            raise GGUFError(f"tensor {name!r}: row length {shape[0]} is not a multiple of its "
                            f"{type_name} block size {block}")
        n_bytes = n // block * type_size
        start = data_start + offset
        tensors.append(TensorInfo(name, type_name, shape, start, n_bytes))
        data_end = max(data_end, start + n_bytes)
        params += n
    if data_end > size:
        missing = data_end - size
        raise GGUFError(f"truncated: the tensor data needs {data_end:,} bytes but the file has "
                        f"{size:,} ({missing:,} missing); the download or copy was cut short")

    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GGUFError("the header has no general.architecture; not a model file")

    def arch_int(key: str) -> Optional[int]:
        value = metadata.get(f"{arch}.{key}")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    _check_layers(arch_int("block_count"), tensors)
    type_counts = Counter(t.type for t in tensors)
    ft = metadata.get("general.file_type")
    file_type = file_type_name(ft) if isinstance(ft, int) else None
    quantization = file_type or _dominant_weight_type(tensors) or "unknown"
    kept = {k: v for k, v in metadata.items()
            if not isinstance(v, _SkippedArray) and k != "tokenizer.chat_template"}
    return ModelInfo(
        path=path,
        file_size=size,
        gguf_version=version,
        architecture=arch,
        name=metadata.get("general.name") if isinstance(metadata.get("general.name"), str) else None,
        size_label=metadata.get("general.size_label") if isinstance(metadata.get("general.size_label"), str) else None,
        parameter_count=params,
        file_type=file_type,
        tensor_types=dict(type_counts.most_common()),
        tensor_count=len(tensors),
        layer_count=arch_int("block_count"),
        context_length=arch_int("context_length"),
        embedding_length=arch_int("embedding_length"),
        chat_template=isinstance(metadata.get("tokenizer.chat_template"), str)
        and bool(metadata.get("tokenizer.chat_template")),
        quantization=quantization,
        metadata=kept,
        tensors=tuple(tensors),
    )


# llama.cpp's LLAMA_MAX_LAYERS: a larger block_count aborts the process in
# llama.cpp (GGML_ASSERT), so it is refused here with a sentence instead.
LLAMA_MAX_LAYERS = 512
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.")


def _check_layers(block_count: Optional[int], tensors: Iterable["TensorInfo"]) -> None:
    """The layer count the header states must be one llama.cpp accepts and
    match the layers whose tensors the file holds."""
    if block_count is None:
        return
    if not 1 <= block_count <= LLAMA_MAX_LAYERS:
        raise GGUFError(f"the header says the model has {block_count} layers (llama.cpp accepts 1 to "
                        f"{LLAMA_MAX_LAYERS}); the file is corrupt")
    layers = {int(m.group(1)) for t in tensors if (m := _BLOCK_TENSOR.match(t.name))}
    if layers and (max(layers) >= block_count or len(layers) != block_count):
        raise GGUFError(f"the header says the model has {block_count} layers but its tensors are for "
                        f"{len(layers)}; the file is corrupt")


def _dominant_weight_type(tensors: Iterable[TensorInfo]) -> Optional[str]:
    weights = Counter()
    for t in tensors:
        if len(t.shape) >= 2:
            weights[t.type] += t.n_elements
    return weights.most_common(1)[0][0] if weights else None


__all__ = ["GGUFError", "TensorInfo", "ModelInfo", "read_gguf_info", "read_gguf_metadata", "ggml_type_name",
           "file_type_name", "LLAMA_MAX_LAYERS"]
