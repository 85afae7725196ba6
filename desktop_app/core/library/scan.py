"""The scan of an add: the disk under the given paths compared with what
the index knows, before anything is hashed or parsed.

Each path is normalized (a folder and a file in it, given together, are one
source), matched to its source (or made one) and walked. A file whose size
and mtime did not change is left alone, unless an older parser made (or
failed on) it (``parser_upgrade``); the rest become ``Candidate``\\ s for
``ingest.run_ingest``. Known files that are gone leave the index here; a
path whose source's root is gone (an unplugged drive) is reported
``unavailable`` and its files are kept.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mode
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from desktop_app.core.jobs import CancelToken, Progress, Report
from desktop_app.core.library.fsnames import ReservedName, display, to_fs, to_text
from desktop_app.core.library.ingest import Candidate, IngestReport, not_regular_reason, walk_files
from desktop_app.core.library.parser_upgrade import outdated
from desktop_app.core.library.records import SourceRecord
from desktop_app.core.library.store import Store
from desktop_app.core.library.write_ops import FileFailed

PathLike = Union[str, os.PathLike]

# Failures a retry may fix without the file changing (permissions, a file
# that was being moved): tried again on every add.
_TRANSIENT = ("unreadable", "file vanished")

# A name whose characters Hearth uses for undecodable bytes (fsnames).
RESERVED_NAME = "file name uses characters Hearth reserves for undecodable bytes"


def normalize(path: PathLike) -> str:
    """An absolute, link-free path (file-system form). A symlink loop is kept
    as given: the add reports it."""
    try:
        return str(Path(path).expanduser().resolve())
    except (RuntimeError, OSError):
        return os.path.abspath(os.path.expanduser(path))


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _outermost(paths: Iterable[PathLike]) -> list[str]:
    """The given paths normalized, each once, without those inside another
    given folder (a folder and a file in it, dropped together, are one
    source), folders first."""
    unique = list(dict.fromkeys(normalize(p) for p in paths))
    folders = [p for p in unique if os.path.isdir(p)]
    kept = [p for p in unique if not any(f != p and inside(p, f) for f in folders)]
    return sorted(kept, key=lambda p: not os.path.isdir(p))


def unavailable_reason(source: SourceRecord) -> Optional[str]:
    """Why a source cannot be scanned now, or None when its root is there.

    The root of a folder source is the folder; of a file source, the folder
    holding it (a file deleted from a folder that is there is simply gone).
    A missing root is most likely a drive or share that is not connected,
    so its files stay in the index until it is back or the user removes it.
    """
    root = source.path if source.kind == "folder" else os.path.dirname(source.path)
    if os.path.isdir(to_fs(root)):
        return None
    what = "folder" if source.kind == "folder" else "folder holding this file"
    return (f"the {what} is not there ({root}): is its drive unplugged or its share unmounted? "
            "Its indexed files are kept until it is back or you remove it")


@dataclass
class Scan:
    """What the scan found: the files to hash/parse (each path once), how
    many files it saw and how many of them are already done (unchanged),
    and the sources it touched."""

    candidates: list[Candidate]
    files: int
    done: int
    touched: set[int]


def scan(store: Store, paths: Iterable[PathLike], is_supported: Callable[[Path], bool], *,
         token: CancelToken, report: Report, result: IngestReport) -> Scan:
    """Scan ``paths`` (folders recursively, and files) into ``result``
    (failed, missing, unavailable, unchanged, removed) and return what is
    left to index. The caller is the library's writer."""
    excluded = store.exclusions()
    candidates: list[Candidate] = []
    total = done = 0
    touched: set[int] = set()
    for fs_path in _outermost(paths):
        token.check()
        try:
            path = to_text(fs_path)
            st = os.stat(fs_path)
        except ReservedName:
            result.failed.append((display(fs_path), RESERVED_NAME))
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                result.failed.append((path, "symbolic link loop"))
                continue
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                result.failed.append((path, f"unreadable: {exc.strerror or exc}"))
                continue
            st = None
        if st is None:
            reason = _unavailable_near(store, path)
            if reason is not None:
                result.unavailable.append((path, reason))
                continue
            result.missing.append(path)
            # A file or folder gone from a folder that is there leaves the index.
            gone = store.files_under(path)
            if gone:
                result.removed += store.delete_files(r.id for r in gone.values())
            continue
        is_dir = stat_mode.S_ISDIR(st.st_mode)
        special = None if is_dir else not_regular_reason(st)
        if special is not None:
            result.failed.append((path, special))
            continue
        if not is_dir and not is_supported(Path(path)):
            result.failed.append((path, "unsupported format"))
            continue
        source = _source_for(store, path, "folder" if is_dir else "file", excluded)
        excluded = store.exclusions()
        touched.add(source.id)
        seen, todo, unchanged = _scan_path(store, path, source, is_dir, is_supported, excluded, token, result)
        candidates += todo
        total += seen
        done += unchanged
        report(Progress("scanning", total, None, path))
    # A path given twice (or a folder and a file in it) is indexed once.
    unique: dict[str, Candidate] = {}
    for cand in candidates:
        unique.setdefault(cand.path, cand)
    total -= len(candidates) - len(unique)
    return Scan(list(unique.values()), total, done, touched)


def _unavailable_near(store: Store, path: str) -> Optional[str]:
    """The reason ``path`` (which does not exist) belongs to a source
    whose root is gone, or None when it is just not there."""
    for source in store.sources():
        if inside(path, source.path) or inside(source.path, path):
            reason = unavailable_reason(source)
            if reason is not None:
                return reason
    return None


def _source_for(store: Store, path: str, kind: str, excluded: set[str]) -> SourceRecord:
    for source in store.sources():
        if source.path == path:
            return source
        if (source.kind == "folder" and inside(path, source.path)
                and not any(inside(path, e) for e in excluded)):
            return source
    return store.add_source(path, kind)


def _scan_path(store: Store, path: str, source: SourceRecord, is_dir: bool, is_supported, excluded: set[str],
               token: CancelToken, result: IngestReport) -> tuple[int, list[Candidate], int]:
    """Compare the disk under ``path`` with what the index knows.

    Returns (files seen, candidates to hash/parse, files unchanged by
    size and mtime). Known files that are gone leave the index here.
    """
    known = {p: r for p, r in store.files_under(path).items() if r.source_id == source.id}
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    todo: list[Candidate] = []
    unchanged = 0
    for i, (fs_file, st) in enumerate(_entries(store, path, is_dir, is_supported, excluded, skipped)):
        if i % 256 == 0:
            token.check()
        try:
            file_path = to_text(fs_file)
        except ReservedName:
            skipped.append((fs_file, RESERVED_NAME))
            continue
        seen.add(file_path)
        record = known.get(file_path)
        same_stat = record is not None and record.size == st.st_size and record.mtime_ns == st.st_mtime_ns
        # A file an older parser made (or failed on) is parsed again (parser_upgrade).
        if same_stat and record.status == "ok" and record.sha256 and not outdated(record):
            unchanged += 1
            result.unchanged += 1
            continue
        if (same_stat and record.status == "failed" and not (record.reason or "").startswith(_TRANSIENT)
                and not outdated(record)):
            unchanged += 1  # it failed as it is; it would fail the same way again
            continue
        todo.append(Candidate(file_path, source.id, st.st_size, st.st_mtime_ns, record))
    # What could not be read is listed with the library's failures (and
    # stays listed until it can be read or is gone).
    failed_now = [(display(p), reason) for p, reason in skipped]
    if failed_now:
        store.write_batch([FileFailed(p, source.id, reason) for p, reason in failed_now], None)
        result.failed += failed_now
        seen.update(p for p, _ in failed_now)
    gone = [r.id for p, r in known.items() if p not in seen]
    if gone:
        result.removed += store.delete_files(gone)
    return len(seen) - len(failed_now), todo, unchanged


def _entries(store: Store, path: str, is_dir: bool, is_supported, excluded: set[str],
             skipped: list[tuple[str, str]]) -> Iterator[tuple[str, os.stat_result]]:
    """(file-system path, stat) of the files to consider under ``path``;
    what is passed over with a reason goes to ``skipped``."""
    fs_root = to_fs(path)
    if not is_dir:
        yield fs_root, os.stat(fs_root)
        return
    # Links are followed only within the folders the user added.
    roots = tuple(to_fs(s.path) for s in store.sources() if s.kind == "folder")
    for entry in walk_files(Path(fs_root), is_supported, excluded,
                            on_skip=lambda p, reason: skipped.append((p, reason)), allowed_roots=roots):
        try:
            yield entry.path, entry.stat()
        except FileNotFoundError:   # gone between the listing and now
            continue
        except OSError as exc:
            skipped.append((entry.path, f"unreadable: {exc.strerror or exc}"))
