"""The private document library: folders in, passages out.

``Library`` ties the store (SQLite + HNSW), the embedder and the ingest
pipeline together. It is the one writer of its library dir: add, remove and
refresh are serialized, within the process by a lock and across processes
by the store's writer lock (a second window or a CLI run waits, told who
holds it); searches run between ingest batches and never wait for a writer.
"""

from __future__ import annotations

import errno
import functools
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.library.documents import Hit
from desktop_app.core.library.context import EMBED_TEXT_VERSION
from desktop_app.core.library.fsnames import display, to_fs
from desktop_app.core.library.ingest import IngestReport, run_ingest
from desktop_app.core.library.parser_upgrade import waiting_for_reparse
from desktop_app.core.library.rank import BARE_TEXT_WEIGHTS, DEFAULT_WEIGHTS, fuse
from desktop_app.core.library.rerank import POOL as RERANK_POOL, rerank as rerank_candidates
from desktop_app.core.library.recovery import LibraryError, read_folder_list, write_folder_list
from desktop_app.core.library.scan import PathLike, inside, normalize, scan, unavailable_reason
from desktop_app.core.library.store import Store
from desktop_app.core.settings import Settings

log = logging.getLogger(__name__)

SEARCH_MODES = ("hybrid", "vector", "bm25")
# Progress stage while another process holds the library (detail: who).
WAITING = "waiting"
MIN_CANDIDATES = 50        # per ranked list fed to the fusion


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


@dataclass(frozen=True)
class LibraryFile:
    """One file of a folder, as the library holds it."""

    path: str
    state: str                 # "indexed" | "failed" | "pending" (interrupted mid-way, redone by the next add)
    reason: Optional[str]      # why it failed, for "failed"
    passages: int

    def to_dict(self) -> dict:
        return {"path": self.path, "state": self.state, "reason": self.reason, "passages": self.passages}


_FILE_STATES = {"ok": "indexed", "failed": "failed", "indexing": "pending"}


def _summary(self: IngestReport) -> str:
    parts = [f"{n} {label}" for n, label in (
        (self.added, "added"), (self.updated, "updated"), (self.reparsed, "parsed again by a newer parser"),
        (self.unchanged, "unchanged"), (self.removed, "removed"), (len(self.failed), "failed"),
        (self.chunks, "passages"), (self.reused, "of them not embedded again")) if n]
    if self.missing:
        parts.append(f"{len(self.missing)} not found")
    if self.unavailable:
        parts.append(f"{len(self.unavailable)} unavailable (kept)")
    return ", ".join(parts) if parts else "Up to date"


IngestReport.summary = _summary


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _pinned(method):
    """Run ``method`` on one store throughout (see ``Library.store``)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._pin():
            return method(self, *args, **kwargs)
    return wrapper
class _Background:
    """A call run on a thread of its own; ``result`` waits for it and
    returns its value or raises its exception. Daemon: a search never keeps
    the process alive, and there is no pool to shut down."""

    def __init__(self, fn, *args) -> None:
        self._value = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="hearth-bm25", daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class Library:
    def __init__(self, library_dir: Path, embedder_factory: Callable[[], object],
                 settings: Optional[Settings] = None, read_only: bool = False) -> None:
        from desktop_app.core.library.reindex import IndexRecipe, library_recipe, recover

        self.library_dir = Path(library_dir)
        self.settings = settings or Settings()
        self._embedder_factory = embedder_factory
        self._embedder = None
        self._embedder_lock = threading.Lock()
        self._write_lock = threading.Lock()
        # A rebuild alongside (reindex.py) swaps a new library folder in:
        # each call runs on the store it started with (a thread's pin), the
        # next one on the new store; a replaced store closes when unpinned.
        self._store_lock = threading.Lock()
        self._pins = threading.local()
        self._users: dict[int, int] = {}
        self._retired: list[Store] = []
        if not read_only:
            recover(self.library_dir, IndexRecipe.of(self.settings))
        self._store = Store(self.library_dir, read_only=read_only)
        if not self._store.read_only:
            library_recipe(self._store, self.settings)   # an earlier version's library records its recipe
        # Hybrid search runs its BM25 half on a thread of its own (see
        # search); False runs the halves one after the other
        # (bench/search_scale.py measures both in the same run).
        self.concurrent_search = True

    # ---------------------------------------------------------------- store

    @property
    def store(self) -> Store:
        pinned = getattr(self._pins, "store", None)
        return pinned if pinned is not None else self._store

    @contextmanager
    def _pin(self) -> Iterator[Store]:
        if getattr(self._pins, "store", None) is not None:   # nested: already pinned
            yield self._pins.store
            return
        self.follow_replacement()
        with self._store_lock:
            store = self._store
            self._users[id(store)] = self._users.get(id(store), 0) + 1
        self._pins.store = store
        try:
            yield store
        finally:
            self._pins.store = None
            self._unuse(store)

    def _unuse(self, store: Store) -> None:
        with self._store_lock:
            left = self._users[id(store)] - 1
            if left:
                self._users[id(store)] = left
                return
            del self._users[id(store)]
            if store not in self._retired:
                return
            self._retired.remove(store)
        store.close(save=False)

    def follow_replacement(self) -> bool:
        """Reopen the store when its folder was replaced by a rebuild
        alongside (by this process or another). True when it was."""
        store = self._store
        if not store.replaced:
            return False
        with self._store_lock:
            if self._store is not store:
                return True
            log.info("the library folder %s was swapped for a rebuilt one: reopening it", self.library_dir)
            self._store = Store(self.library_dir, read_only=store.read_only)
            if self._users.get(id(store)):
                self._retired.append(store)
                store = None
        if store is not None:
            store.close(save=False)
        return True

    def _repin(self) -> None:
        """Inside a pinned call: move the pin to the current store."""
        old = self._pins.store
        self.follow_replacement()
        with self._store_lock:
            new = self._store
            self._users[id(new)] = self._users.get(id(new), 0) + 1
        self._pins.store = new
        self._unuse(old)

    def index_recipe(self):
        """What this library's passages and vectors were made with
        (``reindex.IndexRecipe``); the settings may ask for another."""
        from desktop_app.core.library.reindex import library_recipe

        return library_recipe(self.store, self.settings)

    # ------------------------------------------------------------- embedder

    @property
    def embedder(self):
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = self._embedder_factory()
            return self._embedder

    def _chunker(self, embedder):
        from desktop_app.core.library.chunk import chunk_blocks

        # The library's own passage size until a re-index changes it (reindex.py):
        # files indexed meanwhile stay like the others.
        recipe = self.index_recipe()
        max_tokens = min(recipe.chunk_tokens, embedder.max_tokens - 2)  # [CLS] and [SEP]
        overlap = min(recipe.chunk_overlap, max_tokens // 2)
        count = embedder.count_tokens
        return lambda blocks: chunk_blocks(blocks, count, max_tokens, overlap)

    def reset_embedder(self) -> None:
        """The embedder backend setting changed: the next use asks the
        factory again (a re-index then re-embeds, ``reindex.py``)."""
        with self._embedder_lock:
            self._embedder = None

    # ---------------------------------------------------------------- ingest

    @contextmanager
    def _writing(self, token: Optional[CancelToken], report: Report) -> Iterator[None]:
        """Be the only writer of the library dir (this thread among ours, this
        process among all), with the in-memory index caught up with whatever
        another process committed before."""
        def on_wait(message: str) -> None:
            report(Progress(WAITING, 0, None, message))

        with self._write_lock, self._pin():
            if self.store.read_only:
                raise LibraryError(f"the library folder {self.library_dir} is read-only: search and status "
                                   "work, adding or removing files needs a folder Hearth can write")
            while True:
                try:
                    self.store.writer.acquire(token, on_wait)
                except OSError as exc:
                    raise LibraryError(f"cannot write to the library folder {self.library_dir} "
                                       f"({exc.strerror or exc}): search and status work, adding or removing "
                                       "files does not") from None
                if not self.store.replaced:
                    break
                # The lock's holder swapped a rebuilt library in: write to that one.
                self.store.writer.release()
                self._repin()
            try:
                self.store.sync()
                yield
            except (sqlite3.OperationalError, OSError) as exc:
                if not _is_disk_full(exc):
                    raise
                raise LibraryError(
                    f"the disk holding the library is full ({exc}): what was indexed before is kept and "
                    "searchable; free some space and run the same add again to carry on") from None
            finally:
                self.store.writer.release()

    @contextmanager
    def exclusive(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> Iterator[None]:
        """Hold the library as its only writer (other writers, in this
        process or another, wait; searches go on)."""
        with self._writing(token, report):
            yield

    def add(self, paths: Iterable[PathLike], *, token: Optional[CancelToken] = None,
            report: Report = ignore_progress) -> IngestReport:
        """Index folders (recursively) and files; incremental by content hash.

        Raises Cancelled when ``token`` is cancelled: what was committed until
        then stays searchable and the next add carries on from there.
        """
        from desktop_app.core.library.parse import is_supported, parse_file

        token = token or CancelToken()
        result = IngestReport()
        with self._writing(token, report):
            t0 = time.monotonic()
            report(Progress("scanning", 0, None, ""))
            embedder = self.embedder
            self.store.ensure_embedder(embedder.name, embedder.dim)
            found = scan(self.store, paths, is_supported, token=token, report=report, result=result)
            result.files = found.files
            try:
                run_ingest(self.store, embedder, found.candidates, total_files=found.files, done_files=found.done,
                           parse=parse_file, chunker=self._chunker(embedder), token=token,
                           report=report, result=result)
            finally:
                result.seconds = time.monotonic() - t0
            for source_id in found.touched:
                self.store.touch_source(source_id)
            log.info("library add: %s in %.1fs", result.summary(), result.seconds)
            return result

    def rebuild(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> IngestReport:
        """Index again every folder and file of the saved folder list (after
        a damaged database was moved aside, the library starts empty)."""
        known = [s.path for s in self.store.sources()]
        saved = [p for p, _ in read_folder_list(self.library_dir)]
        paths = list(dict.fromkeys(known + saved))
        if not paths:
            raise LibraryError("there is no folder list to rebuild from: add your folders with `hearth library add`")
        try:
            return self.add([to_fs(p) for p in paths], token=token, report=report)
        finally:
            # Until every folder is back, the saved list keeps all of them.
            now = [(s.path, s.kind) for s in self.store.sources()]
            have = {p for p, _ in now}
            write_folder_list(self.library_dir, now + [(p, k) for p, k in read_folder_list(self.library_dir)
                                                       if p not in have])

    def refresh(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> IngestReport:
        """Re-scan every known source (the GUI's background sync).

        A source whose root folder is gone is skipped and its files kept
        (``unavailable``); files gone from a folder that is there leave.
        Files an older version of their parser made are parsed again
        (``parser_upgrade``), each replaced whole.
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
            reason = unavailable_reason(source)
            if reason is None:
                present.append(source.path)
            else:
                result.unavailable.append((source.path, reason))
        if present:
            inner = self.add(present, token=token or CancelToken(), report=report)
            inner.unavailable = result.unavailable + inner.unavailable
            return inner
        return result

    # ------------------------------------------------------------ re-embed

    def needs_reembed(self) -> bool:
        """True when the stored vectors were made from an older composition
        of the embedded text (a library from an earlier version), or by
        another embedder backend than the settings name."""
        from desktop_app.core.library.reembed import needs_reembed

        return needs_reembed(self.store, self.settings.embedder_backend)

    def reembed(self, *, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> int:
        """Rebuild every vector alongside the old ones; searches keep using
        the old index until the new one is complete (``reembed.py``)."""
        from desktop_app.core.library.reembed import reembed

        with self._writing(token, report):
            embedder = self.embedder
            self.store.ensure_embedder(embedder.name, embedder.dim)
            return reembed(self.store, embedder, token=token, report=report)

    # ---------------------------------------------------------------- remove

    def remove(self, path: PathLike, *, token: Optional[CancelToken] = None,
               report: Report = ignore_progress) -> int:
        """Take a folder or file (a source, or anything inside one) out of the
        library. Returns how many files left the index."""
        target = display(normalize(path))
        with self._writing(token, report):
            removed = 0
            for source in self.store.sources():
                if inside(source.path, target):
                    removed += self.store.delete_source(source.id)
            removed += self._remove_rest(target)
            self.store.save_index()
            return removed

    def _remove_rest(self, target: str) -> int:
        known = self.store.files_under(target)
        removed = self.store.delete_files(r.id for r in known.values())
        # Inside a folder that stays: keep it out of the next scans too.
        if any(s.kind == "folder" and inside(target, s.path) and s.path != target
               for s in self.store.sources()):
            self.store.add_exclusion(target)
        return removed

    # ---------------------------------------------------------------- search

    @_pinned
    def search(self, query: str, k: int = 5, mode: str = "hybrid", rerank: bool = True) -> list[Hit]:
        """The ``k`` passages that best answer ``query``.

        ``hybrid`` fuses the HNSW and BM25 candidates by their normalized
        scores (``rank.fuse``), then re-ranks the first of them
        (``rerank.rerank``): document evidence, and other evidence placed
        ahead of near-copies of a placed passage and of a placed file's
        further passages; its ``score`` is the score each hit was placed by.
        ``rerank=False`` keeps the fused order: the chat, whose answer is
        built from the first passages, measured better with a page's
        neighbouring passages kept together (bench/data/README.md).
        ``similarity`` is the cosine of query and passage (computed for every
        hit of the vector and hybrid modes; None in bm25 mode, which never
        embeds the query).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r} (choose {', '.join(SEARCH_MODES)})")
        if k < 1 or not query.strip():
            return []
        n = max(MIN_CANDIDATES, 4 * k)
        vector_hits: list[tuple[int, float]] = []
        bm25_hits: list[tuple[int, float]] = []
        qvec = None
        pending = None
        if mode == "hybrid" and self.concurrent_search:
            # BM25 (SQLite) runs while the query is embedded and the HNSW
            # index searched (onnxruntime, hnswlib): all three release the
            # GIL, so the search costs about the longer half, not the sum.
            pending = _Background(self.store.bm25_search, query, n)
        try:
            if mode in ("vector", "hybrid"):
                qvec = self.embedder.encode([query])[0]
                vector_hits = self.store.vector_search(qvec, n if mode == "hybrid" else k)
        except BaseException:
            if pending is not None:
                pending.wait()   # never leave it running on a closing store; this error is the one to tell
            raise
        if pending is not None:
            bm25_hits = pending.result()
        elif mode in ("bm25", "hybrid"):
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
            fused = fuse(vector_hits, bm25_hits, file_of, weights)
            if rerank:
                pool = [chunk_id for chunk_id, _ in fused[:max(RERANK_POOL, k)]]
                ranked = rerank_candidates(fused, file_of, k, self.store.chunk_vectors(pool))
            else:
                ranked = fused[:k]
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

    @_pinned
    def sources(self) -> list[Source]:
        counts = self.store.counts_by_source()
        failures = self.store.failures()
        out = []
        for s in self.store.sources():
            c = counts.get(s.id, {"files": 0, "chunks": 0, "failed": 0, "indexing": 0})
            mine = tuple((p, r) for p, r in failures if inside(p, s.path))
            reason = unavailable_reason(s)
            out.append(Source(s.path, s.kind, c["files"], c["chunks"], c["failed"], c["indexing"],
                              s.added_at, s.updated_at, mine, reason is None, reason))
        return out

    @_pinned
    def files(self, path: PathLike) -> list[LibraryFile]:
        """The files of the added folder or file at *path*, by path; empty when
        it is not in the library."""
        target = normalize(path)
        for s in self.store.sources():
            if s.path == target:
                return [LibraryFile(f.path, _FILE_STATES.get(f.status, f.status), f.reason, f.chunks)
                        for f in self.store.files_of_source(s.id)]
        return []

    @_pinned
    def status(self) -> dict:
        from desktop_app.core.library.reindex import plan

        sources = self.sources()
        totals = {**self.store.totals(), "reparse": waiting_for_reparse(self.store)}
        return {
            "reindex": plan(self).to_dict(),
            "library_dir": str(self.library_dir),
            "embedder": self.store.embedder_name,
            "folders": [s.to_dict() for s in sources],
            "failures": [{"path": p, "reason": r} for p, r in self.store.failures()],
            "totals": totals,
            "last_update": max((s.last_update or 0 for s in sources), default=None) or None,
        }

    def close(self) -> None:
        with self._write_lock:
            with self._store_lock:
                retired, self._retired = self._retired, []
            for store in retired:
                store.close(save=False)
            self._store.close()
