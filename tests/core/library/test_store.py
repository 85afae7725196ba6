"""The store on its own: SQLite is the truth, the HNSW file a repairable cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from desktop_app.core.library.documents import Chunk
from desktop_app.core.library.store import ChunkOp, FileDone, FileStart, Store, fts_query
from desktop_app.core.library.vector_index import INDEX_NAME

SENTENCES = [
    "The lighthouse keeper climbed two hundred steps every evening.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "A sonnet has fourteen lines and a strict rhyme scheme.",
    "The invoice number 44-A-1093 was paid on the third of May.",
    "Glaciers carve U-shaped valleys as they slowly move downhill.",
    "Copper conducts electricity better than iron does.",
]


def add_file(store: Store, embedder, path: str, texts: list[str]) -> None:
    source = store.add_source(os.path.dirname(path), "folder")
    ops = [FileStart(path, source.id)]
    ops += [ChunkOp(path, Chunk(text=t, start=i * 100, end=i * 100 + len(t))) for i, t in enumerate(texts)]
    ops.append(FileDone(path, size=1, mtime_ns=1, sha256="x" * 64))
    store.write_batch(ops, embedder.encode(texts))


def top_text(store: Store, embedder, query: str) -> str:
    [(chunk_id, _sim)] = store.vector_search(embedder.encode([query])[0], 1)
    return store.chunk_rows([chunk_id])[chunk_id].text


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "lib"


def test_index_behind_sqlite_is_repaired_on_open(store_dir, embedder):
    store = Store(store_dir)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES[:3])
    store.save_index()
    # Committed to SQLite but the index never saved: what a kill -9 leaves.
    add_file(store, embedder, "/docs/b.txt", SENTENCES[3:])
    store._db.close()
    store._db = None

    reopened = Store(store_dir)
    assert reopened.totals()["indexed_vectors"] == 6
    assert top_text(reopened, embedder, "how do valleys form under ice") == SENTENCES[4]
    reopened.close()


def test_deleted_chunks_never_come_back_from_a_stale_index(store_dir, embedder):
    store = Store(store_dir)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES[:3])
    add_file(store, embedder, "/docs/b.txt", SENTENCES[3:])
    store.save_index()
    [b] = [r for p, r in store.files_under("/docs").items() if p.endswith("b.txt")]
    store.delete_files([b.id])          # SQLite commits; index file still has them
    store._db.close()
    store._db = None

    reopened = Store(store_dir)
    hits = reopened.vector_search(embedder.encode(["valleys carved by glaciers"])[0], 10)
    texts = {reopened.chunk_rows([i])[i].text for i, _ in hits}
    assert texts == set(SENTENCES[:3])
    assert reopened.totals()["indexed_vectors"] == 3
    reopened.close()


def test_damaged_index_file_is_rebuilt_from_sqlite(store_dir, embedder):
    store = Store(store_dir)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES)
    store.close()
    (store_dir / INDEX_NAME).write_bytes(b"\0garbage" * 10)
    # A leftover temporary file from a save interrupted by a crash.
    (store_dir / f".{INDEX_NAME}.999.part").write_bytes(b"partial")

    reopened = Store(store_dir)
    assert top_text(reopened, embedder, "what is the rule for a sonnet's length") == SENTENCES[2]
    assert not list(store_dir.glob("*.part")) and not list(store_dir.glob(".*.part"))
    reopened.close()


def test_bm25_finds_exact_tokens_and_ignores_query_syntax(store_dir, embedder):
    store = Store(store_dir)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES)
    [(chunk_id, score)] = store.bm25_search("invoice 44-A-1093", 1)
    assert store.chunk_rows([chunk_id])[chunk_id].text == SENTENCES[3] and score > 0
    assert store.bm25_search('copper" OR (NEAR', 5)  # quotes and operators are just words
    assert store.bm25_search("?!", 5) == []
    store.close()


def test_fts_query_quotes_every_word():
    assert fts_query('say "hi" AND bye*') == '"say" OR "hi" OR "bye"'
    assert fts_query("what is the") == '"what" OR "is" OR "the"'  # only common words: keep them
    assert fts_query("  ()  ") is None


def test_changing_the_embedding_model_empties_the_vectors(store_dir, embedder):
    store = Store(store_dir)
    store.ensure_embedder(embedder.name, embedder.dim)
    add_file(store, embedder, "/docs/a.txt", SENTENCES[:2])
    assert store.ensure_embedder(embedder.name, embedder.dim) is True
    assert store.ensure_embedder("another-model", embedder.dim) is False
    totals = store.totals()
    # Files stay known but are marked for re-embedding by the next add.
    assert (totals["files"], totals["chunks"], totals["indexing"]) == (1, 0, 1)
    store.close()
