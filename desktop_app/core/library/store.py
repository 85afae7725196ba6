"""Where the library lives on disk: SQLite for everything, hnswlib for speed.

SQLite (WAL) is the source of truth: sources, files, chunks with their
vectors (float32 blobs) and an FTS5 index for BM25. BM25 is answered by a
tantivy index derived from it (``bm25_index.py``, ``bm25.tantivy/``) when
that holds SQLite's generation, else by FTS5 while it is caught up. The HNSW index
(``vector_index.py``, ``vectors.hnsw``) is a derived cache of the chunk
vectors, brought in line with SQLite on open whatever state a ``kill -9``
left it in. While open, a commit by another process (``PRAGMA
data_version``) brings the in-memory index in line before the next search
or write.

One writer: every method takes the store's lock, so searches run between
ingest batches; across processes, writers hold ``writer_lock`` (the index
is saved only by its holder). Files are created 0600, the folder 0700.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from desktop_app.core.library import fts
from desktop_app.core.library.bm25_index import Passage, SearchIndex
from desktop_app.core.library.context import EMBED_TEXT_VERSION, document_title
from desktop_app.core.library.database import is_damage, open_database, open_reader
from desktop_app.core.library.fts import fts_query  # noqa: F401 (re-exported)
from desktop_app.core.library.integrity import ensure_unique_passages
from desktop_app.core.library.parser_upgrade import LEGACY_PARSER_VERSION, file_fields
from desktop_app.core.library.records import ChunkRow, FileRecord, SourceRecord, StoreError
from desktop_app.core.library.recovery import FOLDER_LIST, damaged, write_folder_list
from desktop_app.core.library.schema import upgrade, write_meta
from desktop_app.core.library.vector_index import IndexBuilder, VectorIndex
from desktop_app.core.library.write_ops import (  # noqa: F401 (re-exported)
    ChunkOp, FileDone, FileFailed, FileStart, FileUnchanged, WriteOp)
from desktop_app.core.library.writer_lock import LOCK_NAME, WriterLock
from desktop_app.core.paths import ensure_private_dir

log = logging.getLogger(__name__)

DB_NAME = "library.sqlite3"


def _folder_id(path: Path) -> Optional[tuple[int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Store:
    """The library's storage. Thread-safe; one instance per library dir."""

    def __init__(self, root: Path, read_only: bool = False) -> None:
        root = Path(root)
        # A library on a read-only mount or in a folder we may not write
        # still opens for search and status; writing says why it cannot.
        self.read_only = read_only or (root.is_dir() and not os.access(root, os.W_OK | os.X_OK))
        self.root = root if self.read_only else ensure_private_dir(root)
        self.lock = threading.RLock()
        self._reader: Optional[sqlite3.Connection] = None   # BM25 queries (bm25_search)
        self._reader_lock = threading.Lock()
        db_path = self.root / DB_NAME
        try:
            self._db = open_database(db_path, self.read_only)
            if not self.read_only:
                self._upgrade_schema()
                ensure_unique_passages(self._db)
                self._set_meta_default("db_gen", "0")
                self._set_meta_default("embed_text_version", str(EMBED_TEXT_VERSION))
                # Names this database: an index saved for another one is never trusted.
                self._set_meta_default("library_id", uuid.uuid4().hex)
            self.library_id = self._meta("library_id") or ""
            self._file_fields = file_fields(self._db)
        except sqlite3.DatabaseError as exc:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            if self.read_only or not is_damage(exc):
                raise
            raise damaged(db_path, exc) from None
        self.writer = WriterLock(self.root / LOCK_NAME)
        # BM25 is answered by a tantivy index derived from SQLite when it is
        # current, else by FTS5 (bm25_index.py); False: FTS5 always (the bench
        # compares both in one run).
        self.search_index = SearchIndex(self.root, self.library_id, self.writer, self._read_connection,
                                        self.read_only)
        self.derived_bm25 = True
        # Which folder this store opened: a rebuild alongside (reindex.py)
        # swaps another one in under the same path.
        self._root_id = _folder_id(self.root)
        self._vectors = VectorIndex(self.root, self._db, self.library_id, self.writer, self._meta_int("dim"),
                                    lambda: self.replaced)
        self._embedder_seen: Optional[str] = None
        self._data_version = self._db_data_version()
        self._vectors.remove_stale_temp_files()
        if not self.read_only and not (self.root / FOLDER_LIST).exists() and self.sources():
            self._save_folder_list()   # a library from before the folder list existed
        if self._vectors.dim:
            self._open_index()
        if not self.read_only:
            self.search_index.bring_up(self._meta_int("db_gen") or 0, self._count_chunks())

    # ---------------------------------------------------------------- basics

    class _Tx:
        def __init__(self, store: "Store") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store.lock.acquire()
            self.store._db.execute("BEGIN IMMEDIATE")
            return self.store._db

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                if exc_type is None:
                    self.store._db.execute("COMMIT")
                else:
                    self.store._db.execute("ROLLBACK")
            finally:
                self.store.lock.release()

    def transaction(self) -> "Store._Tx":
        return Store._Tx(self)

    def _upgrade_schema(self) -> None:
        """Create the tables, or bring an older library's up to date in one
        transaction (``schema.upgrade``)."""
        fresh = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None
        with self.transaction() as db:
            upgrade(db, None if fresh else self._meta_int("schema_version"))

    def _read_connection(self) -> sqlite3.Connection:
        return open_reader(self.root / DB_NAME, self.read_only)

    def catch_up_search_index(self, token=None, report=lambda p: None) -> bool:
        """Bring the BM25 index in line with SQLite now (what the background
        catch-up does); False when another process is the writer."""
        return self.search_index.catch_up(token, report)

    def _meta(self, key: str) -> Optional[str]:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _meta_int(self, key: str) -> Optional[int]:
        value = self._meta(key)
        return int(value) if value is not None else None

    def _set_meta_default(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _gen(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT value FROM meta WHERE key = 'db_gen'").fetchone()[0])

    def _bump_gen(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'db_gen'")

    def _count_chunks(self) -> int:
        return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def close(self, save: bool = True) -> None:
        """Close; ``save=False`` for a store whose folder was replaced (its
        index belongs to no library any more)."""
        with self.lock:
            if self._db is None:
                return
            try:
                if save:
                    self.save_index()
            finally:
                self.search_index.close()
                with self._reader_lock:
                    if self._reader is not None:
                        self._reader.close()
                        self._reader = None
                self._db.close()
                self._db = None
                self._vectors.index = None
                self.writer.close()

    @property
    def _live(self) -> int:
        return self._vectors.live

    def _db_data_version(self) -> int:
        # Changes when another connection (another process) commits.
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def sync(self) -> None:
        """Bring the in-memory index in line with commits made by another
        process since we last looked (cheap when there were none)."""
        with self.lock:
            if self._db is None:
                return
            version = self._db_data_version()
            if version == self._data_version:
                return
            self._data_version = version
            dim = self._meta_int("dim")
            if dim != self._vectors.dim or self._meta("embedder") != getattr(self, "_embedder_seen", None):
                self._vectors.dim = dim
                self._vectors.index = None
                self._vectors.labels = set()
                if dim:
                    self._open_index()
                return
            if self._vectors.index is not None:
                self._vectors.reconcile(save=False)

    @property
    def dim(self) -> Optional[int]:
        return self._vectors.dim

    @property
    def embed_text_version(self) -> int:
        """Which composition of passage text the stored vectors were made
        from (``context.EMBED_TEXT_VERSION``)."""
        with self.lock:
            value = self._meta("embed_text_version")
            return int(value) if value is not None else EMBED_TEXT_VERSION

    @property
    def embedder_name(self) -> Optional[str]:
        with self.lock:
            return self._meta("embedder")

    def meta(self, key: str) -> Optional[str]:
        with self.lock:
            return self._meta(key)

    def set_meta(self, key: str, value) -> None:
        with self.transaction() as db:
            write_meta(db, key, value)

    @property
    def replaced(self) -> bool:
        """True when another folder now sits at this store's path (a rebuild
        alongside was swapped in): this store's files are no longer the
        library's, and it must be reopened. False while the path is missing."""
        current = _folder_id(self.root)
        return current is not None and current != self._root_id

    # --------------------------------------------------------------- vectors

    def ensure_embedder(self, name: str, dim: int) -> bool:
        """Fix the embedding space of this library. Returns False (and empties
        every file's hash, so the next add re-embeds everything) when the
        library was built with another model or dimension."""
        with self.lock:
            old_name, old_dim = self._meta("embedder"), self._vectors.dim
            if old_name == name and old_dim == dim:
                return True
            compatible = old_name is None and old_dim is None
            with self.transaction() as db:
                if not compatible:
                    log.warning("library was embedded with %s/%s, now %s/%s: re-embedding all files",
                                old_name, old_dim, name, dim)
                    db.execute("DELETE FROM chunks")
                    db.execute("UPDATE files SET sha256 = NULL, chunks = 0, "
                               "status = CASE status WHEN 'failed' THEN 'failed' ELSE 'indexing' END")
                    self._bump_gen(db)
                write_meta(db, "embedder", name)
                write_meta(db, "dim", dim)
            self._vectors.dim = dim
            if not compatible:
                try:
                    self._vectors.path.unlink()
                except FileNotFoundError:
                    pass
            self._open_index()
            return compatible

    def _open_index(self) -> None:
        """Load the saved vector index and bring it in line with SQLite."""
        self._embedder_seen = self._meta("embedder")
        self._vectors.open()

    def save_index(self, force: bool = False) -> None:
        """Save the vector index atomically with its stamp (``VectorIndex.save``):
        when it changed or ``force``, and only by the writer lock's holder."""
        with self.lock:
            if self._db is None:
                return
            self._vectors.save(force)

    def new_index_like(self) -> IndexBuilder:
        """An empty vector index with this library's parameters, to be filled
        without the store's lock and handed to ``adopt_index``."""
        with self.lock:
            if self._vectors.dim is None:
                raise StoreError("ensure_embedder() must be called before building an index")
            return self._vectors.new_builder()

    def adopt_index(self, builder: IndexBuilder, commit) -> None:
        """Swap in an index built alongside (re-embedding): ``commit(db)``
        runs in one transaction and returns ids of passages the builder did
        not see (their stored vectors are added); ids the builder holds that
        SQLite no longer has are dropped. Then the index is saved."""
        with self.lock:
            with self.transaction() as db:
                extra = commit(db)
                self._bump_gen(db)
            self._vectors.adopt(builder, extra)

    def seconds_since_save(self) -> float:
        return self._vectors.seconds_since_save()


    # --------------------------------------------------------------- sources

    def sources(self) -> list[SourceRecord]:
        with self.lock:
            return [SourceRecord(*r) for r in self._db.execute(
                "SELECT id, path, kind, added_at, updated_at FROM sources ORDER BY path")]

    def add_source(self, path: str, kind: str) -> SourceRecord:
        """Register ``path``; sources inside a new folder are merged into it."""
        with self.transaction() as db:
            now = time.time()
            db.execute("INSERT INTO sources(path, kind, added_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(path) DO NOTHING", (path, kind, now))
            row = db.execute("SELECT id, path, kind, added_at, updated_at FROM sources WHERE path = ?",
                             (path,)).fetchone()
            if kind == "folder":
                prefix = path.rstrip(os.sep) + os.sep
                inner = db.execute("SELECT id FROM sources WHERE substr(path, 1, ?) = ? AND id != ?",
                                   (len(prefix), prefix, row[0])).fetchall()
                for (inner_id,) in inner:
                    db.execute("UPDATE files SET source_id = ? WHERE source_id = ?", (row[0], inner_id))
                    db.execute("DELETE FROM sources WHERE id = ?", (inner_id,))
            db.execute("DELETE FROM exclusions WHERE path = ? OR substr(path, 1, ?) = ?",
                       (path, len(path.rstrip(os.sep)) + 1, path.rstrip(os.sep) + os.sep))
            record = SourceRecord(*row)
        self._save_folder_list()
        return record

    def _save_folder_list(self) -> None:
        """Keep the source list outside SQLite too: a rebuild needs it."""
        write_folder_list(self.root, [(s.path, s.kind) for s in self.sources()])

    def touch_source(self, source_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sources SET updated_at = ? WHERE id = ?", (time.time(), source_id))

    def exclusions(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self._db.execute("SELECT path FROM exclusions")}

    def add_exclusion(self, path: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO exclusions(path) VALUES (?)", (path,))

    def delete_source(self, source_id: int) -> int:
        """Forget a source and all its files. Returns how many files went."""
        with self.lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM files WHERE source_id = ?", (source_id,))]
            removed = self.delete_files(ids)
            with self.transaction() as db:
                db.execute("DELETE FROM sources WHERE id = ?", (source_id,))
            self._save_folder_list()
            return removed

    # ----------------------------------------------------------------- files

    def files_under(self, path: str) -> dict[str, FileRecord]:
        """Known files at ``path`` or below it, by path."""
        with self.lock:
            prefix = path.rstrip(os.sep) + os.sep
            rows = self._db.execute(
                f"SELECT {self._file_fields} FROM files "
                "WHERE path = ? OR substr(path, 1, ?) = ?", (path, len(prefix), prefix))
            return {r[2]: FileRecord(*r) for r in rows}

    def files_of_source(self, source_id: int) -> list[FileRecord]:
        with self.lock:
            return [FileRecord(*r) for r in self._db.execute(
                f"SELECT {self._file_fields} FROM files "
                "WHERE source_id = ? ORDER BY path", (source_id,))]

    def parser_versions_below(self, version: int) -> list[tuple[str, int]]:
        """(path, version of the parser that read it) of the files read or
        failed by a parser older than ``version``; one from before versions
        were recorded is at ``LEGACY_PARSER_VERSION``."""
        recorded = "parser_version" if self._file_fields.endswith("parser_version") else "NULL"
        with self.lock:
            return self._db.execute(
                f"SELECT path, made_by FROM (SELECT path, coalesce({recorded}, ?) AS made_by FROM files "
                "WHERE status IN ('ok', 'failed')) WHERE made_by < ?", (LEGACY_PARSER_VERSION, version)).fetchall()

    def delete_files(self, file_ids: Iterable[int]) -> int:
        file_ids = list(file_ids)
        if not file_ids:
            return 0
        with self.lock:
            gone: list[int] = []
            with self.transaction() as db:
                gen_before = self._gen(db)
                for lo in range(0, len(file_ids), 500):
                    part = file_ids[lo:lo + 500]
                    marks = ",".join("?" * len(part))
                    gone += [r[0] for r in db.execute(f"SELECT id FROM chunks WHERE file_id IN ({marks})", part)]
                    db.execute(f"DELETE FROM chunks WHERE file_id IN ({marks})", part)
                    db.execute(f"DELETE FROM files WHERE id IN ({marks})", part)
                self._bump_gen(db)
            self.search_index.apply(gen_before, gen_before + 1, [], gone)
            self._vectors.discard(gone)
            return len(file_ids)

    def write_batch(self, ops: Sequence["WriteOp"], vectors: Optional[np.ndarray]) -> None:
        """Apply one batch of ingest results in a single transaction.

        ``vectors`` holds one row per chunk op, in order. A file's first op in
        a run (``FileStart``) clears its old chunks and marks it ``indexing``;
        its hash is written by ``FileDone`` only, so a file whose last chunks
        never got committed is redone by the next add.
        """
        with self.lock:
            if self._vectors.index is None and vectors is not None and len(vectors):
                raise StoreError("ensure_embedder() must be called before adding vectors")
            new_ids: list[int] = []
            old_ids: list[int] = []
            row = 0
            now = time.time()
            added: list[Passage] = []
            with self.transaction() as db:
                gen_before = self._gen(db)
                file_ids: dict[str, int] = {}
                seq: dict[str, int] = {}
                titles: dict[str, str] = {}
                for op in ops:
                    if isinstance(op, FileStart):
                        fid = self._upsert_file(db, op.path, op.source_id, now, "indexing", None)
                        file_ids[op.path] = fid
                        old_ids += [r[0] for r in db.execute("SELECT id FROM chunks WHERE file_id = ?", (fid,))]
                        db.execute("DELETE FROM chunks WHERE file_id = ?", (fid,))
                        db.execute("UPDATE files SET sha256 = NULL, chunks = 0 WHERE id = ?", (fid,))
                        seq[op.path] = 0
                    elif isinstance(op, ChunkOp):
                        fid = file_ids.get(op.path) or self._file_id(db, op.path)
                        file_ids[op.path] = fid
                        if op.path not in seq:
                            seq[op.path] = db.execute("SELECT count(*) FROM chunks WHERE file_id = ?",
                                                      (fid,)).fetchone()[0]
                        c = op.chunk
                        if op.path not in titles:
                            titles[op.path] = document_title(op.path)
                        cur = db.execute(
                            'INSERT INTO chunks(file_id, seq, text, page, section, start, "end", vector, title) '
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (fid, seq[op.path], c.text, c.page, c.section, c.start, c.end,
                             vectors[row].tobytes(), titles[op.path]))
                        seq[op.path] += 1
                        new_ids.append(cur.lastrowid)
                        added.append(Passage(cur.lastrowid, c.text, c.section, titles[op.path]))
                        row += 1
                    elif isinstance(op, FileDone):
                        fid = file_ids.get(op.path) or self._file_id(db, op.path)
                        n = db.execute("SELECT count(*) FROM chunks WHERE file_id = ?", (fid,)).fetchone()[0]
                        db.execute("UPDATE files SET size = ?, mtime_ns = ?, sha256 = ?, status = 'ok', "
                                   "reason = NULL, chunks = ?, updated_at = ?, parser_version = ? WHERE id = ?",
                                   (op.size, op.mtime_ns, op.sha256, n, now, op.parser_version, fid))
                    elif isinstance(op, FileFailed):
                        fid = self._upsert_file(db, op.path, op.source_id, now, "failed", op.reason)
                        old_ids += [r[0] for r in db.execute("SELECT id FROM chunks WHERE file_id = ?", (fid,))]
                        db.execute("DELETE FROM chunks WHERE file_id = ?", (fid,))
                        db.execute("UPDATE files SET size = ?, mtime_ns = ?, sha256 = NULL, chunks = 0, "
                                   "parser_version = ? WHERE id = ?", (op.size, op.mtime_ns, op.parser_version, fid))
                    elif isinstance(op, FileUnchanged):
                        db.execute("UPDATE files SET size = ?, mtime_ns = ?, source_id = ? WHERE path = ?",
                                   (op.size, op.mtime_ns, op.source_id, op.path))
                    else:  # pragma: no cover - programming error
                        raise TypeError(f"unknown write op {op!r}")
                if new_ids or old_ids:
                    self._bump_gen(db)
            if new_ids or old_ids:
                self.search_index.apply(gen_before, gen_before + 1, added, old_ids)
            if vectors is not None and row != len(vectors):
                raise StoreError(f"{len(vectors)} vectors for {row} chunks")
            # The index follows the committed data; if we die before saving it,
            # the next open repairs it from SQLite.
            self._vectors.discard(old_ids)
            if new_ids:
                self._vectors.add(np.ascontiguousarray(vectors[:row]), np.array(new_ids, dtype=np.int64))

    def _file_id(self, db: sqlite3.Connection, path: str) -> int:
        row = db.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            raise StoreError(f"no file record for {path}")
        return row[0]

    def _upsert_file(self, db, path: str, source_id: int, now: float, status: str,
                     reason: Optional[str]) -> int:
        db.execute("INSERT INTO files(source_id, path, status, reason, updated_at) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT(path) DO UPDATE SET source_id = excluded.source_id, status = excluded.status, "
                   "reason = excluded.reason, updated_at = excluded.updated_at",
                   (source_id, path, status, reason, now))
        return self._file_id(db, path)

    # ---------------------------------------------------------------- search

    def vector_search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first."""
        with self.lock:
            self.sync()
            return self._vectors.search(query, k)

    def bm25_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score: higher is better), best first.

        Runs on a connection of its own (the committed state, as any reader
        in WAL mode sees it), so it does not hold ``self.lock``: a hybrid
        search runs it while the query is embedded and the HNSW index
        searched (SQLite releases the GIL while it works)."""
        with self._reader_lock:
            if self._reader is None:
                if self._db is None:
                    raise StoreError("the library is closed")
                self._reader = open_reader(self.root / DB_NAME, self.read_only)
            if self.derived_bm25:
                hits = self.search_index.search(self._gen(self._reader), query, k)
                if hits is not None:
                    return hits
            return fts.bm25_search(self._reader, query, k, passages=self._live)

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        with self.lock:
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(
                f'SELECT c.id, f.path, c.text, c.page, c.section, c.start, c."end" '
                f"FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", list(ids))
            return {r[0]: ChunkRow(*r) for r in rows}

    def chunk_vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self.lock:
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", list(ids))
            return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    # ---------------------------------------------------------------- status

    def counts_by_source(self) -> dict[int, dict]:
        with self.lock:
            out: dict[int, dict] = {}
            # Passages are counted where they are (the chunks table), not from
            # files.chunks, which a file interrupted by a kill has not set yet:
            # the folder lines then add up to the totals.
            for sid, files, chunks, failed, indexing in self._db.execute(
                    "SELECT source_id, count(*), "
                    "sum((SELECT count(*) FROM chunks c WHERE c.file_id = files.id)), "
                    "sum(status = 'failed'), sum(status = 'indexing') FROM files GROUP BY source_id"):
                out[sid] = {"files": files, "chunks": chunks or 0, "failed": failed or 0,
                            "indexing": indexing or 0}
            return out

    def failures(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(r[0], r[1] or "") for r in self._db.execute(
                "SELECT path, reason FROM files WHERE status = 'failed' ORDER BY path")]

    def totals(self) -> dict:
        with self.lock:
            self.sync()   # indexed_vectors as of now, whoever wrote last
            files, failed, indexing = self._db.execute(
                "SELECT count(*), sum(status = 'failed'), sum(status = 'indexing') FROM files").fetchone()
            return {"sources": self._db.execute("SELECT count(*) FROM sources").fetchone()[0],
                    "files": files, "chunks": self._count_chunks(), "failed": failed or 0,
                    "indexing": indexing or 0, "indexed_vectors": self._live if self._vectors.index is not None else 0}

