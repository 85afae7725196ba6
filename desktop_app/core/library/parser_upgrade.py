"""Passages made by an older parser are made again, without losing any.

Each parser module has a ``PARSER_VERSION`` (``parse.parser_version``);
the library records per file the version that made its passages
(``files.parser_version``; NULL in a library from before it was recorded,
which is ``LEGACY_PARSER_VERSION``). The scan of an add or a refresh
treats a file whose recorded version is older than its parser's like a
changed file: ingest parses it again, in the background job that indexes
changed files, with its progress and cancel. Only the files of that parser
are read again.

The library's status counts the files that wait for it
(``waiting_for_reparse``), which the CLI and the window show. The window
syncs (``Library.refresh``) by itself once when it opens on a library where
that count is not 0, and, with ``watch_folders`` on, when files change and
every five minutes; from a terminal, ``library add`` of the folder again.
The files of a folder that is not there (an unplugged drive) are kept and
still wait, until a sync finds it back.

Two things make that cheap and safe, for a file changed on disk too:

- ``FileHold``: a file that already has passages is written whole, its
  new passages in the same transaction as its old ones leave. Searches see
  the old passages or the new ones, never a part; a cancel or a ``kill -9``
  leaves the old ones with the old version recorded, and the next refresh
  does the file again. (A file of more than ``HOLD_MAX`` passages streams
  as before, to keep memory bounded: interrupted, it is redone next time.)
- ``VectorReuse``: a new passage whose embedded text equals one of the
  file's old passages gets that passage's stored vector instead of being
  embedded again -- most of them, when a parser change drops a page's
  furniture and leaves its sections alone.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Optional, Union

import numpy as np

from desktop_app.core.library.context import embed_text
from desktop_app.core.library.parse import newest_parser_version, parser_version
from desktop_app.core.library.reembed import needs_reembed

log = logging.getLogger(__name__)

# What made the passages of a library from before versions were recorded.
LEGACY_PARSER_VERSION = 1
HOLD_MAX = 4096       # passages of one file held back until it is complete
REUSE_MAX = 8192      # old passages of one file looked up for their vectors

# A passage to store: the text to embed, or a vector reused for it.
Item = Union[str, np.ndarray]


def add_column(db: sqlite3.Connection) -> None:
    """Schema upgrade, in the caller's transaction: an older library's
    files get a ``parser_version`` (NULL: ``LEGACY_PARSER_VERSION``)."""
    if not file_fields(db).endswith("parser_version"):
        db.execute("ALTER TABLE files ADD COLUMN parser_version INTEGER")
        log.info("library schema: files.parser_version added")


def file_fields(db: sqlite3.Connection) -> str:
    """The columns of a ``FileRecord``; a library of the older schema opened
    read-only (not upgraded) has no ``parser_version``."""
    fields = "id, source_id, path, size, mtime_ns, sha256, status, reason, chunks"
    has = "parser_version" in {r[1] for r in db.execute("PRAGMA table_info(files)")}
    return f"{fields}, {'parser_version' if has else 'NULL'}"


def outdated(record) -> bool:
    """True when ``record``'s (a ``FileRecord``) passages, or its failure,
    came from an older version of its parser than the current one."""
    made_by = record.parser_version if record.parser_version is not None else LEGACY_PARSER_VERSION
    return made_by < parser_version(record.path)


def waiting_for_reparse(store) -> int:
    """How many files of ``store`` the next sync parses again because their
    parser is newer than the one that read them (what ``outdated`` says of
    each). A status asks it: it costs a pass over the files' paths, not a
    ``Path`` each (a library of 100,000 files).
    """
    versions: dict[str, int] = {}   # parser version by what decides it (_suffix_key)
    waiting = 0
    for path, made_by in store.parser_versions_below(newest_parser_version()):
        key = _suffix_key(path)
        if key not in versions:
            versions[key] = parser_version(key)
        waiting += made_by < versions[key]
    return waiting


def _suffix_key(path: str) -> str:
    """The end of ``path`` that decides its suffix, so its parser: from the
    character before its last dot on (a separator there: the name starts
    with that dot, it has no suffix; a separator after the dot: the dot is
    a folder's), or all of it."""
    dot = path.rfind(".")
    return path[dot - 1:] if dot > 0 else path


def reparse_note(count: int) -> str:
    """What the CLI's status and the window's status line say of
    ``waiting_for_reparse``; empty when no file waits."""
    if not count:
        return ""
    return f"{count} file{'s' if count != 1 else ''} will be re-read by a newer parser on the next sync"


class VectorReuse:
    """Stored vectors of a file's passages, by the text they were embedded
    from. Off when the stored vectors are not what the embedder makes now
    (an older embedded-text composition or another backend: ``reembed``)."""

    def __init__(self, store, embedder) -> None:
        self.store = store
        self.enabled = not needs_reembed(store, getattr(embedder, "backend", None))

    def of(self, known) -> dict[str, np.ndarray]:
        if not self.enabled or known is None or not 0 < known.chunks <= REUSE_MAX:
            return {}
        with self.store.transaction() as db:
            rows = db.execute("SELECT title, section, text, vector FROM chunks WHERE file_id = ?",
                              (known.id,)).fetchall()
        return {embed_text(title, section, text): np.frombuffer(blob, dtype=np.float32)
                for title, section, text, blob in rows}


def vectors_for(embedder, items: list[Item], check) -> np.ndarray:
    """One vector per item: reused ones as they are, texts embedded (in one
    call, so the embedder batches them)."""
    out = np.empty((len(items), embedder.dim), dtype=np.float32)
    todo = [i for i, item in enumerate(items) if isinstance(item, str)]
    if todo:
        out[todo] = embedder.encode([items[i] for i in todo], check=check)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            out[i] = item
    return out


class FileHold:
    """The write ops (and passages) of the file being read, held back until
    the file is complete when it already has passages in the library; the
    producer reads files in order, so one file at a time."""

    def __init__(self) -> None:
        self.path: Optional[str] = None
        self.ops: list = []
        self.items: list[Item] = []

    def start(self, cand) -> None:
        known = cand.known
        replacing = known is not None and known.status == "ok" and known.chunks <= HOLD_MAX
        self.path = cand.path if replacing else None
        self.ops, self.items = [], []

    def holds(self, cand) -> bool:
        return self.path is not None and self.path == cand.path

    def add(self, op, item: Optional[Item] = None) -> None:
        self.ops.append(op)
        if item is not None:
            self.items.append(item)

    @property
    def full(self) -> bool:
        return len(self.items) > HOLD_MAX

    def release(self) -> tuple[list, list[Item]]:
        """What was held, in order; nothing is held afterwards."""
        ops, items = self.ops, self.items
        self.path, self.ops, self.items = None, [], []
        return ops, items
