"""Constraints that keep the library's SQLite data honest.

No duplicate passages: a file's passages are numbered 0..n-1 and the pair
(file, number) is unique. Before the writer lock existed, two processes
adding the same folder at once could interleave their inserts and leave a
file with two copies of its passages; such files are emptied and marked
for re-indexing (the next add redoes them) before the constraint goes on.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

UNIQUE_PASSAGES = "CREATE UNIQUE INDEX IF NOT EXISTS chunks_file_seq ON chunks(file_id, seq)"


def ensure_unique_passages(db: sqlite3.Connection) -> int:
    """Add the (file, passage number) constraint; returns how many files had
    duplicates and were marked for re-indexing."""
    try:
        db.execute(UNIQUE_PASSAGES)
        return 0
    except sqlite3.IntegrityError:
        pass
    db.execute("BEGIN IMMEDIATE")
    try:
        bad = [r[0] for r in db.execute(
            "SELECT DISTINCT file_id FROM chunks GROUP BY file_id, seq HAVING count(*) > 1")]
        for file_id in bad:
            db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            db.execute("UPDATE files SET sha256 = NULL, chunks = 0, status = 'indexing' WHERE id = ?",
                       (file_id,))
        db.execute(UNIQUE_PASSAGES)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    log.warning("%d files had duplicate passages; they will be indexed again by the next add", len(bad))
    return len(bad)
