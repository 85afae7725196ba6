"""Re-embed a library's passages without taking its search away.

When what the embedder sees for a passage changes (``context.embed_text``,
``EMBED_TEXT_VERSION``), or the embedder backend that made the vectors is
not the one the settings name (``embedder_backend``: the same model in
fp32 or int8 gives slightly different vectors), every stored vector is out
of date -- but still good enough to search with. So the new vectors are built *alongside* the old
ones, from the passages SQLite already holds (no file is re-read):

1. batches of passages are embedded and committed to a side table
   ``chunks_next`` (one transaction a batch); searches run between batches
   on the old vectors and the old HNSW index;
2. a new HNSW index is built from the side table, outside the store's lock;
3. the swap: one transaction copies the new vectors into ``chunks``, records
   the new ``embed_text_version`` and drops the side table; then the new
   index replaces the old one in memory and on disk (atomic rename).

A cancel or a ``kill -9`` at any point before the swap's commit leaves the
old vectors and index as they were, and the next run resumes from the side
table. After the commit, the saved index is behind SQLite's generation and
is rebuilt from the (new) stored vectors on the next open, as after any crash.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from desktop_app.core.jobs import CancelToken, Progress, RateLimitedReport, Report, ignore_progress
from desktop_app.core.library.context import EMBED_TEXT_VERSION, embed_text

log = logging.getLogger(__name__)

STAGE = "re-embedding"
BATCH = 256

_SIDE_TABLE = "CREATE TABLE IF NOT EXISTS chunks_next (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)"


# Which embedder backend made the stored vectors (meta key); absent in
# libraries from before it was recorded (``reindex.library_recipe`` fills it).
BACKEND_KEY = "embedder_backend"
# What the side table's vectors were made for: a run for another target
# (the backend was changed again mid-way) starts the side table over.
_TARGET_KEY = "reembed_target"


def needs_reembed(store, backend: Optional[str] = None) -> bool:
    """True when the vectors are of an older embedded-text composition, or
    (given ``backend``) were made by another embedder backend."""
    if store.embed_text_version < EMBED_TEXT_VERSION:
        return True
    made_by = store.meta(BACKEND_KEY)
    return backend is not None and made_by is not None and made_by != backend


def reembed(store, embedder, *, token: Optional[CancelToken] = None, report: Report = ignore_progress,
            batch: int = BATCH) -> int:
    """Bring every vector to ``EMBED_TEXT_VERSION``. Returns how many
    passages were embedded in this run (0 when already up to date).
    Raises Cancelled when ``token`` is cancelled; what was embedded until
    then is kept for the next run."""
    token = token or CancelToken()
    report = RateLimitedReport(report)
    backend = getattr(embedder, "backend", None)
    if not needs_reembed(store, backend):
        return 0
    target = f"{EMBED_TEXT_VERSION}:{backend}"
    with store.transaction() as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (_TARGET_KEY,)).fetchone()
        if row is not None and row[0] != target:
            db.execute("DROP TABLE IF EXISTS chunks_next")
        db.execute(_SIDE_TABLE)
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (_TARGET_KEY, target))
        total = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        done = db.execute("SELECT count(*) FROM chunks_next WHERE id IN (SELECT id FROM chunks)").fetchone()[0]
    embedded = 0
    t0 = time.monotonic()
    report(Progress(STAGE, done, total, "passages"))
    while True:
        token.check()
        with store.transaction() as db:
            rows = db.execute("SELECT c.id, c.title, c.section, c.text FROM chunks c "
                              "WHERE NOT EXISTS (SELECT 1 FROM chunks_next n WHERE n.id = c.id) "
                              "ORDER BY c.id LIMIT ?", (batch,)).fetchall()
        if not rows:
            break
        # The embedder runs without any lock held: searches go on meanwhile.
        vectors = embedder.encode([embed_text(t, s, x) for _, t, s, x in rows], check=token.check)
        token.check()
        with store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO chunks_next(id, vector) VALUES (?, ?)",
                           [(r[0], np.asarray(v, dtype=np.float32).tobytes()) for r, v in zip(rows, vectors)])
        embedded += len(rows)
        done += len(rows)
        report(Progress(STAGE, min(done, total), total, "passages"))
    token.check()
    _swap(store, token, backend)
    log.info("re-embedded %d passages (embed text version %d) in %.0fs", embedded, EMBED_TEXT_VERSION,
             time.monotonic() - t0)
    report(Progress(STAGE, total, total, "done"))
    return embedded


def _swap(store, token: CancelToken, backend: Optional[str]) -> None:
    index = store.new_index_like()
    last = 0
    while True:
        token.check()
        with store.transaction() as db:
            rows = db.execute("SELECT n.id, n.vector FROM chunks_next n JOIN chunks c ON c.id = n.id "
                              "WHERE n.id > ? ORDER BY n.id LIMIT 4096", (last,)).fetchall()
        if not rows:
            break
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        index.add(np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]), ids)
        last = int(ids[-1])
    token.check()

    def commit(db) -> list[int]:
        # Passages added or changed since the side table was read have their
        # new vectors already (ingest embeds with the current composition).
        db.execute("UPDATE chunks SET vector = (SELECT n.vector FROM chunks_next n WHERE n.id = chunks.id) "
                   "WHERE id IN (SELECT id FROM chunks_next)")
        db.execute("INSERT INTO meta(key, value) VALUES ('embed_text_version', ?) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(EMBED_TEXT_VERSION),))
        if backend is not None:
            db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (BACKEND_KEY, backend))
        db.execute("DELETE FROM meta WHERE key = ?", (_TARGET_KEY,))
        db.execute("DROP TABLE chunks_next")
        return [r[0] for r in db.execute("SELECT id FROM chunks WHERE id > ?", (last,))]

    store.adopt_index(index, commit)
