"""The library's SQLite tables, and bringing an older library's up to date.

``upgrade`` runs in the store's first transaction: it creates what is
missing, and migrates a library of an older ``SCHEMA_VERSION`` in place
(``fts.migrate``: no re-embedding).
"""

from __future__ import annotations

import sqlite3
from typing import Optional

from desktop_app.core.library import fts
from desktop_app.core.library.fts import FTS_SCHEMA_VERSION
from desktop_app.core.library.parser_upgrade import add_column as add_parser_version

SCHEMA_VERSION = FTS_SCHEMA_VERSION

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('folder', 'file')),
    added_at REAL NOT NULL,
    updated_at REAL
);
CREATE TABLE IF NOT EXISTS exclusions (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    path TEXT NOT NULL UNIQUE,
    size INTEGER,
    mtime_ns INTEGER,
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'indexing')),
    reason TEXT,
    chunks INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    parser_version INTEGER
);
CREATE INDEX IF NOT EXISTS files_source ON files(source_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id),
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    section TEXT,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    vector BLOB NOT NULL,
    title TEXT
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
"""


def write_meta(db: sqlite3.Connection, key: str, value) -> None:
    """Set ``key`` in the meta table, in the caller's transaction."""
    db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, str(value)))


def upgrade(db: sqlite3.Connection, found: Optional[int]) -> None:
    """Create the tables, or bring those of a library at schema ``found``
    (None: a fresh database) up to date, in the caller's transaction."""
    for statement in fts.statements(_SCHEMA):
        db.execute(statement)
    if found is not None and found < SCHEMA_VERSION:
        fts.migrate(db, found)
        # Its vectors were made from the bare passage text.
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('embed_text_version', '1')")
    else:
        for statement in fts.statements(fts.FTS_DDL):
            db.execute(statement)
    add_parser_version(db)
    write_meta(db, "schema_version", SCHEMA_VERSION)
