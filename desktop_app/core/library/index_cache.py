"""When the saved HNSW index may be trusted: a stamp that proves it.

``vectors.hnsw`` is a cache of the chunk vectors in SQLite. It is trusted
on open only when it provably holds exactly SQLite's chunks: next to it,
``vectors.hnsw.json`` records the library's id, how many live labels the
index holds and a digest of that label set, and which file it describes
(inode, size, mtime). On open the stamp must describe the file actually
there, and its count and digest must equal those of SQLite's chunk ids;
otherwise the index is repaired from SQLite. Unlike a generation counter,
a digest of the content cannot be overwritten by another process into
agreeing with data the index does not hold.

Chunk ids are never reused within a library (AUTOINCREMENT), and the
library id changes with every freshly created SQLite file, so an index from the
same library that disagrees is repaired by two set differences; one from
elsewhere is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

STAMP_SUFFIX = ".json"


def label_digest(library_id: str, ids: Iterable[int]) -> str:
    """A digest of a set of chunk ids (order-free) within one library."""
    arr = np.fromiter(ids, dtype=np.int64)
    arr.sort()
    digest = hashlib.sha256(library_id.encode("utf-8"))
    digest.update(arr.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class IndexStamp:
    library_id: str
    count: int
    digest: str
    dim: int
    inode: int
    size: int
    mtime_ns: int


def stamp_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + STAMP_SUFFIX)


def write_stamp(index_path: Path, library_id: str, count: int, digest: str, dim: int) -> IndexStamp:
    """Record what ``index_path`` (just written) holds; atomic."""
    st = os.stat(index_path)
    stamp = IndexStamp(library_id, count, digest, dim, st.st_ino, st.st_size, st.st_mtime_ns)
    with atomic_write(stamp_path(index_path), "w") as handle:
        json.dump(asdict(stamp), handle)
    return stamp


def read_stamp(index_path: Path) -> Optional[IndexStamp]:
    """The stamp of the index file that is there now, or None when there is
    none, it is unreadable, or it describes another file (a save cut between
    the two renames, or two processes' saves interleaved)."""
    try:
        raw = json.loads(stamp_path(index_path).read_text(encoding="utf-8"))
        stamp = IndexStamp(**raw)
        st = os.stat(index_path)
    except (OSError, ValueError, TypeError) as exc:
        log.info("no usable stamp for %s (%s)", index_path, exc)
        return None
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (stamp.inode, stamp.size, stamp.mtime_ns):
        log.warning("the stamp of %s describes another file: the index is not trusted", index_path)
        return None
    return stamp
