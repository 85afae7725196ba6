"""Write operations produced by ingest, applied in order by ``Store.write_batch``
in one transaction a batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from desktop_app.core.library.documents import Chunk


@dataclass(frozen=True)
class FileStart:
    path: str
    source_id: int


@dataclass(frozen=True)
class ChunkOp:
    path: str
    chunk: Chunk


@dataclass(frozen=True)
class FileDone:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    parser_version: Optional[int] = None   # of the parser that made its passages


@dataclass(frozen=True)
class FileFailed:
    path: str
    source_id: int
    reason: str
    size: Optional[int] = None
    mtime_ns: Optional[int] = None
    parser_version: Optional[int] = None   # of the parser that failed on it


@dataclass(frozen=True)
class FileUnchanged:
    path: str
    source_id: int
    size: int
    mtime_ns: int


WriteOp = FileStart | ChunkOp | FileDone | FileFailed | FileUnchanged
