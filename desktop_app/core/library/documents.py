"""The data that flows through the library: parsed blocks, chunks, hits.

These are the contracts between parsing (``parse/``), chunking
(``chunk.py``), the store and search, and everything that cites a source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional


class ParseError(Exception):
    """A file that cannot be read as a document. ``reason`` is short and
    meant for the user ("encrypted PDF", "binary file", "empty file")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Block:
    """A run of clean text from one place of a document.

    ``page`` is 1-based for paged formats (PDF), else None. ``section`` is the
    heading path where the format has headings ("Install > On Linux"), else
    None. ``start`` is the character offset of ``text`` in the document's
    extracted text (blocks of one document are consecutive, in order).
    """

    text: str
    page: Optional[int] = None
    section: Optional[str] = None
    start: int = 0


@dataclass(frozen=True)
class Chunk:
    """What gets embedded and cited: ``start``/``end`` are character offsets
    into the document's extracted text; page/section of where it starts."""

    text: str
    page: Optional[int] = None
    section: Optional[str] = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is the ranking score of the mode used
    (the fused score for hybrid, see rank.py); ``similarity`` is the cosine of the query to
    the chunk when the vector side saw it (None otherwise), which is what a
    caller uses to judge whether anything relevant was found at all."""

    path: str
    text: str
    score: float
    page: Optional[int] = None
    section: Optional[str] = None
    start: int = 0
    end: int = 0
    chunk_id: int = 0
    similarity: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)
