"""Ingest: walk, hash, parse, chunk, embed and store, with embedding the
bottleneck and everything else hidden behind it.

A producer thread hashes, parses and chunks files in order and hands chunks
through a bounded queue; the calling thread embeds them in large batches
that run across file boundaries and commits each batch in one transaction.
Memory stays bounded whatever the file size: the queue and the batch are
bounded and chunks stream from the parser.

A file's hash is committed with its last chunk, so a file interrupted by a
cancel or a crash has no hash and is redone by the next add. A file that
already has passages is replaced whole, and passages whose text did not
change keep their vectors (``parser_upgrade``: how a parser change reaches
files that did not change).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import stat as stat_mode
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np

from desktop_app.core.jobs import Cancelled, CancelToken, Progress, RateLimitedReport, Report
from desktop_app.core.library.context import document_title, embed_text
from desktop_app.core.library.documents import Chunk, ParseError
from desktop_app.core.library.fsnames import to_fs
from desktop_app.core.library.parse import parser_version
from desktop_app.core.library.parser_upgrade import FileHold, VectorReuse, outdated, vectors_for
from desktop_app.core.library.records import FileRecord
from desktop_app.core.library.store import (
    ChunkOp, FileDone, FileFailed, FileStart, FileUnchanged, Store, WriteOp)

log = logging.getLogger(__name__)

STAGE = "indexing"
EMBED_BATCH = 256          # chunks per encode call (sorted by length inside)
FIRST_EMBED_BATCH = 32     # batches grow 32, 64, ... 256: the first files are
                           # searchable (and progress moves) within seconds
MIN_EMBED_BATCH = 32       # embed this many rather than wait for the parser
CHUNK_GROUP = 32           # chunks per queue item
QUEUE_ITEMS = 64           # bounded: at most ~2k chunks wait in memory
MAX_BARE_OPS = 512         # commit this many skipped/failed files at once
SAVE_INDEX_EVERY = 300.0   # seconds between index saves during a long ingest


@dataclass(frozen=True)
class IngestProgress(Progress):
    """Progress of an ingest: ``done``/``total`` count files; ``chunks`` counts
    chunks stored so far in this run."""

    chunks: int = 0


@dataclass
class IngestReport:
    added: int = 0          # new files indexed
    updated: int = 0        # changed files re-embedded
    reparsed: int = 0       # unchanged files parsed again by a newer parser (parser_upgrade)
    unchanged: int = 0      # skipped: same content
    removed: int = 0        # left the index (deleted from disk)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    missing: list[str] = field(default_factory=list)             # paths given that do not exist
    # Known sources whose root is gone (an unplugged drive, an unmounted
    # share): skipped, their files kept in the index. (path, reason)
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0         # chunks stored in this run
    reused: int = 0         # of them, kept the vector of the same text before (not embedded)
    files: int = 0          # files seen
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def changed(self) -> bool:
        """The run changed what the library holds (a background sync that
        did not stays quiet)."""
        return bool(self.added or self.updated or self.reparsed or self.removed or self.failed)

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "reparsed": self.reparsed,
                "unchanged": self.unchanged,
                "removed": self.removed, "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "missing": self.missing,
                "unavailable": [{"path": p, "reason": r} for p, r in self.unavailable],
                "chunks": self.chunks, "reused": self.reused, "files": self.files,
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled}


@dataclass(frozen=True)
class Candidate:
    """A file on disk that may need (re)indexing."""

    path: str
    source_id: int
    size: int
    mtime_ns: int
    known: Optional[FileRecord]


# ------------------------------------------------------------------ walking

def is_hidden(name: str) -> bool:
    return name.startswith(".")


_SPECIAL_KINDS = ((stat_mode.S_ISFIFO, "a named pipe"), (stat_mode.S_ISSOCK, "a socket"),
                  (stat_mode.S_ISCHR, "a character device"), (stat_mode.S_ISBLK, "a block device"))


def not_regular_reason(st: os.stat_result) -> Optional[str]:
    """Why a file with this stat is not read, or None for a regular file.
    Reading a named pipe blocks for ever, a device may never end."""
    if stat_mode.S_ISREG(st.st_mode):
        return None
    for test, what in _SPECIAL_KINDS:
        if test(st.st_mode):
            return f"skipped: {what}, not a regular file"
    if stat_mode.S_ISDIR(st.st_mode):
        return "skipped: a folder"
    return "skipped: not a regular file"


def _inside_any(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


Skip = Callable[[str, str], None]


def walk_files(root: Path, is_supported: Callable[[Path], bool], excluded: set[str],
               on_skip: Optional[Skip] = None, allowed_roots: tuple[str, ...] = ()) -> Iterator[os.DirEntry]:
    """Supported, non-hidden regular files under ``root``, in a stable order.

    Symlinked folders are not followed (a link loop cannot trap the walk). A
    symlinked file is followed only when its target lies inside ``root`` or
    one of ``allowed_roots`` (the folders the user added): a link must not
    pull ``/etc/shadow`` into a library. What is passed over for a reason the
    user should know (a folder that cannot be listed, a link out, a broken
    link, a named pipe or device) is told to ``on_skip(path, reason)``;
    ``excluded`` holds text-form paths (``fsnames``).
    """
    from desktop_app.core.library.fsnames import ReservedName, to_text

    skip = on_skip or (lambda path, reason: None)
    roots = tuple(os.path.realpath(r) for r in (str(root), *allowed_roots))
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            skip(folder, f"folder unreadable: {exc.strerror or exc}")
            continue
        subdirs = []
        for entry in entries:
            if is_hidden(entry.name):
                continue
            try:
                if to_text(entry.path) in excluded:
                    continue
            except ReservedName:
                pass
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                    continue
                if entry.is_symlink():
                    if not is_supported(Path(entry.name)) or entry.is_dir():
                        continue
                    target = os.path.realpath(entry.path)
                    if not os.path.exists(target):
                        skip(entry.path, "skipped: broken link")
                        continue
                    if not _inside_any(target, roots):
                        skip(entry.path, f"skipped: link to a file outside the added folders ({target}); "
                                         "add that file itself to index it")
                        continue
                if entry.is_file():
                    if is_supported(Path(entry.name)):
                        yield entry
                    continue
                reason = not_regular_reason(entry.stat())
                if reason is not None and not stat_mode.S_ISDIR(entry.stat().st_mode):
                    skip(entry.path, reason)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    skip(entry.path, "skipped: symbolic link loop")
                continue
        stack.extend(reversed(subdirs))


class NotRegularFile(OSError):
    """A path that is (now) a pipe, socket or device: never read."""


def sha256_file(path: str, token: Optional[CancelToken] = None) -> str:
    digest = hashlib.sha256()
    # O_NONBLOCK: opening a named pipe without a writer would block for ever;
    # the check on the opened descriptor closes the race with a swapped file.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        reason = not_regular_reason(os.fstat(fd))
        if reason is not None:
            raise NotRegularFile(reason)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as handle:
        while block := handle.read(1 << 20):
            if token is not None and token.cancelled:
                raise Cancelled()
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ParseError):
        return exc.reason
    if isinstance(exc, NotRegularFile):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file vanished"
    if isinstance(exc, PermissionError):
        return "unreadable: permission denied"
    if isinstance(exc, OSError):
        return f"unreadable: {exc.strerror or exc}"
    return f"could not be read ({type(exc).__name__}: {exc})"


# --------------------------------------------------------------- producer

@dataclass(frozen=True)
class _Start:
    cand: Candidate


@dataclass(frozen=True)
class _Chunks:
    cand: Candidate
    chunks: list[Chunk]


@dataclass(frozen=True)
class _Done:
    cand: Candidate
    size: int
    mtime_ns: int
    sha256: str
    chunks: int
    parser_version: Optional[int]


@dataclass(frozen=True)
class _Failed:
    cand: Candidate
    reason: str
    parser_version: Optional[int] = None


@dataclass(frozen=True)
class _Unchanged:
    cand: Candidate
    size: int
    mtime_ns: int


_END = object()
_Item = Union[_Start, _Chunks, _Done, _Failed, _Unchanged]


class _Producer(threading.Thread):
    """Hashes, parses and chunks candidates in order into a bounded queue."""

    def __init__(self, candidates: list[Candidate], parse: Callable, chunker: Callable,
                 stop: threading.Event) -> None:
        super().__init__(name="library-ingest-producer", daemon=True)
        self.candidates = candidates
        self.parse = parse
        self.chunker = chunker
        self.stop = stop
        self.queue: "queue.Queue" = queue.Queue(maxsize=QUEUE_ITEMS)
        self.error: Optional[BaseException] = None

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            for cand in self.candidates:
                if self.stop.is_set():
                    return
                if not self._one(cand):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises
            self.error = exc
        finally:
            self._put(_END)

    def _one(self, cand: Candidate) -> bool:
        fs_path = to_fs(cand.path)   # the library keeps text-form paths (fsnames)
        version = parser_version(cand.path)
        try:
            st = os.stat(fs_path)
            sha = sha256_file(fs_path)
        except OSError as exc:
            return self._put(_Failed(cand, _reason(exc), version))
        known = cand.known
        if known is not None and known.status == "ok" and known.sha256 == sha and not outdated(known):
            return self._put(_Unchanged(cand, st.st_size, st.st_mtime_ns))
        started = False
        count = 0
        group: list[Chunk] = []
        try:
            for chunk in self.chunker(self.parse(Path(fs_path))):
                if not started:
                    if not self._put(_Start(cand)):
                        return False
                    started = True
                group.append(chunk)
                count += 1
                if len(group) >= CHUNK_GROUP:
                    if not self._put(_Chunks(cand, group)):
                        return False
                    group = []
        except Exception as exc:  # a bad file is recorded; the ingest goes on
            if not isinstance(exc, (ParseError, OSError)):
                log.warning("parsing %s failed", cand.path, exc_info=True)
            return self._put(_Failed(cand, _reason(exc), version))
        if count == 0:
            return self._put(_Failed(cand, "no text found", version))
        if group and not self._put(_Chunks(cand, group)):
            return False
        return self._put(_Done(cand, st.st_size, st.st_mtime_ns, sha, count, version))


# ---------------------------------------------------------------- consumer

def run_ingest(store: Store, embedder, candidates: list[Candidate], *, total_files: int,
               done_files: int, parse: Callable, chunker: Callable, token: CancelToken,
               report: Report, result: IngestReport) -> IngestReport:
    """Index ``candidates`` (files whose size or mtime changed, or new ones).

    ``total_files``/``done_files`` frame the progress (files already known
    unchanged count as done). Raises Cancelled when the token is cancelled;
    everything committed until then stays. Each file records the
    ``parser_version`` of its parser (``parser_upgrade``).
    """
    report = RateLimitedReport(report)
    stop = threading.Event()
    producer = _Producer(candidates, parse, chunker, stop)
    pending_ops: list[WriteOp] = []
    pending_texts: list = []   # per chunk op: its text to embed, or a reused vector
    hold = FileHold()
    reuse = VectorReuse(store, embedder)
    reusable: dict = {}
    bare_ops = 0
    batch_size = FIRST_EMBED_BATCH
    started_at = time.monotonic()
    state = {"done": done_files, "detail": ""}

    def progress() -> None:
        report(IngestProgress(STAGE, state["done"], total_files, state["detail"], chunks=result.chunks))

    def flush() -> None:
        nonlocal pending_ops, pending_texts, bare_ops, batch_size
        if not pending_ops:
            return
        token.check()
        vectors = vectors_for(embedder, pending_texts, token.check) if pending_texts else None
        token.check()
        store.write_batch(pending_ops, vectors)
        result.chunks += len(pending_texts)
        result.reused += sum(not isinstance(t, str) for t in pending_texts)
        for op in pending_ops:
            if isinstance(op, FileDone):
                state["done"] += 1
        pending_ops, pending_texts, bare_ops = [], [], 0
        batch_size = min(EMBED_BATCH, batch_size * 2)
        if store.seconds_since_save() > SAVE_INDEX_EVERY:
            store.save_index()
        progress()

    def queue_op(cand: Candidate, op: WriteOp, item=None) -> None:
        if hold.holds(cand):
            hold.add(op, item)
            return
        pending_ops.append(op)
        if item is not None:
            pending_texts.append(item)

    def unhold() -> None:
        ops, items = hold.release()
        pending_ops.extend(ops)
        pending_texts.extend(items)

    progress()
    producer.start()
    try:
        while True:
            try:
                # Don't let a slow parser idle the embedder: embed what we have.
                timeout = 0.05 if len(pending_texts) >= MIN_EMBED_BATCH else 0.5
                item = producer.queue.get(timeout=timeout)
            except queue.Empty:
                token.check()
                if len(pending_texts) >= MIN_EMBED_BATCH:
                    flush()
                continue
            if item is _END:
                break
            cand = item.cand
            if isinstance(item, _Start):
                token.check()
                state["detail"] = cand.path
                reusable = reuse.of(cand.known)   # read before the file's old passages go
                hold.start(cand)
                queue_op(cand, FileStart(cand.path, cand.source_id))
            elif isinstance(item, _Chunks):
                title = document_title(cand.path)
                for chunk in item.chunks:
                    text = embed_text(title, chunk.section, chunk.text)
                    queue_op(cand, ChunkOp(cand.path, chunk), reusable.get(text, text))
                if hold.holds(cand) and hold.full:   # too large to hold: it streams from here
                    unhold()
            elif isinstance(item, _Done):
                queue_op(cand, FileDone(cand.path, item.size, item.mtime_ns, item.sha256, item.parser_version))
                unhold()
                reusable = {}
                if cand.known is None or cand.known.status == "failed":
                    result.added += 1
                elif cand.known.sha256 == item.sha256:
                    result.reparsed += 1
                else:
                    result.updated += 1
            elif isinstance(item, _Failed):
                token.check()
                if hold.holds(cand):
                    hold.release()   # its old passages go with the failure, as for any file that fails
                reusable = {}
                pending_ops.append(FileFailed(cand.path, cand.source_id, item.reason, cand.size, cand.mtime_ns,
                                              item.parser_version))
                result.failed.append((cand.path, item.reason))
                state["done"] += 1
                bare_ops += 1
                state["detail"] = cand.path
            elif isinstance(item, _Unchanged):
                pending_ops.append(FileUnchanged(cand.path, cand.source_id, item.size, item.mtime_ns))
                result.unchanged += 1
                state["done"] += 1
                bare_ops += 1
            if len(pending_texts) >= batch_size or bare_ops >= MAX_BARE_OPS:
                flush()
            else:
                progress()
        if producer.error is not None:
            raise producer.error
        flush()
    except Cancelled:
        result.cancelled = True
        raise
    finally:
        stop.set()
        _drain(producer)
        producer.join()
        result.seconds += time.monotonic() - started_at
        try:
            store.save_index()
        except Exception:  # never mask the real outcome; the next open repairs it
            log.exception("saving the vector index failed")
    return result


def _drain(producer: _Producer) -> None:
    while True:
        try:
            producer.queue.get_nowait()
        except queue.Empty:
            if not producer.is_alive():
                return
            producer.join(timeout=0.05)
            if not producer.is_alive():
                return
