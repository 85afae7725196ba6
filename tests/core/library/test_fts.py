"""The BM25 side: stemming, title and heading fields, and the in-place
upgrade of a library built by an earlier version (schema 1)."""

from __future__ import annotations

import os
import sqlite3

import numpy as np

from desktop_app.core.library.documents import Chunk
from desktop_app.core.library.store import ChunkOp, FileDone, FileStart, Store


def add_chunks(store: Store, embedder, path: str, chunks: list[Chunk]) -> None:
    source = store.add_source(os.path.dirname(path), "folder")
    ops = [FileStart(path, source.id)] + [ChunkOp(path, c) for c in chunks]
    ops.append(FileDone(path, size=1, mtime_ns=1, sha256="x" * 64))
    store.write_batch(ops, embedder.encode([c.text for c in chunks]))


def top_path(store: Store, query: str) -> str:
    hits = store.bm25_search(query, 1)
    assert hits, f"nothing found for {query!r}"
    return store.chunk_rows([hits[0][0]])[hits[0][0]].path


def test_inflected_words_match_their_stem(tmp_path, embedder):
    store = Store(tmp_path / "lib")
    store.ensure_embedder(embedder.name, embedder.dim)
    add_chunks(store, embedder, "/docs/printing.txt", [Chunk("Configuring printers takes a minute.")])
    add_chunks(store, embedder, "/docs/other.txt", [Chunk("The garden needs water every day.")])
    assert top_path(store, "configure printer") == "/docs/printing.txt"
    store.close()


def test_a_passage_is_found_by_its_file_title_and_headings(tmp_path, embedder):
    store = Store(tmp_path / "lib")
    store.ensure_embedder(embedder.name, embedder.dim)
    # Neither passage names its subject; the file name and the heading do.
    add_chunks(store, embedder, "/docs/longtable.pdf", [Chunk("Rows are entered as usual and end with a command.")])
    add_chunks(store, embedder, "/docs/notes.md", [Chunk("Rows are entered as usual, one per line.",
                                                         section="Guide > Spreadsheets")])
    assert top_path(store, "longtable rows") == "/docs/longtable.pdf"
    assert top_path(store, "spreadsheet rows") == "/docs/notes.md"
    store.close()


# The tables of a library made by the previous version (schema_version 1).
_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('folder', 'file')), added_at REAL NOT NULL, updated_at REAL);
CREATE TABLE exclusions (path TEXT PRIMARY KEY);
CREATE TABLE files (id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL REFERENCES sources(id),
    path TEXT NOT NULL UNIQUE, size INTEGER, mtime_ns INTEGER, sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'indexing')), reason TEXT,
    chunks INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL);
CREATE INDEX files_source ON files(source_id);
CREATE TABLE chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, file_id INTEGER NOT NULL REFERENCES files(id),
    seq INTEGER NOT NULL, text TEXT NOT NULL, page INTEGER, section TEXT, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX chunks_file ON chunks(file_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, section, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, section) VALUES (new.id, new.text, coalesce(new.section, ''));
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, section)
        VALUES ('delete', old.id, old.text, coalesce(old.section, ''));
END;
"""


def _make_v1_library(root, embedder) -> dict[int, bytes]:
    root.mkdir()
    db = sqlite3.connect(root / "library.sqlite3")
    db.executescript(_SCHEMA_V1)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("db_gen", "1"),
                                                       ("embedder", embedder.name), ("dim", str(embedder.dim))])
    db.execute("INSERT INTO sources VALUES (1, '/docs', 'folder', 0, NULL)")
    texts = {"/docs/git-rebase.html": ["Reapply commits on top of another base tip.",
                                       "Conflicts stop the process until they are resolved."],
             "/docs/garden.txt": ["Tomatoes want sun and regular watering."]}
    vectors = {}
    for fid, (path, chunks) in enumerate(texts.items(), start=1):
        db.execute("INSERT INTO files VALUES (?, 1, ?, 1, 1, ?, 'ok', NULL, ?, 0)", (fid, path, "x" * 64, len(chunks)))
        for seq, text in enumerate(chunks):
            blob = embedder.encode([text])[0].astype(np.float32).tobytes()
            cur = db.execute('INSERT INTO chunks(file_id, seq, text, page, section, start, "end", vector) '
                             "VALUES (?, ?, ?, NULL, NULL, 0, ?, ?)", (fid, seq, text, len(text), blob))
            vectors[cur.lastrowid] = blob
    db.commit()
    db.close()
    return vectors


def test_a_schema_1_library_is_upgraded_in_place_without_re_embedding(tmp_path, embedder):
    root = tmp_path / "lib"
    vectors = _make_v1_library(root, embedder)

    store = Store(root)
    # The title field, from the stored path: "rebase" is in no passage's text.
    assert top_path(store, "rebase") == "/docs/git-rebase.html"
    assert top_path(store, "resolving conflict") == "/docs/git-rebase.html"   # stemmed
    assert {i: v.tobytes() for i, v in store.chunk_vectors(list(vectors)).items()} == vectors
    assert store.vector_search(embedder.encode(["watering tomatoes"])[0], 1)[0][0] == 3
    assert store._meta("embed_text_version") == "1"   # its vectors were made from bare text
    # Deleting and adding after the upgrade keeps the FTS table consistent.
    [garden] = [r for p, r in store.files_under("/docs").items() if p.endswith("garden.txt")]
    store.delete_files([garden.id])
    add_chunks(store, embedder, "/docs/roses.txt", [Chunk("Roses want pruning in spring.")])
    assert store.bm25_search("tomatoes", 5) == []
    assert top_path(store, "prune roses") == "/docs/roses.txt"
    store._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    store.close()

    reopened = Store(root)   # already upgraded: opens as is
    assert reopened._meta("schema_version") == "2"
    assert top_path(reopened, "rebase") == "/docs/git-rebase.html"
    reopened.close()
