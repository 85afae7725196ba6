"""When the library's database cannot be used: say so, keep what can be
kept, offer to rebuild.

The list of folders the user added is the one thing a rebuild needs, so it
is also kept outside SQLite, in ``folders.json`` next to it (written
atomically whenever it changes). A database that is not a database or is
damaged is moved aside (never deleted: it may still be recoverable by
hand), and ``hearth library rebuild`` (or the window's dialog) indexes the
folders again into a fresh one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Iterable, Optional

from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

FOLDER_LIST = "folders.json"


class LibraryError(Exception):
    """The library cannot do what was asked; the message is one sentence for the user."""


class LibraryDamaged(LibraryError):
    """The database was unusable and has been moved aside; ``folders`` can be rebuilt."""

    def __init__(self, message: str, moved_to: Optional[Path], folders: list[str]) -> None:
        super().__init__(message)
        self.moved_to = moved_to
        self.folders = folders


def write_folder_list(library_dir: Path, sources: Iterable[tuple[str, str]]) -> None:
    """Record (path, kind) of every source; atomic, best effort."""
    try:
        with atomic_write(Path(library_dir) / FOLDER_LIST, "w") as handle:
            json.dump({"version": 1, "sources": [{"path": p, "kind": k} for p, k in sources]},
                      handle, ensure_ascii=False, indent=1)
    except OSError as exc:
        log.warning("could not save the folder list: %s", exc)


def read_folder_list(library_dir: Path) -> list[tuple[str, str]]:
    try:
        raw = json.loads((Path(library_dir) / FOLDER_LIST).read_text(encoding="utf-8"))
        return [(s["path"], s["kind"]) for s in raw["sources"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def move_aside(db_path: Path) -> Optional[Path]:
    """Rename a damaged database (and its -wal/-shm) out of the way; the
    derived vector index goes (it is rebuilt from the new database)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    try:
        os.replace(db_path, target)
    except FileNotFoundError:
        target = None
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        try:
            os.replace(side, db_path.with_name(f"{db_path.name}.damaged-{stamp}{suffix}"))
        except FileNotFoundError:
            pass
    for derived in ("vectors.hnsw", "vectors.hnsw.json"):
        try:
            (db_path.parent / derived).unlink()
        except FileNotFoundError:
            pass
    log.error("damaged library database moved to %s", target)
    return target


def damaged(db_path: Path, exc: BaseException) -> LibraryDamaged:
    """Move the database aside and build the error that tells the user."""
    moved = move_aside(db_path)
    folders = [p for p, _ in read_folder_list(db_path.parent)]
    what = f"{len(folders)} folder{'s' if len(folders) != 1 else ''}" if folders else "no saved folder list"
    message = (f"the library database was damaged ({exc}); it was moved to {moved} and nothing else was "
               f"touched. Run `hearth library rebuild` to index your {what} again"
               if folders else
               f"the library database was damaged ({exc}); it was moved to {moved}. There is {what}: "
               "add your folders again with `hearth library add`")
    return LibraryDamaged(message, moved, folders)
