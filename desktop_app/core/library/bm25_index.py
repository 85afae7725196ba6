"""BM25 on tantivy: a derived index of the passages, kept next to the store.

Why: SQLite FTS5 scores every passage an OR query matches before it can
rank, so a BM25 query costs more as the library grows (28 ms p50 at 250,000
passages even with the common words left out, bench/data/README.md);
tantivy ranks with block-max WAND and skips what cannot reach the top k.

SQLite stays the source of truth; this index is a cache of it, like
``vectors.hnsw``:

- One document per passage: its chunk id (a fast field) and one text field,
  ``body``, holding the passage text once and its heading path and its
  document's title as many times as ``fts.BM25_WEIGHTS`` weighs them (1, 2,
  2). That is the term frequency FTS5's ``bm25()`` computes with those
  column weights, so the ranking is FTS5's in kind (same BM25, k1 1.2, b
  0.75; tantivy's idf is ln(1 + ...), and the length counts the repeats).
  Tokenizer ``en_stem``: words split on non-alphanumerics, lower-cased,
  English (Porter-family) stemming -- what FTS5's ``porter unicode61`` does.
- ``hearth-stamp.json`` in its folder names the library (``library_id``),
  this layout (``FORMAT``) and the store's generation (meta ``db_gen``,
  bumped by every commit that adds or removes passages) the index holds. It
  is written after each tantivy commit, so it never claims more than the
  index holds.
- A search uses the index only when its stamp's generation is SQLite's;
  otherwise (no index yet, behind after a crash, a library of an earlier
  version, another process wrote without updating it, unreadable) the store
  searches FTS5 and ``catch_up`` brings the index in line in the background:
  chunk ids are never reused, so the repair is two set differences between
  SQLite's ids and the index's. An index that cannot be opened is rebuilt.
- Writing: right after each store commit, ``apply`` adds and removes that
  commit's passages when the index held the generation before it (else the
  catch-up does). Every tantivy write holds the library's writer lock
  (``writer_lock.py``): tantivy's own lock allows one IndexWriter per index
  across processes, so ours is closed whenever this process lets go of the
  writer lock.
- Readers, in this process or another, see a new stamp (one ``stat`` per
  search) and reopen the index.
- ``kill -9`` at any point: tantivy commits atomically (its ``meta.json``)
  and the stamp follows the commit, so what is left is an index at some
  earlier generation, or an unreadable one: search answers from FTS5 and the
  next writable open catches up.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from desktop_app.core.jobs import CancelToken, Cancelled, Progress
from desktop_app.core.library import fts
from desktop_app.core.library.writer_lock import WriterLock
from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

DIR_NAME = "bm25.tantivy"
STAMP_NAME = "hearth-stamp.json"
# Bump when what a document holds changes: an index of another layout is
# rebuilt. The store's schema is part of it (a migration may change the
# stored titles and headings without adding or removing a passage).
FORMAT = f"1/{fts.FTS_SCHEMA_VERSION}"
WRITER_HEAP = 48_000_000
ADD_BATCH = 2000
# A search that finds the index behind for this long starts a catch-up (a
# writer of this process normally brings it in line within milliseconds).
BEHIND_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Passage:
    id: int
    text: str
    section: Optional[str]
    title: Optional[str]


@dataclass(frozen=True)
class Stamp:
    format: str
    library_id: str
    gen: int


def passage_body(text: str, section: Optional[str], title: Optional[str]) -> str:
    """The one text field of a passage: each part as many times as its
    BM25 weight (see the module's docstring)."""
    parts: list[str] = []
    for value, weight in zip((text, section, title), fts.BM25_WEIGHTS):
        if value:
            parts += [value] * max(1, round(weight))
    return "\n".join(parts)


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name="en_stem")
    return builder.build()


def _document(passage: Passage):
    import tantivy

    doc = tantivy.Document()
    doc.add_unsigned("id", passage.id)
    doc.add_text("body", passage_body(passage.text, passage.section, passage.title))
    return doc


class SearchIndex:
    """The tantivy index of one library folder (see the module's docstring).
    Thread-safe."""

    def __init__(self, library_root: Path, library_id: str, writer_lock: WriterLock,
                 connect: Callable[[], sqlite3.Connection], read_only: bool = False) -> None:
        """``connect`` opens a read connection to the library's SQLite (what
        a catch-up reads)."""
        self.folder = Path(library_root) / DIR_NAME
        self.library_id = library_id
        self.read_only = read_only
        self._connect = connect
        self._writer_lock = writer_lock
        self._read_lock = threading.Lock()
        self._reader = None             # tantivy.Index opened for searching
        self._reader_key = None         # the stamp file it was opened at
        self._broken_key = None         # the stamp file of an index that failed to search
        self._stamp_seen: tuple = (None, None)   # (stamp file key, its stamp): read once per change
        self._write = threading.RLock()   # this process's tantivy IndexWriter
        self._writer = None
        self._writer_index = None
        self._behind: Optional[tuple[int, float]] = None   # (generation, since when)
        self._thread: Optional[threading.Thread] = None
        self._token = CancelToken()
        self._closed = False
        writer_lock.on_last_release(self.close_writer)

    # ------------------------------------------------------------- stamp

    @property
    def stamp_path(self) -> Path:
        return self.folder / STAMP_NAME

    def _stamp_key(self):
        try:
            st = os.stat(self.stamp_path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def stamp(self) -> Optional[Stamp]:
        """The stamp of this library's index, or None (missing, unreadable,
        another layout or another library)."""
        try:
            stamp = Stamp(**json.loads(self.stamp_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if stamp.format != FORMAT or stamp.library_id != self.library_id:
            return None
        return stamp

    def distrust(self) -> None:
        """Stop using the index until a catch-up has compared it with SQLite
        (its stamp may be right while its content is not)."""
        with self._read_lock:
            self._broken_key = self._stamp_key()

    def _write_stamp(self, gen: int) -> None:
        with atomic_write(self.stamp_path, "w") as handle:
            json.dump(asdict(Stamp(FORMAT, self.library_id, gen)), handle)

    def _remove_stamp(self) -> None:
        try:
            self.stamp_path.unlink()
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ search

    def search(self, gen: int, query: str, k: int) -> Optional[list[tuple[int, float]]]:
        """(chunk id, BM25 score), best first, when the index holds
        generation ``gen`` of the library; None when it does not (the caller
        searches FTS5)."""
        import tantivy

        terms = fts.query_terms(query)
        with self._read_lock:
            key = self._stamp_key()
            if key != self._stamp_seen[0]:
                self._stamp_seen = (key, self.stamp() if key is not None else None)
            stamp = self._stamp_seen[1]
            if stamp is None or stamp.gen != gen:
                self._note_behind(gen)
                return None
            if key == self._broken_key:
                self._note_behind(gen, broken=True)
                return None
            self._behind = None
            if not terms:
                return []
            try:
                if self._reader is None or self._reader_key != (key, stamp.gen):
                    index = tantivy.Index.open(str(self.folder))
                    index.config_reader(reload_policy="Manual")
                    self._reader, self._reader_key = index, (key, stamp.gen)
                index = self._reader
                # One quoted phrase a word (a word tantivy splits, "a_b",
                # is a phrase of its parts, as in FTS5); OR between them.
                parsed = index.parse_query(" ".join(f'"{t}"' for t in terms), ["body"])
                searcher = index.searcher()
                found = searcher.search(parsed, k, count=False).hits
                ids = searcher.fast_field_values("id", [address for _, address in found]) if found else []
            except (ValueError, OSError) as exc:
                log.warning("the BM25 index in %s cannot be searched (%s): searching SQLite's FTS5 "
                            "until it is rebuilt", self.folder, exc)
                self._reader = None
                self._broken_key = key
                self._note_behind(gen, broken=True)
                return None
        return [(int(i), float(score)) for (score, _), i in zip(found, ids)]

    def _note_behind(self, gen: int, broken: bool = False) -> None:
        now = time.monotonic()
        if self._behind is None or self._behind[0] != gen:
            self._behind = (gen, now - (BEHIND_GRACE_SECONDS if broken else 0.0))
        if now - self._behind[1] >= BEHIND_GRACE_SECONDS:
            self._behind = (gen, now)   # at most one start a grace period
            self.start_catch_up()

    # ------------------------------------------------------------- write

    def _open_writer(self):
        import tantivy

        if self._writer is None:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            index = tantivy.Index(_schema(), path=str(self.folder), reuse=True)
            self._writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
            self._writer_index = index
        return self._writer

    def close_writer(self) -> None:
        """Let go of tantivy's writer (its merges finished): called when this
        process lets go of the library's writer lock."""
        with self._write:
            writer, self._writer, self._writer_index = self._writer, None, None
            if writer is None:
                return
            try:
                writer.wait_merging_threads()
            except (ValueError, OSError) as exc:
                log.warning("closing the BM25 index writer in %s: %s", self.folder, exc)

    def apply(self, gen_before: int, gen_after: int, added: Sequence[Passage], removed: Iterable[int]) -> bool:
        """Index one store commit (generation ``gen_before`` -> ``gen_after``):
        only when the index held ``gen_before`` and no catch-up is at work.
        False when it was left to ``catch_up``."""
        if self.read_only or self._closed:
            return False
        if not self._writer_lock.try_acquire():
            return False
        try:
            if not self._write.acquire(blocking=False):
                return False   # a catch-up is at work: it sees this commit's generation
            try:
                stamp = self.stamp()
                if stamp is None or stamp.gen != gen_before:
                    return False
                writer = self._open_writer()
                try:
                    _delete(writer, self._writer_index, removed)
                    for passage in added:
                        writer.add_document(_document(passage))
                    writer.commit()
                except BaseException:
                    self._drop_writer()
                    raise
                self._write_stamp(gen_after)
                return True
            finally:
                self._write.release()
        except (ValueError, OSError) as exc:
            log.warning("the BM25 index in %s was not updated (%s): it is caught up later", self.folder, exc)
            return False
        finally:
            self._writer_lock.release()

    def _drop_writer(self) -> None:
        writer, self._writer, self._writer_index = self._writer, None, None
        if writer is not None:
            try:
                writer.rollback()
            except (ValueError, OSError):
                pass

    # ---------------------------------------------------------- catch up

    def bring_up(self, gen: int, passages: int) -> None:
        """On a writable open: a new library gets its (empty) index now; one
        whose index is missing, behind or not matching SQLite's count of
        ``passages`` is caught up in the background (FTS5 meanwhile)."""
        stamp = self.stamp()
        if stamp is not None and stamp.gen == gen:
            if self.count() == passages:
                return
            # Current by its stamp but not by its content: a change to the
            # passages that did not bump the generation (an older version).
            self.distrust()
        if passages == 0:
            self.catch_up()
        else:
            self.start_catch_up()

    def catch_up(self, token: Optional[CancelToken] = None,
                 report: Callable[[Progress], None] = lambda p: None) -> bool:
        """Bring the index to SQLite's committed state. False when another
        process is the writer (it keeps the index itself) or the library is
        read-only. Cancelling leaves the index as it was."""
        token = token or CancelToken()
        if self.read_only or not self._writer_lock.try_acquire():
            return False
        try:
            db = self._connect()
            try:
                for _ in range(20):
                    with self._write:
                        gen = self._catch_up_once(db, token, report)
                    if gen == _db_gen(db):
                        return True
                return False
            finally:
                db.close()
        finally:
            self._writer_lock.release()

    def _catch_up_once(self, db: sqlite3.Connection, token: CancelToken, report) -> int:
        db.execute("BEGIN")   # one snapshot: the ids, the texts and the generation agree
        try:
            gen = _db_gen(db)
            stamp = self.stamp()
            if stamp is not None and stamp.gen == gen and self._broken_key is None:
                return gen
            t0 = time.monotonic()
            stored = {r[0] for r in db.execute("SELECT id FROM chunks")}
            # Ids name the same passages only within one library and layout:
            # an unstamped index (a first build cut short) or another
            # library's or layout's is rebuilt from nothing.
            held = self._held_ids() if stamp is not None else self._wipe()
            writer = self._open_writer()
            gone = held - stored
            new = sorted(stored - held)
            try:
                _delete(writer, self._writer_index, gone)
                for lo in range(0, len(new), ADD_BATCH):
                    token.check()
                    part = new[lo:lo + ADD_BATCH]
                    marks = ",".join("?" * len(part))
                    for row in db.execute(f"SELECT id, text, section, title FROM chunks WHERE id IN ({marks})", part):
                        writer.add_document(_document(Passage(*row)))
                    report(Progress("search index", lo + len(part), len(new), ""))
                token.check()
                writer.commit()
            except BaseException:
                self._drop_writer()
                raise
            self._write_stamp(gen)
            self._broken_key = None
            log.info("BM25 index of %s caught up to generation %d: %d passages added, %d removed in %.1fs",
                     self.folder.parent, gen, len(new), len(gone), time.monotonic() - t0)
            return gen
        finally:
            db.execute("COMMIT")

    def count(self) -> int:
        """How many passages the index on disk holds; -1 when it cannot be read."""
        import tantivy

        try:
            return tantivy.Index.open(str(self.folder)).searcher().num_docs
        except (ValueError, OSError):
            return -1

    def indexed_ids(self) -> set[int]:
        """The chunk ids the index on disk holds (its last commit)."""
        import tantivy

        index = tantivy.Index.open(str(self.folder))
        return _all_ids(index.searcher())

    def _held_ids(self) -> set[int]:
        """The chunk ids the index holds; an index that cannot be read is
        removed (it is rebuilt)."""
        try:
            self._open_writer()
            index = self._writer_index
            index.reload()
            return _all_ids(index.searcher())
        except (ValueError, OSError) as exc:
            log.warning("the BM25 index in %s is unreadable (%s): rebuilding it", self.folder, exc)
            return self._wipe()

    def _wipe(self) -> set[int]:
        self._drop_writer()
        self._remove_stamp()
        with self._read_lock:
            self._reader = None     # its files are about to go (Windows keeps open files)
        shutil.rmtree(self.folder, ignore_errors=True)
        return set()

    def start_catch_up(self) -> None:
        """Run ``catch_up`` on a thread of its own (one at a time)."""
        if self.read_only or self._closed:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run_catch_up, name="hearth-bm25-catch-up", daemon=True)
        self._thread.start()

    def _run_catch_up(self) -> None:
        try:
            self.catch_up(self._token)
        except Cancelled:
            log.info("BM25 index catch-up of %s cancelled", self.folder.parent)
        except (sqlite3.Error, ValueError, OSError) as exc:
            log.warning("BM25 index catch-up of %s failed (%s): search uses FTS5", self.folder.parent, exc)

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait for a background catch-up to end."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop a catch-up (what it did is dropped) and let go of the index."""
        self._closed = True
        self._token.cancel()
        self.wait()
        self.close_writer()
        with self._read_lock:
            self._reader = None


def _delete(writer, index, chunk_ids: Iterable[int]) -> None:
    # By a term-set query: delete_documents_by_term would look the Python int
    # up as a signed term and miss the unsigned ids.
    import tantivy

    ids = [int(i) for i in chunk_ids]
    for lo in range(0, len(ids), 4096):
        writer.delete_documents_by_query(tantivy.Query.term_set_query(index.schema, "id", ids[lo:lo + 4096]))


def _all_ids(searcher) -> set[int]:
    import tantivy

    if searcher.num_docs == 0:
        return set()
    found = searcher.search(tantivy.Query.all_query(), searcher.num_docs, count=False).hits
    return {int(i) for i in searcher.fast_field_values("id", [a for _, a in found])}


def _db_gen(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'db_gen'").fetchone()
    return int(row[0]) if row else 0
