"""The private document library: folders in, passages out.

``Library`` ties the store (SQLite + HNSW), the embedder and the ingest
pipeline together. It is the one writer of its library dir: add, remove and
refresh are serialized; searches run between ingest batches.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.library.documents import Hit
from desktop_app.core.library.ingest import Candidate, IngestReport, run_ingest, walk_files
from desktop_app.core.library.context import EMBED_TEXT_VERSION
from desktop_app.core.library.rank import BARE_TEXT_WEIGHTS, DEFAULT_WEIGHTS, fuse
from desktop_app.core.library.store import SourceRecord, Store
from desktop_app.core.settings import Settings

log = logging.getLogger(__name__)

SEARCH_MODES = ("hybrid", "vector", "bm25")
MIN_CANDIDATES = 50        # per ranked list fed to the fusion
# Failures a retry may fix without the file changing (permissions, a file
# that was being moved): tried again on every add.
_TRANSIENT = ("unreadable", "file vanished")

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class Source:
    """A folder or file the user added, with what the library holds of it."""

    path: str
    kind: str                  # "folder" | "file"
    files: int
    chunks: int
    failed: int
    indexing: int              # files interrupted mid-way, redone by the next add
    added_at: float
    last_update: Optional[float]
    failures: tuple = ()       # ((path, reason), ...)
    # False while the folder itself is gone (its files stay indexed).
    available: bool = True
    unavailable_reason: Optional[str] = None

    def to_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "files": self.files, "chunks": self.chunks,
                "failed": self.failed, "indexing": self.indexing, "added_at": self.added_at,
                "last_update": self.last_update,
                "failures": [{"path": p, "reason": r} for p, r in self.failures],
                "available": self.available, "unavailable_reason": self.unavailable_reason}


def _summary(self: IngestReport) -> str:
    parts = [f"{n} {label}" for n, label in (
        (self.added, "added"), (self.updated, "updated"), (self.unchanged, "unchanged"),
        (self.removed, "removed"), (len(self.failed), "failed"), (self.chunks, "passages")) if n]
    if self.missing:
        parts.append(f"{len(self.missing)} not found")
    if self.unavailable:
        parts.append(f"{len(self.unavailable)} unavailable (kept)")
    return ", ".join(parts) if parts else "Up to date"


IngestReport.summary = _summary


def _norm(path: PathLike) -> str:
    return str(Path(path).expanduser().resolve())


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _outermost(paths: Iterable[PathLike]) -> list[str]:
    """The given paths normalized, each once, without those inside another
    given folder (a folder and a file in it, dropped together, are one
    source), folders first."""
    unique = list(dict.fromkeys(_norm(p) for p in paths))
    folders = [p for p in unique if os.path.isdir(p)]
    kept = [p for p in unique if not any(f != p and _inside(p, f) for f in folders)]
    return sorted(kept, key=lambda p: not os.path.isdir(p))


def _unavailable_reason(source: SourceRecord) -> Optional[str]:
    """Why a source cannot be scanned now, or None when its root is there.

    The root of a folder source is the folder; of a file source, the folder
    holding it (a file deleted from a folder that is there is simply gone).
    A missing root is most likely a drive or share that is not connected,
    so its files stay in the index until it is back or the user removes it.
    """
    root = source.path if source.kind == "folder" else os.path.dirname(source.path)
    if os.path.isdir(root):
        return None
    what = "folder" if source.kind == "folder" else "folder holding this file"
    return (f"the {what} is not there ({root}): is its drive unplugged or its share unmounted? "
            "Its indexed files are kept until it is back or you remove it")


class Library:
    def __init__(self, library_dir: Path, embedder_factory: Callable[[], object],
                 settings: Optional[Settings] = None) -> None:
        self.library_dir = Path(library_dir)
        self.settings = settings or Settings()
        self._embedder_factory = embedder_factory
        self._embedder = None
        self._embedder_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.store = Store(self.library_dir)

    # ------------------------------------------------------------- embedder

    @property
    def embedder(self):
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = self._embedder_factory()
            return self._embedder

    def _chunker(self, embedder):
        from desktop_app.core.library.chunk import chunk_blocks

        max_tokens = min(self.settings.chunk_tokens, embedder.max_tokens - 2)  # [CLS] and [SEP]
        overlap = min(self.settings.chunk_overlap, max_tokens // 2)
        count = embedder.count_tokens
        return lambda blocks: chunk_blocks(blocks, count, max_tokens, overlap)

    # ---------------------------------------------------------------- ingest

    def add(self, paths: Iterable[PathLike], *, token: Optional[CancelToken] = None,
            report: Report = ignore_progress) -> IngestReport:
        """Index folders (recursively) and files; incremental by content hash.

        Raises Cancelled when ``token`` is cancelled: what was committed until
        then stays searchable and the next add carries on from there.
        """
        from desktop_app.core.library.parse import is_supported, parse_file

        token = token or CancelToken()
        result = IngestReport()
        with self._write_lock:
            t0 = time.monotonic()
            report(Progress("scanning", 0, None, ""))
            embedder = self.embedder
            self.store.ensure_embedder(embedder.name, embedder.dim)
            excluded = self.store.exclusions()
            candidates: list[Candidate] = []
            total = done = 0
            touched: set[int] = set()
            for path in _outermost(paths):
                token.check()
                if not os.path.exists(path):
                    reason = self._unavailable_near(path)
                    if reason is not None:
                        result.unavailable.append((path, reason))
                        continue
                    result.missing.append(path)
                    # A file or folder gone from a folder that is there leaves the index.
                    gone = self.store.files_under(path)
                    if gone:
                        result.removed += self.store.delete_files(r.id for r in gone.values())
                    continue
                is_dir = os.path.isdir(path)
                if not is_dir and not is_supported(Path(path)):
                    result.failed.append((path, "unsupported format"))
                    continue
                source = self._source_for(path, "folder" if is_dir else "file", excluded)
                excluded = self.store.exclusions()
                touched.add(source.id)
                seen, todo, unchanged = self._scan(path, source, is_dir, is_supported, excluded, token, result)
                candidates += todo
                total += seen
                done += unchanged
                report(Progress("scanning", total, None, path))
            # A path given twice (or a folder and a file in it) is indexed once.
            unique: dict[str, Candidate] = {}
            for cand in candidates:
                unique.setdefault(cand.path, cand)
            total -= len(candidates) - len(unique)
            result.files = total
            try:
                run_ingest(self.store, embedder, list(unique.values()), total_files=total, done_files=done,
                           parse=parse_file, chunker=self._chunker(embedder), token=token,
                           report=report, result=result)
            finally:
                result.seconds = time.monotonic() - t0
            for source_id in touched:
                self.store.touch_source(source_id)
            log.info("library add: %s in %.1fs", result.summary(), result.seconds)
            return result

    def refresh(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> IngestReport:
        """Re-scan every known source (the GUI's background sync).

        A source whose root folder is gone is skipped and its files kept
        (``unavailable``); files gone from a folder that is there leave.
        A library whose vectors are of an older embedded-text composition
        is then re-embedded alongside (searches keep working meanwhile).
        """
        sources = self.store.sources()
        if not sources:
            return IngestReport()
        result = self._refresh_sources(sources, token, report)
        if self.needs_reembed():
            result.chunks += self.reembed(token=token, report=report)
        return result

    def _refresh_sources(self, sources, token: Optional[CancelToken], report: Report) -> IngestReport:
        result = IngestReport()
        present = []
        for source in sources:
            reason = _unavailable_reason(source)
            if reason is None:
                present.append(source.path)
            else:
                result.unavailable.append((source.path, reason))
        if present:
            inner = self.add(present, token=token or CancelToken(), report=report)
            inner.unavailable = result.unavailable + inner.unavailable
            return inner
        return result

    def _unavailable_near(self, path: str) -> Optional[str]:
        """The reason ``path`` (which does not exist) belongs to a source
        whose root is gone, or None when it is just not there."""
        for source in self.store.sources():
            if _inside(path, source.path) or _inside(source.path, path):
                reason = _unavailable_reason(source)
                if reason is not None:
                    return reason
        return None

    def _source_for(self, path: str, kind: str, excluded: set[str]) -> SourceRecord:
        for source in self.store.sources():
            if source.path == path:
                return source
            if (source.kind == "folder" and _inside(path, source.path)
                    and not any(_inside(path, e) for e in excluded)):
                return source
        return self.store.add_source(path, kind)

    def _scan(self, path: str, source: SourceRecord, is_dir: bool, is_supported, excluded: set[str],
              token: CancelToken, result: IngestReport) -> tuple[int, list[Candidate], int]:
        """Compare the disk under ``path`` with what the index knows.

        Returns (files seen, candidates to hash/parse, files unchanged by
        size and mtime). Known files that are gone leave the index here.
        """
        known = {p: r for p, r in self.store.files_under(path).items() if r.source_id == source.id}
        if is_dir:
            entries = ((e.path, e.stat()) for e in walk_files(Path(path), is_supported, excluded))
        else:
            entries = iter([(path, os.stat(path))])
        seen: set[str] = set()
        todo: list[Candidate] = []
        unchanged = 0
        for i, (file_path, st) in enumerate(entries):
            if i % 256 == 0:
                token.check()
            seen.add(file_path)
            record = known.get(file_path)
            same_stat = record is not None and record.size == st.st_size and record.mtime_ns == st.st_mtime_ns
            if same_stat and record.status == "ok" and record.sha256:
                unchanged += 1
                result.unchanged += 1
                continue
            if same_stat and record.status == "failed" and not (record.reason or "").startswith(_TRANSIENT):
                unchanged += 1  # it failed as it is; it would fail the same way again
                continue
            todo.append(Candidate(file_path, source.id, st.st_size, st.st_mtime_ns, record))
        gone = [r.id for p, r in known.items() if p not in seen]
        if gone:
            result.removed += self.store.delete_files(gone)
        return len(seen), todo, unchanged

    # ------------------------------------------------------------ re-embed

    def needs_reembed(self) -> bool:
        """True when the stored vectors were made from an older composition
        of the embedded text (a library from an earlier version)."""
        from desktop_app.core.library.reembed import needs_reembed

        return needs_reembed(self.store)

    def reembed(self, *, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> int:
        """Rebuild every vector alongside the old ones; searches keep using
        the old index until the new one is complete (``reembed.py``)."""
        from desktop_app.core.library.reembed import reembed

        with self._write_lock:
            embedder = self.embedder
            self.store.ensure_embedder(embedder.name, embedder.dim)
            return reembed(self.store, embedder, token=token, report=report)

    # ---------------------------------------------------------------- remove

    def remove(self, path: PathLike) -> int:
        """Take a folder or file (a source, or anything inside one) out of the
        library. Returns how many files left the index."""
        target = _norm(path)
        with self._write_lock:
            removed = 0
            for source in self.store.sources():
                if _inside(source.path, target):
                    removed += self.store.delete_source(source.id)
            removed += self._remove_rest(target)
            self.store.save_index()
            return removed

    def _remove_rest(self, target: str) -> int:
        known = self.store.files_under(target)
        removed = self.store.delete_files(r.id for r in known.values())
        # Inside a folder that stays: keep it out of the next scans too.
        if any(s.kind == "folder" and _inside(target, s.path) and s.path != target
               for s in self.store.sources()):
            self.store.add_exclusion(target)
        return removed

    # ---------------------------------------------------------------- search

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` passages that best answer ``query``.

        ``hybrid`` fuses the HNSW and BM25 candidates by their normalized
        scores with document evidence (``rank.fuse``); its ``score`` is the
        fused score. ``similarity`` is the cosine of query
        and passage (computed for every hit of the vector and hybrid modes;
        None in bm25 mode, which never embeds the query).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r} (choose {', '.join(SEARCH_MODES)})")
        if k < 1 or not query.strip():
            return []
        n = max(MIN_CANDIDATES, 4 * k)
        vector_hits: list[tuple[int, float]] = []
        bm25_hits: list[tuple[int, float]] = []
        qvec = None
        if mode in ("vector", "hybrid"):
            qvec = self.embedder.encode([query])[0]
            vector_hits = self.store.vector_search(qvec, n if mode == "hybrid" else k)
        if mode in ("bm25", "hybrid"):
            bm25_hits = self.store.bm25_search(query, n if mode == "hybrid" else k)
        similarity = dict(vector_hits)
        if mode == "vector":
            ranked = vector_hits[:k]
        elif mode == "bm25":
            ranked = bm25_hits[:k]
        else:
            candidates = list(dict.fromkeys([c for c, _ in vector_hits] + [c for c, _ in bm25_hits]))
            rows = self.store.chunk_rows(candidates)
            file_of = {chunk_id: row.path for chunk_id, row in rows.items()}
            weights = DEFAULT_WEIGHTS if self.store.embed_text_version >= EMBED_TEXT_VERSION else BARE_TEXT_WEIGHTS
            ranked = fuse(vector_hits, bm25_hits, file_of, weights)[:k]
        ids = [chunk_id for chunk_id, _ in ranked]
        if mode != "hybrid":
            rows = self.store.chunk_rows(ids)
        if qvec is not None:
            unseen = [i for i in ids if i not in similarity]
            for chunk_id, vec in self.store.chunk_vectors(unseen).items():
                similarity[chunk_id] = float(np.dot(qvec, vec))
        hits = []
        for chunk_id, score in ranked:
            row = rows.get(chunk_id)
            if row is None:  # deleted between the ranking and now
                continue
            hits.append(Hit(path=row.path, text=row.text, score=float(score), page=row.page,
                            section=row.section, start=row.start, end=row.end, chunk_id=chunk_id,
                            similarity=similarity.get(chunk_id)))
        return hits

    # ---------------------------------------------------------------- status

    def sources(self) -> list[Source]:
        counts = self.store.counts_by_source()
        failures = self.store.failures()
        out = []
        for s in self.store.sources():
            c = counts.get(s.id, {"files": 0, "chunks": 0, "failed": 0, "indexing": 0})
            mine = tuple((p, r) for p, r in failures if _inside(p, s.path))
            reason = _unavailable_reason(s)
            out.append(Source(s.path, s.kind, c["files"], c["chunks"], c["failed"], c["indexing"],
                              s.added_at, s.updated_at, mine, reason is None, reason))
        return out

    def status(self) -> dict:
        sources = self.sources()
        totals = self.store.totals()
        return {
            "library_dir": str(self.library_dir),
            "embedder": self.store.embedder_name,
            "folders": [s.to_dict() for s in sources],
            "failures": [{"path": p, "reason": r} for p, r in self.store.failures()],
            "totals": totals,
            "last_update": max((s.last_update or 0 for s in sources), default=None) or None,
        }

    def close(self) -> None:
        with self._write_lock:
            self.store.close()
