"""The model catalog: which GGUF models the user has, what is inside each one
(read from the GGUF header, never loading weights), and how Hearth-made
variants descend from each other.

Lineage lives next to each variant in a sidecar ``<model>.gguf.hearth.json``
(``parent``, ``method``, ``settings``, ``created``, and an ``evaluation``
section written by the evaluator). A model whose sidecar records how Hearth
made it (a ``method`` and a ``parent``) is "Hearth-made"; only those may be
deleted from disk through the catalog. Any model can have a sidecar holding
only an ``evaluation``: that does not make it Hearth-made.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from desktop_app.core.childproc import remove_stale_parts
from desktop_app.core.jobs import CancelToken, Report, ignore_progress
from desktop_app.core.paths import AppPaths, PROJECT_MODELS_DIR, atomic_write

if TYPE_CHECKING:
    from desktop_app.core.llm.discovery import ScanRequest

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".hearth.json"
_GGUF_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# Arrays longer than this (vocabularies, merges) are skipped, not decoded:
# they are most of a header's size and nothing the catalog shows needs them.
_MAX_KEPT_ARRAY = 4096


class GGUFError(ValueError):
    """A file that is not a usable GGUF model (corrupt, truncated, not GGUF)."""


class CatalogError(ValueError):
    """A catalog request that cannot be honoured (e.g. deleting a user's own file)."""


# --- GGUF header parsing ----------------------------------------------------

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
            info = _replace(info, lineage=lineage)
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


def _replace(info: ModelInfo, **changes) -> ModelInfo:
    from dataclasses import replace

    return replace(info, **changes)


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


# --- lineage sidecars --------------------------------------------------------

def sidecar_path(model_path: os.PathLike | str) -> Path:
    return Path(str(model_path) + SIDECAR_SUFFIX)


def read_sidecar(model_path: os.PathLike | str) -> Optional[dict]:
    """The lineage sidecar of a model, or None when it has none (or it is unreadable)."""
    side = sidecar_path(model_path)
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable lineage file %s: %s", side, exc)
        return None
    return data if isinstance(data, dict) else None


def is_hearth_made(lineage: Optional[dict]) -> bool:
    """True when a sidecar says how Hearth made the model (method and parent);
    an evaluation alone is stored beside the user's own models too."""
    return bool(lineage and lineage.get("method") and lineage.get("parent"))


_SIDECAR_LOCK = threading.Lock()


def write_sidecar(model_path: os.PathLike | str, data: dict) -> dict:
    """Merge ``data``'s top-level keys into the model's sidecar (atomically)
    and return the merged document. Values must be JSON-serialisable."""
    with _SIDECAR_LOCK:
        merged = dict(read_sidecar(model_path) or {})
        merged.update(data)
        text = json.dumps(merged, indent=2, ensure_ascii=False, default=str)
        with atomic_write(sidecar_path(model_path), "w") as handle:
            handle.write(text + "\n")
    return merged


def lineage_record(parent: os.PathLike | str, method: str, settings: dict) -> dict:
    """A fresh lineage document for a variant made from ``parent``."""
    parent = Path(parent).resolve()
    return {
        "parent": str(parent),
        "parent_name": parent.name,
        "method": method,
        "settings": settings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --- the catalog -------------------------------------------------------------

@dataclass(frozen=True)
class CatalogEntry:
    path: Path
    source: str                      # "default", "project", "models-dir", "added", or a discovery place
    info: Optional[ModelInfo] = None
    error: Optional[str] = None      # why the file is unusable (then info is None)
    app_name: Optional[str] = None   # the name another app gives it ("gemma3:270m"), when found there

    @property
    def ok(self) -> bool:
        return self.info is not None

    @property
    def label(self) -> str:
        if self.source == "default":
            from desktop_app.core.defaults import DEFAULT_LLM_LABEL

            return DEFAULT_LLM_LABEL
        if self.app_name:
            quant = self.info.quantization if self.info else None
            return f"{self.app_name} ({quant})" if quant and quant not in self.app_name else self.app_name
        if self.info and self.info.name:
            return f"{self.info.name} ({self.info.quantization})"
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        doc = {"path": str(self.path), "source": self.source, "label": self.label,
               "ok": self.ok, "error": self.error, "app_name": self.app_name}
        if self.info is not None:
            doc["info"] = self.info.to_dict()
        return doc


@dataclass
class VariantNode:
    path: Path
    info: Optional[ModelInfo]
    lineage: Optional[dict]
    children: list["VariantNode"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "quantization": self.info.quantization if self.info else None,
            "file_size": self.info.file_size if self.info else None,
            "method": (self.lineage or {}).get("method"),
            "settings": (self.lineage or {}).get("settings"),
            "evaluation": (self.lineage or {}).get("evaluation"),
            "children": [c.to_dict() for c in self.children],
        }

    def walk(self) -> Iterable["VariantNode"]:
        yield self
        for child in self.children:
            yield from child.walk()


class ModelCatalog:
    """Every GGUF model Hearth knows about. Thread-safe; header reads are
    cached per (path, size, mtime) so listing stays fast."""

    STATE_FILE = "catalog.json"

    def __init__(self, paths: AppPaths, *, project_models_dir: Optional[Path] = PROJECT_MODELS_DIR,
                 include_default: bool = True, scan: Optional[Callable[[], "ScanRequest"]] = None,
                 env: Optional[dict] = None) -> None:
        """``scan`` gives the other apps' places to list (read at every
        listing, so a settings change applies at the next refresh); None
        lists only Hearth's own folders. ``env`` stands in for os.environ."""
        self.paths = paths
        self.scan = scan
        self.env = env
        self.project_models_dir = project_models_dir
        self.include_default = include_default
        self._lock = threading.RLock()
        self._cache: dict[Path, tuple[tuple[int, int], ModelInfo]] = {}

    # persisted "added from anywhere" list
    @property
    def _state_file(self) -> Path:
        return self.paths.data_dir / self.STATE_FILE

    def _added(self) -> list[Path]:
        try:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
            return [Path(p) for p in data.get("added", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("catalog state %s unreadable (%s); starting empty", self._state_file, exc)
            return []

    def _save_added(self, added: list[Path]) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self._state_file, "w") as handle:
            json.dump({"added": [str(p) for p in added]}, handle, indent=2)

    def default_model_path(self, *, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> Path:
        from desktop_app.core.defaults import default_llm_path

        return default_llm_path(self.paths.models_dir, token=token, report=report)

    def info(self, path: os.PathLike | str) -> ModelInfo:
        """Header info (with lineage) of one file; raises GGUFError."""
        path = Path(path).expanduser().resolve()
        try:
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        with self._lock:
            cached = self._cache.get(path)
        if stamp is not None and cached is not None and cached[0] == stamp:
            info = cached[1]
        else:
            info = read_gguf_info(path, with_lineage=False)
            if stamp is not None:
                with self._lock:
                    self._cache[path] = (stamp, info)
        # Lineage is re-read every time: the evaluator updates it independently.
        return _replace(info, lineage=read_sidecar(path))

    def _candidates(self, token: Optional[CancelToken], report: Report
                    ) -> list[tuple[Path, str, Optional[str], Optional[str]]]:
        found: list[tuple[Path, str, Optional[str], Optional[str]]] = []
        if self.include_default:
            try:
                found.append((self.default_model_path(token=token, report=report).resolve(), "default", None, None))
            except Exception as exc:  # noqa: BLE001 - the catalog must list the rest
                from desktop_app.core.jobs import Cancelled

                if isinstance(exc, Cancelled):
                    raise
                log.warning("default model unavailable: %s", exc)
                found.append((self.paths.models_dir, "default", f"the packaged default model is unavailable: {exc}",
                              None))
        for folder, source in ((self.project_models_dir, "project"), (self.paths.models_dir, "models-dir")):
            if folder is None or not Path(folder).is_dir():
                continue
            remove_stale_parts(Path(folder))  # partial outputs of a killed quantize/prune run
            for p in sorted(Path(folder).glob("*.gguf")):
                # hidden names are Hearth's temporaries; importance matrices are GGUF but not models
                if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".imatrix.gguf"):
                    found.append((p.resolve(), source, None, None))
        for p in self._added():
            found.append((p, "added", None, None))
        if self.scan is not None:
            from desktop_app.core.llm.discovery import discover

            for f in discover(self.scan(), env=self.env, token=token, report=report):
                found.append((f.path, f.place, f.problem, f.name))
        seen: set[Path] = set()
        unique = []
        for path, source, error, app_name in found:
            if path in seen:
                continue
            seen.add(path)
            unique.append((path, source, error, app_name))
        return unique

    def list(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> list[CatalogEntry]:
        """All known models; unusable files are listed with their error."""
        entries = []
        for path, source, error, app_name in self._candidates(token, report):
            if token is not None:
                token.check()
            if error is not None:
                entries.append(CatalogEntry(path, source, None, error, app_name))
                continue
            try:
                entries.append(CatalogEntry(path, source, self.info(path), None, app_name))
            except GGUFError as exc:
                entries.append(CatalogEntry(path, source, None, str(exc), app_name))
        return entries

    def add(self, path: os.PathLike | str) -> CatalogEntry:
        """Remember a model file from anywhere; raises GGUFError if it is not one."""
        path = Path(path).expanduser().resolve()
        info = self.info(path)
        with self._lock:
            added = self._added()
            if path not in added and not self._in_scanned_folder(path):
                added.append(path)
                self._save_added(added)
        return CatalogEntry(path, "added", info)

    def _in_scanned_folder(self, path: Path) -> bool:
        for folder in (self.project_models_dir, self.paths.models_dir):
            if folder is not None and path.parent == Path(folder).resolve():
                return True
        return False

    def remove(self, path: os.PathLike | str, *, delete_file: bool = False) -> None:
        """Forget a model. With ``delete_file``, also delete it from disk, which
        is allowed only for variants Hearth made (its sidecar names a method
        and a parent)."""
        path = Path(path).expanduser().resolve()
        if delete_file:
            if not is_hearth_made(read_sidecar(path)):
                raise CatalogError(f"{path.name} was not made by Hearth; Hearth only forgets it, "
                                   "it never deletes your own files")
            path.unlink(missing_ok=True)
            sidecar_path(path).unlink(missing_ok=True)
        with self._lock:
            added = self._added()
            if path in added:
                added.remove(path)
                self._save_added(added)
            self._cache.pop(path, None)

    def variants_of(self, path: os.PathLike | str) -> VariantNode:
        """The family tree that ``path`` belongs to, rooted at its oldest known
        ancestor: parents come from sidecars, children are every catalog entry
        (or parent-recorded file) whose sidecar names the node as its parent."""
        path = Path(path).expanduser().resolve()
        entries = {e.path: e for e in self.list()}
        parent_of: dict[Path, Path] = {}
        for p, e in entries.items():
            lineage = e.info.lineage if e.info else read_sidecar(p)
            if lineage and lineage.get("parent"):
                parent_of[p] = Path(lineage["parent"])
        # Walk up from ``path`` (guarding against cycles in hand-edited sidecars).
        root = path
        lineage = read_sidecar(root)
        seen = {root}
        while lineage and lineage.get("parent"):
            parent = Path(lineage["parent"])
            if parent in seen:
                break
            parent_of[root] = parent  # ancestors outside the catalog still link up
            seen.add(parent)
            root = parent
            lineage = read_sidecar(root)

        def node(p: Path, depth: int = 0) -> VariantNode:
            entry = entries.get(p)
            info = entry.info if entry else None
            if info is None and entry is None:
                try:
                    info = self.info(p)
                except GGUFError:
                    info = None
            n = VariantNode(p, info, read_sidecar(p))
            if depth < 32:
                n.children = [node(c, depth + 1) for c, par in sorted(parent_of.items()) if par == p and c != p]
            return n

        return node(root)


def describe_size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes} B"


__all__ = [
    "GGUFError", "CatalogError", "TensorInfo", "ModelInfo", "read_gguf_info", "read_gguf_metadata", "sidecar_path",
    "is_hearth_made", "read_sidecar", "write_sidecar", "lineage_record", "CatalogEntry", "VariantNode",
    "ModelCatalog", "describe_size", "ggml_type_name", "file_type_name",
]
