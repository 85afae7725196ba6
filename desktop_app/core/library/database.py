"""Opening the library's SQLite file, for writing or for reading only.

For writing: WAL (readers never wait for the writer), synchronous=NORMAL
(a crash loses at most the last transactions, never consistency). For
reading only (a read-only mount, a folder without write permission): the
file opened ``mode=ro``, or ``immutable`` where SQLite cannot even create
its shared-memory file, which is safe there because nobody can write.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from desktop_app.core.library.recovery import LibraryDamaged, LibraryError, damaged


def _touch_private(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Not a database, or a damaged one (not: locked, full, unreadable)."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or \
        str(exc) in ("file is not a database", "database disk image is malformed")


def open_database(db_path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        if not db_path.exists():
            raise LibraryError(f"there is no library in {db_path.parent}, and that folder is read-only")
        uri = f"file:{quote(str(db_path))}"
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, isolation_level=None,
                             timeout=30.0)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # WAL on a read-only mount: SQLite cannot make its -shm file.
            # Nobody can write there either, so the file is immutable.
            db.close()
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False,
                                 isolation_level=None)
        return db
    # SQLite gives its -wal/-shm files the database file's mode. Only when
    # creating it: opening and closing another descriptor on a database this
    # process already has open would drop SQLite's POSIX locks.
    if not db_path.exists():
        _touch_private(db_path)
    db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=30.0)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        db.close()
        raise
    return db


def open_reader(db_path: Path, read_only: bool) -> sqlite3.Connection:
    """A second connection that only reads (searches), next to the one that
    writes: in WAL mode it sees every committed transaction and never waits
    for the writer, nor the writer for it."""
    if read_only:
        return open_database(db_path, True)
    db = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, check_same_thread=False,
                         isolation_level=None, timeout=30.0)
    db.execute("PRAGMA query_only=1")
    return db


def check_database(db_path: Path) -> Optional[LibraryDamaged]:
    """At startup: a library database that is not one, or whose schema is
    damaged, is moved aside now; returns what to tell the user (None when
    it opens). Cheap: reads the schema, not every page."""
    if not db_path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=5.0)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            db.execute("SELECT count(*) FROM sources").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return damaged(db_path, exc)
    return None
