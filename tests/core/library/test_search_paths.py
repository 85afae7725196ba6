"""Search latency work (issue 12): the BM25 half of a hybrid search runs on
its own read connection, on a thread of its own, while the query is
embedded; very common words leave the BM25 query of a large library. None
of it may change what a search returns where it is not meant to."""

from __future__ import annotations

import sqlite3

import pytest

from desktop_app.core.library import fts
from desktop_app.core.library.documents import Chunk
from desktop_app.core.library.records import StoreError
from desktop_app.core.library.store import ChunkOp, FileDone, FileStart, Store
from library_corpus import STDLIB_QUERIES

QUERIES = STDLIB_QUERIES




def _hits(lib, query: str, mode: str = "hybrid"):
    return [(h.path, h.chunk_id, round(h.score, 9), h.similarity and round(h.similarity, 6))
            for h in lib.search(query, k=8, mode=mode)]


def test_hybrid_search_returns_the_same_hits_concurrently_as_one_half_after_the_other(stdlib_library):
    lib = stdlib_library
    assert lib.concurrent_search
    concurrent = {q: _hits(lib, q) for q in QUERIES}
    lib.concurrent_search = False
    sequential = {q: _hits(lib, q) for q in QUERIES}
    assert concurrent == sequential
    assert all(concurrent.values())


def test_bm25_through_the_read_connection_is_the_earlier_query_on_the_writing_connection(stdlib_library):
    """The FTS5 BM25 list (what search falls back to while the tantivy
    index is behind) is what the statement used before this change returns
    on the store's own connection: same passages, same order, same scores."""
    store = stdlib_library.store
    store.derived_bm25 = False
    weights = ", ".join(str(float(w)) for w in fts.BM25_WEIGHTS)
    for query in QUERIES:
        with store.lock:
            before = store._db.execute(
                f"SELECT rowid, -bm25(chunks_fts, {weights}) AS score FROM chunks_fts "
                f"WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, {weights}) LIMIT ?",
                (fts.fts_query(query), 50)).fetchall()
        now = store.bm25_search(query, 50)
        assert [r[0] for r in before] == [r[0] for r in now], query
        assert [r[1] for r in before] == pytest.approx([r[1] for r in now]), query


def test_a_search_sees_each_commit_at_once_and_a_closed_library_says_so(tmp_path, embedder):
    store = Store(tmp_path / "lib")
    store.ensure_embedder(embedder.name, embedder.dim)
    assert store.bm25_search("pelican", 5) == []    # opens the read connection before the write
    source = store.add_source("/docs", "folder")
    chunk = Chunk("The brown pelican dives for fish.")
    store.write_batch([FileStart("/docs/birds.txt", source.id), ChunkOp("/docs/birds.txt", chunk),
                       FileDone("/docs/birds.txt", 1, 1, "x" * 64)], embedder.encode([chunk.text]))
    assert len(store.bm25_search("pelican", 5)) == 1
    store.close()
    with pytest.raises(StoreError):
        store.bm25_search("pelican", 5)


def test_a_failing_bm25_half_fails_the_hybrid_search(stdlib_library, monkeypatch):
    """The worker's exception reaches the caller (not a silent empty list).
    The fault (a locked database file) cannot be made on demand for one
    statement, so the store's method is replaced by one raising it: a fake,
    named as such."""
    def locked(query, k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(stdlib_library.store, "bm25_search", locked)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        stdlib_library.search("sorted list", mode="hybrid")


def _store_with(tmp_path, embedder, texts: list[str]) -> Store:
    store = Store(tmp_path / "lib")
    store.ensure_embedder(embedder.name, embedder.dim)
    source = store.add_source("/docs", "folder")
    ops = [FileStart("/docs/notes.txt", source.id)]
    ops += [ChunkOp("/docs/notes.txt", Chunk(t, start=i, end=i + 1)) for i, t in enumerate(texts)]
    ops.append(FileDone("/docs/notes.txt", 1, 1, "x" * 64))
    store.write_batch(ops, embedder.encode(texts))
    return store


def test_words_in_most_passages_leave_the_query_of_a_large_library(tmp_path, embedder, monkeypatch):
    texts = [f"garden note {i}: water the plants" for i in range(18)]
    texts += ["the heron stands in the garden pond", "a heron ate the fish in the pond"]
    store = _store_with(tmp_path, embedder, texts)
    terms = fts.query_terms("garden heron pond")
    # A small library keeps every word (scoring all its passages is cheap).
    assert fts.selective_terms(store._db, terms, 0.1, n=20) == terms
    monkeypatch.setattr(fts, "COMMON_MIN_PASSAGES", 10)
    # "garden" is in all 20 passages (> 10%): left out; heron and pond in 2 (= 10%): kept.
    assert fts.selective_terms(store._db, terms, 0.1, n=20) == ["heron", "pond"]
    assert fts.selective_terms(store._db, terms, None, n=20) == terms
    # Every word that common: all are kept, as before.
    assert fts.selective_terms(store._db, ["garden", "water", "heron"], 0.05, n=20) == ["garden", "water", "heron"]
    store.derived_bm25 = False    # the rule is FTS5's (the tantivy index keeps every word)
    hits = store.bm25_search("garden heron pond", 5)
    assert len(hits) == 2   # the two heron passages, not every garden note
    store.close()
