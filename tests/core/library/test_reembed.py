"""Re-embedding a library built by an earlier version: search answers
throughout, the old vectors go only when the new ones are complete, and a
kill -9 mid-way leaves the old index working."""

from __future__ import annotations

import numpy as np

from desktop_app.core.jobs import CancelToken
from desktop_app.core.library.context import EMBED_TEXT_VERSION, embed_text
from desktop_app.core.library.reembed import needs_reembed, reembed
from desktop_app.core.library.store import Store
from killed_child import kill_9_once_it_prints
from test_fts import _make_v1_library


def test_search_answers_while_the_new_vectors_are_built(tmp_path, embedder):
    root = tmp_path / "lib"
    old = _make_v1_library(root, embedder)
    store = Store(root)
    assert needs_reembed(store)
    query = embedder.encode(["watering tomatoes"])[0]
    seen = []

    def report(progress):
        # Called between batches, while the side table is being filled.
        [(top, _)] = store.vector_search(query, 1)
        seen.append((progress.done, store.chunk_rows([top])[top].path))

    assert reembed(store, embedder, token=CancelToken(), report=report, batch=1) == 3
    assert len(seen) >= 3 and all(path == "/docs/garden.txt" for _, path in seen)
    assert not needs_reembed(store)
    rows = store._db.execute("SELECT id, title, section, text, vector FROM chunks ORDER BY id").fetchall()
    for chunk_id, title, section, text, blob in rows:
        assert blob != old[chunk_id]
        expected = embedder.encode([embed_text(title, section, text)])[0]
        assert np.allclose(np.frombuffer(blob, dtype=np.float32), expected, atol=1e-5)
    [(top, _)] = store.vector_search(query, 1)
    assert store.chunk_rows([top])[top].path == "/docs/garden.txt"
    assert store._db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'chunks_next'").fetchone()[0] == 0
    store.close()
    reopened = Store(root)
    assert reopened.totals()["indexed_vectors"] == 3 and not needs_reembed(reopened)
    reopened.close()


_CHILD = """
    from desktop_app.core.library.reembed import reembed
    from desktop_app.core.library.store import Store
    store = Store(library_dir)
    def report(p):
        if p.done >= 1:
            print("committed", p.done, flush=True)
            time.sleep(120)
    reembed(store, embedder, report=report, batch=1)
"""


def test_kill_9_during_the_rebuild_leaves_the_old_index_working(tmp_path, embedder):
    root = tmp_path / "lib"
    old = _make_v1_library(root, embedder)
    kill_9_once_it_prints("committed", _CHILD, root, embedder)

    store = Store(root)
    assert needs_reembed(store)
    vectors = {i: v.tobytes() for i, v in store.chunk_vectors(list(old)).items()}
    assert vectors == old                      # the old vectors are untouched
    [(top, _)] = store.vector_search(embedder.encode(["watering tomatoes"])[0], 1)
    assert store.chunk_rows([top])[top].path == "/docs/garden.txt"
    # The next run resumes: what the killed run committed is not redone.
    assert reembed(store, embedder, token=CancelToken()) < 3
    assert store._meta("embed_text_version") == str(EMBED_TEXT_VERSION)
    store.close()


def test_the_background_refresh_upgrades_an_old_library(tmp_path, embedder, make_library):
    root = tmp_path / "lib"
    _make_v1_library(root, embedder)
    lib = make_library(root)
    assert lib.needs_reembed()
    lib.refresh(token=CancelToken())   # its folder (/docs) is not there: files kept, vectors redone
    assert not lib.needs_reembed()
    [hit] = lib.search("watering tomatoes", k=1)
    assert hit.path == "/docs/garden.txt"
