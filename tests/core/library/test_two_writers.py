"""Two writers on one library, for real: processes, flock, kill -9.

The HNSW file is a cache trusted only when its stamp proves it holds
SQLite's passages; a second writer waits, naming the first; passages are
never duplicated; vector search finds exactly what SQLite holds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.library.documents import Chunk
from desktop_app.core.library.store import ChunkOp, FileDone, FileStart, Store
from desktop_app.core.library.vector_index import INDEX_NAME
from desktop_app.core.library.writer_lock import LOCK_NAME, WriterLock
from library_corpus import SMALL_MODULES, copy_modules

PROJECT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(PROJECT))


def _bench():
    spec = importlib.util.spec_from_file_location("two_writers", PROJECT / "bench" / "two_writers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded_data_dir(root: Path, embedder) -> Path:
    data = root / "data"
    if embedder.backend == "onnx-int8":
        shutil.copytree(embedder.source_dir, data / "embedder" / embedder.source_dir.name)
    return data


def add_file(store: Store, embedder, path: str, texts: list[str]) -> None:
    source = store.add_source(os.path.dirname(path), "folder")
    ops = [FileStart(path, source.id)]
    ops += [ChunkOp(path, Chunk(text=t, start=i * 100, end=i * 100 + len(t))) for i, t in enumerate(texts)]
    ops.append(FileDone(path, size=1, mtime_ns=1, sha256="x" * 64))
    store.write_batch(ops, embedder.encode(texts))


def vector_ids(store: Store, embedder, query: str, k: int = 20) -> set[int]:
    return {i for i, _ in store.vector_search(embedder.encode([query])[0], k)}


def db_ids(store: Store) -> set[int]:
    return {r[0] for r in store._db.execute("SELECT id FROM chunks")}


# ------------------------------------------------------------------ the lock

def test_a_second_writer_is_told_which_process_holds_the_library_and_kill_9_frees_it(tmp_path):
    lock_path = tmp_path / LOCK_NAME
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from desktop_app.core.library.writer_lock import WriterLock; "
         f"l = WriterLock({str(lock_path)!r}); l.acquire(); print('locked', flush=True); time.sleep(600)",
         "holder-marker"], cwd=PROJECT, env=ENV, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        mine = WriterLock(lock_path)
        assert mine.try_acquire() is False
        told: list[str] = []
        token = CancelToken()

        def on_wait(message: str) -> None:
            told.append(message)
            token.cancel()          # stop waiting: the user pressed Ctrl-C

        with pytest.raises(Cancelled):
            mine.acquire(token, on_wait)
        assert len(told) == 1 and f"pid {holder.pid}" in told[0] and "holder-marker" in told[0]
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert mine.try_acquire() is True     # the kernel dropped the dead holder's lock
        mine.release()
        mine.close()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()


# --------------------------------------------------- the index stamp (store)

SENTENCES = [
    "The lighthouse keeper climbed two hundred steps every evening.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "A sonnet has fourteen lines and a strict rhyme scheme.",
    "Glaciers carve U-shaped valleys as they slowly move downhill.",
]


def test_an_index_file_that_does_not_hold_sqlites_passages_is_never_trusted(tmp_path, embedder):
    root = tmp_path / "lib"
    store = Store(root)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES[:2])
    store.save_index()
    old_index = (root / INDEX_NAME).read_bytes()
    old_stamp = (root / (INDEX_NAME + ".json")).read_bytes()
    add_file(store, embedder, "/docs/b.txt", SENTENCES[2:])
    store.close()

    # 1. An older, self-consistent index+stamp pair (another process's earlier
    #    save landing last): the stamp's digest is not SQLite's -> repaired.
    (root / INDEX_NAME).write_bytes(old_index)
    (root / (INDEX_NAME + ".json")).write_bytes(old_stamp)
    reopened = Store(root)
    assert vector_ids(reopened, embedder, "glaciers and valleys") == db_ids(reopened)
    assert reopened.totals()["indexed_vectors"] == 4
    reopened.close()

    # 2. The newest stamp next to an older index file (a save cut between its
    #    two renames): the stamp describes another file -> rebuilt.
    good_stamp = (root / (INDEX_NAME + ".json")).read_bytes()
    (root / INDEX_NAME).write_bytes(old_index)
    (root / (INDEX_NAME + ".json")).write_bytes(good_stamp)
    reopened = Store(root)
    assert vector_ids(reopened, embedder, "a poem of fourteen lines") == db_ids(reopened)
    reopened.close()


def test_a_window_left_open_sees_what_another_process_added_and_removed(tmp_path, embedder):
    root = tmp_path / "lib"
    window = Store(root)                 # the long-lived process
    window.ensure_embedder(embedder.name, embedder.dim)
    add_file(window, embedder, "/docs/a.txt", SENTENCES[:2])
    other = Store(root)                  # its own connection and lock, as another process
    add_file(other, embedder, "/docs/b.txt", SENTENCES[2:])
    [a] = [r for p, r in other.files_under("/docs").items() if p.endswith("a.txt")]
    other.delete_files([a.id])
    other.close()
    found = vector_ids(window, embedder, "photosynthesis and sunlight")
    assert found == db_ids(window) and len(found) == 2
    rows = window.chunk_rows(sorted(found))
    assert {r.text for r in rows.values()} == set(SENTENCES[2:])
    window.close()


def test_duplicate_passages_left_by_an_old_version_are_cleared_and_cannot_come_back(tmp_path, embedder):
    root = tmp_path / "lib"
    store = Store(root)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES[:2])
    add_file(store, embedder, "/docs/b.txt", SENTENCES[2:])
    store.close()
    # What two unsynchronized writers left before: the same passages twice.
    with sqlite3.connect(root / "library.sqlite3") as db:
        db.execute("DROP INDEX chunks_file_seq")
        db.execute('INSERT INTO chunks(file_id, seq, text, page, section, start, "end", vector) '
                   'SELECT file_id, seq, text, page, section, start, "end", vector FROM chunks '
                   "WHERE file_id = (SELECT id FROM files WHERE path = '/docs/a.txt')")
    store = Store(root)
    files = store.files_under("/docs")
    assert files["/docs/a.txt"].status == "indexing" and files["/docs/a.txt"].chunks == 0
    assert files["/docs/b.txt"].status == "ok"
    assert store.totals()["chunks"] == 2 == store.totals()["indexed_vectors"]
    with pytest.raises(sqlite3.IntegrityError):
        store._db.execute('INSERT INTO chunks(file_id, seq, text, start, "end", vector) '
                          "SELECT file_id, seq, text, start, \"end\", vector FROM chunks LIMIT 1")
    store.close()


# ------------------------------------------------------- real CLI processes

def test_second_cli_writer_waits_naming_the_first_while_readers_keep_working(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    copy_modules(corpus, SMALL_MODULES)
    data = seeded_data_dir(tmp_path, embedder)
    bench = _bench()
    first = subprocess.Popen(bench.cli(data, "add", str(corpus)), cwd=PROJECT, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = data / "library" / LOCK_NAME
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        try:
            if lock.read_text().startswith(f"{first.pid}\n"):
                break
        except OSError:
            pass
        time.sleep(0.05)
    assert first.poll() is None, "the first add ended before the second could start"
    second = subprocess.Popen(bench.cli(data, "add", str(corpus)), cwd=PROJECT, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # A reader while the writer runs: answers, and does not wait for the lock.
    reader = subprocess.run(bench.cli(data, "status", "--json"), cwd=PROJECT, env=ENV,
                            capture_output=True, timeout=240)
    assert reader.returncode == 0, reader.stderr.decode()[-2000:]
    assert b"being changed by another" not in reader.stderr
    _, err1 = first.communicate(timeout=600)
    _, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1.decode()[-2000:]
    assert second.returncode == 0, err2.decode()[-2000:]
    assert f"pid {first.pid}" in err2.decode(), err2.decode()[-2000:]
    result = bench.check_library(data)
    assert result["duplicate_passages"] == 0
    assert result["findable_by_vector_search"] == result["passages_in_sqlite"] == result["indexed_vectors"] > 0
    assert result["saved_index_matched_sqlite"]


def test_random_concurrent_add_remove_and_kill_9_keep_vector_search_equal_to_sqlite(tmp_path, embedder):
    bench = _bench()
    folders = bench.make_corpus(tmp_path / "corpus")
    data = seeded_data_dir(tmp_path, embedder)
    lines: list[str] = []
    stats = bench.run_rounds(data, folders, rounds=4, seed=7, kill_rate=0.75, say=lines.append)
    assert not stats["errors"], stats["errors"]
    result = bench.check_library(data)
    assert result["duplicate_passages"] == 0, lines
    assert result["deleted_but_returned"] == 0, (result["leaked_ids"], lines)
    assert result["findable_by_vector_search"] == result["passages_in_sqlite"] == result["indexed_vectors"], \
        (result, lines)
    # The BM25 index derived from SQLite, whatever the kills left of it, is
    # brought back to exactly SQLite's passages.
    assert result["bm25_index_caught_up_to_sqlite"], (result, lines)
