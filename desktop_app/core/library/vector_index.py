"""The HNSW index of the chunk vectors: a derived cache of SQLite.

SQLite holds every chunk's vector (a float32 blob); the HNSW index
(``vectors.hnsw``) only makes searching them fast. It is saved atomically
(temporary file + ``os.replace``) with a stamp of the label set it holds
(``index_cache``). On open, an index that is missing, unreadable,
unstamped or not matching SQLite's chunk ids is brought in line from the
stored vectors (missing ids added, ids SQLite no longer has marked
deleted), so a ``kill -9`` at any moment leaves a library that opens and
searches correctly.

Chunk ids are never reused (AUTOINCREMENT), which is what makes that repair
a pair of set differences: an id in the index but not in SQLite was deleted,
an id in SQLite but not in the index was added after the last save.

Not thread-safe by itself: the store calls it holding its lock. Only the
holder of the writer lock (``writer_lock``) saves the index.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from desktop_app.core.library.index_cache import label_digest, read_stamp, write_stamp
from desktop_app.core.library.writer_lock import WriterLock

log = logging.getLogger(__name__)

INDEX_NAME = "vectors.hnsw"

# HNSW build/search parameters. At 250k distinct passages (bench/search_scale.py,
# issue 12) ef=256 gave recall@10 0.937 against exact search, ef=512 0.968 and
# ef=1024 0.986 (0.979 on a rebuilt library), for 4.4 ms a vector query
# including the query's embedding; ef=1536 0.995 on that rebuilt library
# (bench/data/README.md, "HNSW search ef").
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 1536


class VectorIndex:
    """The in-memory HNSW index of one library, kept in line with the
    chunks of its SQLite connection ``db``."""

    def __init__(self, root: Path, db: sqlite3.Connection, library_id: str, writer: WriterLock,
                 dim: Optional[int], replaced: Callable[[], bool]) -> None:
        self.root = root
        self._db = db
        self.library_id = library_id
        self.writer = writer
        # True when another folder now sits at the library's path: never
        # save this index into it.
        self._replaced = replaced
        self.dim = dim
        self.index = None          # hnswlib.Index, created when the dim is known
        self._count = 0            # labels in the index, deleted ones included
        self.labels: set[int] = set()   # live labels of the in-memory index
        self._saved_digest: Optional[str] = None   # of the label set on disk
        self._last_save = time.monotonic()

    @property
    def path(self) -> Path:
        return self.root / INDEX_NAME

    @property
    def live(self) -> int:
        return len(self.labels)

    def _db_ids(self) -> set[int]:
        return set(r[0] for r in self._db.execute("SELECT id FROM chunks"))

    def remove_stale_temp_files(self) -> None:
        # Another process may be writing its own .part right now: only the
        # writer (or anyone while no writer runs) may clear leftovers.
        try:
            if not self.writer.try_acquire():
                return
        except OSError:
            return
        try:
            for leftover in self.root.glob(f".{INDEX_NAME}.*.part"):
                try:
                    leftover.unlink()
                except OSError:
                    pass
        finally:
            self.writer.release()

    def _new_hnsw(self, capacity: int):
        import hnswlib

        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=max(1024, capacity), ef_construction=HNSW_EF_CONSTRUCTION,
                         M=HNSW_M, random_seed=100)
        index.set_ef(HNSW_EF_SEARCH)
        return index

    def open(self) -> None:
        """Load the saved index and bring it in line with SQLite."""
        import hnswlib

        stamp = read_stamp(self.path)
        if stamp is not None and (stamp.library_id != self.library_id or stamp.dim != self.dim):
            stamp = None
        index = None
        if stamp is not None:
            try:
                index = hnswlib.Index(space="ip", dim=self.dim)
                index.load_index(str(self.path))
                index.set_ef(HNSW_EF_SEARCH)
            except Exception as exc:  # a damaged cache is rebuilt, never fatal
                log.warning("vector index %s unreadable (%s); rebuilding it", self.path, exc)
                index = None
        if index is None:
            self._rebuild()
            return
        self.index = index
        self._count = index.get_current_count()
        self._saved_digest = stamp.digest
        db_ids = self._db_ids()
        if stamp.count == len(db_ids) and stamp.digest == label_digest(self.library_id, db_ids):
            self.labels = db_ids
            return
        self.reconcile(db_ids)

    def reconcile(self, db_ids: Optional[set[int]] = None, save: bool = True) -> None:
        """Make the in-memory index hold exactly SQLite's chunk ids. Valid
        for an index of this library: ids are never reused, so an id in both
        has the same vector, and an id is dropped from the index only after
        SQLite dropped it."""
        t0 = time.monotonic()
        if db_ids is None:
            db_ids = self._db_ids()
        # All labels the index ever had (deleted ones too): marking a deleted
        # one again is a no-op, and a deleted id never comes back to SQLite.
        index_ids = set(int(i) for i in self.index.get_ids_list())
        stale = index_ids - db_ids
        missing = sorted(db_ids - index_ids)
        for label in stale:
            try:
                self.index.mark_deleted(label)
            except RuntimeError:  # already deleted in the saved index
                pass
        self._add_from_db(missing)
        self.labels = set(db_ids)
        log.info("vector index repaired from SQLite: %d added, %d dropped (%.1fs)",
                 len(missing), len(stale), time.monotonic() - t0)
        if save:
            self.save()

    def _add_from_db(self, ids: Sequence[int], batch: int = 4096) -> None:
        for lo in range(0, len(ids), batch):
            part = ids[lo:lo + batch]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", part).fetchall()
            if rows:
                vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
                self.add(vectors, np.array([r[0] for r in rows], dtype=np.int64))

    def _rebuild(self) -> None:
        live = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        self.index = self._new_hnsw(int(live * 1.25) + 1024)
        self._count = 0
        ids = [r[0] for r in self._db.execute("SELECT id FROM chunks ORDER BY id")]
        self.labels = set()
        self._add_from_db(ids)
        self._saved_digest = None
        log.info("vector index built from SQLite: %d vectors", live)
        self.save()

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        needed = self._count + len(ids)
        capacity = self.index.get_max_elements()
        if needed > capacity:
            self.index.resize_index(max(needed, int(capacity * 1.5)))
        self.index.add_items(vectors, ids)
        self._count += len(ids)
        self.labels.update(int(i) for i in ids)

    def discard(self, chunk_ids: Iterable[int]) -> None:
        if self.index is None:
            return
        for label in chunk_ids:
            try:
                self.index.mark_deleted(label)
            except RuntimeError:
                pass
            self.labels.discard(label)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first."""
        if self.index is None or self.live <= 0:
            return []
        k = min(k, self.live)
        self.index.set_ef(max(HNSW_EF_SEARCH, k))
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        while True:
            try:
                labels, distances = self.index.knn_query(query, k=k)
                break
            except RuntimeError:
                # Fewer reachable live elements than k (many deletions):
                # ask for fewer rather than fail the search.
                if k <= 1:
                    return []
                k //= 2
        return [(int(l), float(1.0 - d)) for l, d in zip(labels[0], distances[0])]

    def save(self, force: bool = False) -> None:
        """Write the index atomically, then its stamp (what it holds).

        Only the holder of the writer lock saves (a reader that cannot take it
        at once leaves the file to the writer; the next open repairs it)."""
        if self.index is None:
            return
        digest = label_digest(self.library_id, self.labels)
        if not force and digest == self._saved_digest and self.path.exists():
            return
        try:
            got_lock = self.writer.try_acquire()
        except OSError as exc:   # a read-only library dir: nothing can be saved
            log.info("vector index not saved: %s", exc)
            return
        if not got_lock:
            log.info("vector index not saved: another process is writing the library")
            return
        try:
            self._save_locked(digest)
        except (OSError, RuntimeError) as exc:
            # A cache that cannot be saved (a full disk) is rebuilt from
            # SQLite by the next open; never a reason to fail.
            log.warning("vector index not saved: %s", exc)
        finally:
            self.writer.release()

    def _save_locked(self, digest: str) -> None:
        # Checked holding the writer lock, which a swap holds too: never
        # write this index into the folder that replaced ours.
        if self._replaced():
            return
        # Too many deleted labels slow search and waste memory: start over.
        if self._count > 4096 and self.live < self._count // 2:
            self._rebuild()
            return
        tmp = self.root / f".{INDEX_NAME}.{os.getpid()}.part"
        try:
            self.index.save_index(str(tmp))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fchmod(fd, 0o600)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            write_stamp(self.path, self.library_id, len(self.labels), digest, self.dim)
        except BaseException:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            raise
        self._saved_digest = digest
        self._last_save = time.monotonic()

    def new_builder(self) -> "IndexBuilder":
        """An empty index with this library's parameters (see ``adopt``)."""
        return IndexBuilder(self._new_hnsw(int(self.live * 1.1) + 1024))

    def adopt(self, builder: "IndexBuilder", extra: Iterable[int]) -> None:
        """Take the index built alongside as this one: ids it holds that
        SQLite no longer has are dropped, the stored vectors of ``extra``
        ids it did not see are added. Then the index is saved."""
        self.index = builder.index
        self._count = builder.count
        live = self._db_ids()
        built = {int(i) for i in self.index.get_ids_list()}
        for label in built - live:
            self.index.mark_deleted(label)
        self.labels = built & live
        self._add_from_db(sorted(set(extra) - self.labels))
        self.save(force=True)

    def seconds_since_save(self) -> float:
        return time.monotonic() - self._last_save


class IndexBuilder:
    """An HNSW index being filled outside the store's lock."""

    def __init__(self, index) -> None:
        self.index = index
        self.count = 0

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        needed = self.count + len(ids)
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, int(self.index.get_max_elements() * 1.5)))
        self.index.add_items(vectors, ids)
        self.count += len(ids)
