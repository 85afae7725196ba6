"""What the store hands out: rows of its tables as frozen records, and the
error it raises when it is used wrongly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class FileRecord:
    id: int
    source_id: int
    path: str
    size: Optional[int]
    mtime_ns: Optional[int]
    sha256: Optional[str]
    status: str
    reason: Optional[str]
    chunks: int
    parser_version: Optional[int] = None   # None: from before it was recorded (parser_upgrade)


@dataclass(frozen=True)
class SourceRecord:
    id: int
    path: str
    kind: str
    added_at: float
    updated_at: Optional[float]


@dataclass(frozen=True)
class ChunkRow:
    id: int
    path: str
    text: str
    page: Optional[int]
    section: Optional[str]
    start: int
    end: int
