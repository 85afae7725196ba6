"""BM25 from the tantivy index derived from SQLite (``bm25_index.py``):
it ranks like FTS5, is used only when it holds SQLite's generation, and
whatever state it is left in (behind, missing, corrupt, a cancelled
catch-up) search answers from FTS5 until it is caught up."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.library import bm25_index
from desktop_app.core.library.store import Store
from library_corpus import SMALL_MODULES, STDLIB, STDLIB_QUERIES

QUERIES = STDLIB_QUERIES




def _gen(store: Store) -> int:
    return int(store.meta("db_gen"))


def _from_index(store: Store, query: str, k: int = 5):
    """The derived index's answer, or None when it is not current."""
    return store.search_index.search(_gen(store), query, k)


def _fts5(store: Store, query: str, k: int = 5):
    store.derived_bm25 = False
    try:
        return store.bm25_search(query, k)
    finally:
        store.derived_bm25 = True


def _ids(hits) -> list[int]:
    return [i for i, _ in hits]


def test_the_derived_index_is_kept_current_by_ingest_and_ranks_like_fts5(stdlib_library):
    store = stdlib_library.store
    assert store.search_index.stamp().gen == _gen(store)
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}
    same_first, overlap = 0, []
    for q in QUERIES:
        derived = _from_index(store, q)
        assert derived is not None, q
        assert store.bm25_search(q, 5) == derived      # what the store answers with
        fts5 = _fts5(store, q)
        assert derived and fts5, q
        same_first += _ids(derived)[0] == _ids(fts5)[0]
        overlap.append(len(set(_ids(derived)) & set(_ids(fts5))) / len(fts5))
        assert all(a[1] >= b[1] for a, b in zip(derived, derived[1:])), "best first"
    # Same BM25 with the same field weights, other idf/length details: the
    # same passages in kind, not to the last place.
    assert same_first >= 0.8 * len(QUERIES), same_first
    assert sum(overlap) / len(overlap) >= 0.7, overlap
    # Stemming and the title field: a word only in the file's name is found.
    assert _ids(_from_index(store, "schedulers"))   # "sched.py" (title) / "scheduler" (text)


def test_a_removed_file_leaves_the_derived_index_at_once(stdlib_library, tmp_path):
    lib = stdlib_library
    store = lib.store
    colorsys = {r[0] for r in store._db.execute(
        "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path LIKE '%colorsys.py'")}
    assert colorsys & set(_ids(_from_index(store, "convert RGB colour to HSV", 10)))
    lib.remove(tmp_path / "docs" / "colorsys.py")
    after = _from_index(store, "convert RGB colour to HSV", 10)
    assert after is not None and not colorsys & set(_ids(after))
    assert not colorsys & store.search_index.indexed_ids()
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}


def test_behind_after_a_write_it_did_not_see_search_uses_fts5_then_catches_up(stdlib_library, monkeypatch):
    """An older Hearth (or a crash between the two commits) changed SQLite
    without the derived index: it is not used until caught up."""
    store = stdlib_library.store
    query = "convert RGB colour to HSV"
    colorsys = [r[0] for r in store._db.execute(
        "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path LIKE '%colorsys.py'")]
    assert set(colorsys) & set(_ids(store.bm25_search(query, 10)))
    other = sqlite3.connect(store.root / "library.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(f"DELETE FROM chunks WHERE id IN ({','.join(map(str, colorsys))})")
    other.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'db_gen'")
    other.execute("COMMIT")
    other.close()
    assert _from_index(store, query) is None                 # behind: not used
    assert store.bm25_search(query, 10) == _fts5(store, query, 10)
    assert not set(colorsys) & set(_ids(store.bm25_search(query, 10)))
    # Searches that keep finding it behind start a catch-up of their own.
    monkeypatch.setattr(bm25_index, "BEHIND_GRACE_SECONDS", 0.0)
    store.bm25_search(query, 10)
    store.search_index.wait(timeout=120)
    assert store.search_index.stamp().gen == _gen(store)
    derived = _from_index(store, query, 10)
    assert derived is not None and not set(colorsys) & set(_ids(derived))
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}


def test_a_corrupt_index_falls_back_to_fts5_and_is_rebuilt(stdlib_library):
    store = stdlib_library.store
    query = "shallow and deep copy of objects"
    expected = _from_index(store, query)
    (store.search_index.folder / "meta.json").write_text("{ not json", encoding="utf-8")
    store.search_index.stamp_path.touch()   # as if written at this moment: readers reopen
    assert store.bm25_search(query, 5) == _fts5(store, query)
    assert store.catch_up_search_index()
    assert _from_index(store, query) == expected


def test_an_older_library_without_the_index_is_searched_at_once_and_caught_up_in_the_background(
        stdlib_library, make_library):
    lib = stdlib_library
    root = lib.library_dir
    expected = {q: _from_index(lib.store, q) for q in QUERIES[:6]}
    lib.close()
    shutil.rmtree(root / bm25_index.DIR_NAME)
    again = make_library(root)
    store = again.store
    hits = again.search(QUERIES[0], k=5)        # answers while the index is rebuilt (FTS5)
    assert hits
    store.search_index.wait(timeout=120)
    assert store.search_index.stamp().gen == _gen(store)
    assert {q: _from_index(store, q) for q in expected} == expected


def test_a_cancelled_catch_up_leaves_the_index_as_it_was_and_a_later_one_finishes(
        stdlib_library, monkeypatch):
    store = stdlib_library.store
    store.search_index.close_writer()
    shutil.rmtree(store.search_index.folder)
    monkeypatch.setattr(bm25_index, "ADD_BATCH", 20)   # several batches on a small library
    token = CancelToken()
    seen = []

    def report(p):
        seen.append(p)
        token.cancel()

    with pytest.raises(Cancelled):
        store.catch_up_search_index(token, report)
    assert len(seen) == 1 and seen[0].total > 20
    assert store.search_index.stamp() is None
    assert store.bm25_search("token numbers", 5) == _fts5(store, "token numbers")
    assert store.catch_up_search_index()
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}


def test_another_process_sees_what_the_writer_added(stdlib_library, tmp_path):
    """A second Store on the same folder stands for another process: its
    reader reopens the index when the writer's stamp moves on."""
    lib = stdlib_library
    reader = Store(lib.library_dir)
    try:
        assert _from_index(reader, "uuencode")
        (tmp_path / "more").mkdir()
        shutil.copyfile(STDLIB / "calendar.py", tmp_path / "more" / "calendar.py")
        lib.add([tmp_path / "more"])
        derived = _from_index(reader, "leap year calendar month")
        assert derived is not None
        paths = {r.path for r in reader.chunk_rows(_ids(derived)).values()}
        assert any(p.endswith("calendar.py") for p in paths)
    finally:
        reader.close()


def test_a_read_only_library_searches_fts5_when_the_index_is_behind(stdlib_library):
    lib = stdlib_library
    lib.close()
    (lib.library_dir / bm25_index.DIR_NAME / bm25_index.STAMP_NAME).unlink()
    store = Store(lib.library_dir, read_only=True)
    try:
        assert store.bm25_search("terminal raw mode", 5) == _fts5(store, "terminal raw mode")
        assert store.search_index.stamp() is None     # nothing written
    finally:
        store.close()


def test_an_index_of_another_library_is_rebuilt_not_matched_by_chunk_id(tmp_path, make_library):
    """Chunk ids start at 1 in every library: an index that is not this
    library's (a database made anew beside an old index) would otherwise
    answer with the other library's passages under this one's ids."""
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, names in ((first, SMALL_MODULES[:8]), (second, SMALL_MODULES[8:])):
        folder.mkdir()
        for name in names:
            shutil.copyfile(STDLIB / f"{name}.py", folder / f"{name}.py")
    a = make_library(tmp_path / "lib-a")
    a.add([first])
    b = make_library(tmp_path / "lib-b")
    b.add([second])
    only_in_a = "hsv_to_rgb"          # colorsys, in the first folder only
    assert _from_index(a.store, only_in_a) and not _from_index(b.store, only_in_a)
    a.close()
    b.close()
    shutil.rmtree(tmp_path / "lib-b" / bm25_index.DIR_NAME)
    shutil.copytree(tmp_path / "lib-a" / bm25_index.DIR_NAME, tmp_path / "lib-b" / bm25_index.DIR_NAME)
    again = make_library(tmp_path / "lib-b")
    store = again.store
    assert store.bm25_search(only_in_a, 5) == []     # FTS5 meanwhile: nothing of a's
    store.search_index.wait(timeout=120)
    assert store.catch_up_search_index()
    assert _from_index(store, only_in_a) == []
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}


def test_a_change_that_did_not_move_the_generation_is_found_by_the_count_on_open(stdlib_library, make_library):
    lib = stdlib_library
    root = lib.library_dir
    lib.close()
    db = sqlite3.connect(root / "library.sqlite3", isolation_level=None)
    db.execute("DELETE FROM chunks WHERE id IN (SELECT id FROM chunks ORDER BY id LIMIT 5)")   # no db_gen bump
    db.close()
    again = make_library(root)
    store = again.store
    store.search_index.wait(timeout=120)
    assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}
    assert _from_index(store, "bisect_left insort") is not None


CATCH_UP_CHILD = """
import sqlite3, sys, time
from pathlib import Path
from desktop_app.core.library import bm25_index
from desktop_app.core.library.database import open_reader
from desktop_app.core.library.writer_lock import LOCK_NAME, WriterLock
root = Path(sys.argv[1])
bm25_index.ADD_BATCH = 20
library_id = sqlite3.connect(root / "library.sqlite3").execute(
    "SELECT value FROM meta WHERE key = 'library_id'").fetchone()[0]
index = bm25_index.SearchIndex(root, library_id, WriterLock(root / LOCK_NAME),
                               lambda: open_reader(root / "library.sqlite3", False))
def report(p):
    print("added", p.done, flush=True)
    time.sleep(60)            # killed here, with passages added but not committed
index.catch_up(report=report)
"""


def test_kill_9_during_a_catch_up_leaves_search_working_and_the_index_recoverable(stdlib_library, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    lib = stdlib_library
    root = lib.library_dir
    query = "match file names against shell patterns"
    expected = _from_index(lib.store, query)
    lib.close()
    shutil.rmtree(root / bm25_index.DIR_NAME)
    (root / bm25_index.DIR_NAME).mkdir()          # an index folder with no index: nothing to trust
    project = Path(__file__).resolve().parents[3]
    child = subprocess.Popen([sys.executable, "-c", CATCH_UP_CHILD, str(root)], cwd=project,
                             env=dict(os.environ, PYTHONPATH=str(project)), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().startswith("added")
        assert any(p.name != bm25_index.STAMP_NAME for p in (root / bm25_index.DIR_NAME).iterdir())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    store = Store(root, read_only=True)        # a reader: answers from FTS5, writes nothing
    try:
        assert store.search_index.stamp() is None
        assert store.bm25_search(query, 5) == _fts5(store, query)
    finally:
        store.close()
    store = Store(root)
    try:
        store.search_index.wait(timeout=120)
        assert store.catch_up_search_index()
        assert _from_index(store, query) == expected
        assert store.search_index.indexed_ids() == {r[0] for r in store._db.execute("SELECT id FROM chunks")}
    finally:
        store.close()
