"""The BM25 side of the library: an SQLite FTS5 index over passages.

Searches go to the tantivy index derived from SQLite (``bm25_index.py``)
when it is current; this FTS5 index answers while it is not (a crash, an
older library, another process's write being caught up) and defines what
the derived index ranks like (same words, weights and stemming).

Each passage is indexed as three fields -- its text, its heading path and
its document's title (``context.py``) -- with the Porter stemmer on top of
``unicode61``, so "configuring" finds "configure" and a passage is found by
the subject its page is about even when its own sentences never name it.
Field weights make a word in a heading or title count more than the same
word once in the text.

In a large library, query words found in a large share of the passages
are left out of the query (``COMMON_SHARE``): FTS5 scores every passage an
OR query matches, so they cost the most while weighing the least.

The FTS table is external-content (it stores no text of its own; SQLite
reads ``chunks``), so changing how it indexes needs no re-embedding:
``migrate`` rebuilds it from the stored passages inside one transaction
(a crash mid-way rolls back to the old, working index).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from typing import Optional

from desktop_app.core.library.context import document_title

log = logging.getLogger(__name__)

# schema_version 1: FTS over (text, section), no stemming, no title column.
# schema_version 2: chunks.title; FTS over (text, section, title), Porter stemming.
FTS_SCHEMA_VERSION = 2

# bm25() weights of (text, section, title). Measured with bench/retrieval.py on
# the Python-docs and LaTeX-docs sets (see bench/data/README.md).
BM25_WEIGHTS = (1.0, 2.0, 2.0)

FTS_DDL = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, section, title, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, section, title)
        VALUES (new.id, new.text, new.section, new.title);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, section, title)
        VALUES ('delete', old.id, old.text, old.section, old.title);
END;
"""

_FTS_WORD = re.compile(r"\w+", re.UNICODE)
# Words that match most passages: in an OR query each makes FTS5 score nearly
# every row (1.6 s a query at 100k chunks) while adding almost nothing to BM25.
_STOPWORDS = frozenset("""
a about an and are as at be been but by can could did do does for from had has have how i if in into
is it its me my not of on or our she should so than that the their them then there these they this
to was we were what when where which while who whom why will with would you your
""".split())


def query_terms(text: str, max_terms: int = 32) -> list[str]:
    """The words of user text an FTS5 query is made of: lower-cased, common
    English words dropped unless nothing else is left, each once."""
    words = _FTS_WORD.findall(text.lower())
    kept = [w for w in words if w not in _STOPWORDS] or words
    seen: list[str] = []
    for word in kept:
        if word not in seen:
            seen.append(word)
        if len(seen) >= max_terms:
            break
    return seen


def or_query(terms: list[str]) -> Optional[str]:
    """Every word quoted (so quotes, AND/OR/NOT, ``*``, ``:`` and
    parentheses are plain text), joined with OR so BM25 ranks by how many
    and how rare the matching words are."""
    if not terms:
        return None
    return " OR ".join(f'"{w}"' for w in terms)


def fts_query(text: str, max_terms: int = 32) -> Optional[str]:
    """User text as a safe FTS5 query (``query_terms`` joined by ``or_query``)."""
    return or_query(query_terms(text, max_terms))


# A query word found in more than this share of the passages is left out of
# the BM25 query when the library is large (COMMON_MIN_PASSAGES): FTS5 scores
# every passage that matches any word of an OR query before it can rank, so
# one such word costs as much as scoring a tenth of the library, for a word
# whose BM25 weight (idf) is small. None: every word is kept.
COMMON_SHARE: Optional[float] = 0.1
COMMON_MIN_PASSAGES = 20_000


def selective_terms(db: sqlite3.Connection, terms: list[str], share: Optional[float], n: int) -> list[str]:
    """``terms`` less those found in more than ``share`` of the ``n``
    passages; all of them when every one is that common (as for stop
    words: a query of common words alone still ranks by all of them)."""
    if share is None or len(terms) < 2:
        return terms
    if n < COMMON_MIN_PASSAGES:
        return terms
    limit = share * n
    counts = {}
    for term in terms:
        # LIMIT stops the count as soon as the word is known to be common.
        row = db.execute("SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                         (f'"{term}"', int(limit) + 1)).fetchone()
        counts[term] = row[0]
    return [t for t in terms if counts[t] <= limit] or terms


_DEFAULT = object()


def bm25_search(db: sqlite3.Connection, query: str, k: int, passages: int = 0,
                common_share=_DEFAULT) -> list[tuple[int, float]]:
    """(chunk id, BM25 score: higher is better), best first.

    ``passages``: about how many the library holds; ``common_share``: see
    COMMON_SHARE (its value by default; None keeps every word)."""
    share = COMMON_SHARE if common_share is _DEFAULT else common_share
    match = or_query(selective_terms(db, query_terms(query), share, passages))
    if match is None:
        return []
    weights = ", ".join(str(float(w)) for w in BM25_WEIGHTS)
    rows = db.execute(
        f"SELECT rowid, bm25(chunks_fts, {weights}) AS s FROM chunks_fts "
        f"WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?", (match, k)).fetchall()
    return [(int(r[0]), -float(r[1])) for r in rows]


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def migrate(db: sqlite3.Connection, from_version: int) -> None:
    """Bring a library of an older schema to ``FTS_SCHEMA_VERSION`` in
    place, in the caller's transaction: titles from the stored paths, the FTS
    table rebuilt from the stored passages. Vectors are not touched."""
    if from_version >= FTS_SCHEMA_VERSION:
        return
    t0 = time.monotonic()
    if "title" not in _columns(db, "chunks"):
        db.execute("ALTER TABLE chunks ADD COLUMN title TEXT")
    db.create_function("hearth_document_title", 1, document_title, deterministic=True)
    db.execute("UPDATE chunks SET title = (SELECT hearth_document_title(f.path) FROM files f "
               "WHERE f.id = chunks.file_id)")
    db.execute("DROP TRIGGER IF EXISTS chunks_ai")
    db.execute("DROP TRIGGER IF EXISTS chunks_ad")
    db.execute("DROP TABLE IF EXISTS chunks_fts")
    for statement in statements(FTS_DDL):
        db.execute(statement)
    db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
    n = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    log.info("library schema %d -> %d: search index rebuilt from %d stored passages in %.1fs "
             "(no re-embedding)", from_version, FTS_SCHEMA_VERSION, n, time.monotonic() - t0)


def statements(script: str) -> list[str]:
    """The DDL split into statements (a trigger body holds ';' too)."""
    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.endswith("END;")):
            out.append(joined)
            current = []
    return out
