"""One writer per library across processes: an advisory ``flock`` on a lock
file in the library dir.

Two windows, or the window and the CLI, may open the same library. SQLite
serializes their transactions, but an ingest is many transactions plus an
in-memory vector index saved now and then: interleaved, two writers lose
vectors and duplicate passages. So every writer (add, remove, the index
save) holds this lock; a second writer waits, saying which process holds
it. Readers (search, status) never take it: SQLite's WAL lets them read
while a writer runs.

``flock`` is released by the kernel when the holder dies (``kill -9``
included), so a crash never leaves the library locked. The holder writes
its pid and command line into the file so the waiter can name it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from desktop_app.core.jobs import CancelToken

log = logging.getLogger(__name__)

LOCK_NAME = "writer.lock"
POLL_SECONDS = 0.2


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)


class WriterLock:
    """Re-entrant within a process (the store's own lock orders threads);
    exclusive between processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mutex = threading.Lock()
        self._fd: Optional[int] = None
        self._depth = 0
        self._last_release: list[Callable[[], None]] = []

    def on_last_release(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` whenever this process is about to let go of the
        lock (its holders in this process are all done): whatever may only
        be written under the lock is put away there (``bm25_index``)."""
        self._last_release.append(hook)

    @property
    def held(self) -> bool:
        return self._depth > 0

    def holder(self) -> str:
        """Who holds the lock, as a user can recognize it."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        first, _, rest = text.partition("\n")
        if first.strip().isdigit():
            pid = int(first)
            command = _command_line(pid) or rest.strip() or "unknown command"
            return f"pid {pid} ({command})"
        return "another process"

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _try(self) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Tell a waiter who we are; best effort (the lock itself is what counts).
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{' '.join(sys.argv)}\n".encode("utf-8", "replace"), 0)
        except OSError:
            pass
        return True

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._depth:
                self._depth += 1
                return True
            if self._try():
                self._depth = 1
                return True
            return False

    def acquire(self, token: Optional[CancelToken] = None,
                on_wait: Optional[Callable[[str], None]] = None) -> None:
        """Block until this process holds the lock; ``token`` stops the wait
        (raises Cancelled). ``on_wait`` is told once, with a sentence naming
        the holder, when the lock is busy."""
        told = False
        while not self.try_acquire():
            if not told:
                message = (f"the library is being changed by another Hearth process, {self.holder()}; "
                           "waiting for it to finish")
                log.warning("%s", message)
                if on_wait is not None:
                    on_wait(message)
                told = True
            if token is not None:
                token.check()
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        with self._mutex:
            if self._depth == 0:
                return
            if self._depth == 1:
                for hook in self._last_release:
                    try:
                        hook()
                    except Exception:  # the lock is released whatever a hook does
                        log.exception("while releasing the writer lock")
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextmanager
    def hold(self, token: Optional[CancelToken] = None,
             on_wait: Optional[Callable[[str], None]] = None) -> Iterator[None]:
        self.acquire(token, on_wait)
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                if self._depth:
                    for hook in self._last_release:
                        try:
                            hook()
                        except Exception:
                            log.exception("while closing the writer lock")
                os.close(self._fd)   # closing drops the flock too
                self._fd = None
                self._depth = 0
