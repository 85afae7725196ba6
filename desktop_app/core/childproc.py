"""Child processes that must never outlive Hearth, and the files they leave.

Hearth runs native work that can crash or cannot be interrupted (a quantize
run, the first load of a model file) in a child process. Two promises hold
whatever happens to the parent, kill -9 included:

- the child dies with its parent: ``die_with_parent`` (called first thing in
  the child) asks Linux for SIGKILL when the parent goes
  (``prctl(PR_SET_PDEATHSIG)``) and, for systems without it, also watches
  the parent's pid from a thread;
- a partial output file is recognisably abandoned: ``OwnedPart`` holds an
  advisory lock on it while its owner lives (the kernel drops the lock when
  the owner dies, however it dies), so ``remove_stale_parts`` removes only
  parts nobody owns, never the one a second Hearth is writing right now.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects a live part
    fcntl = None

log = logging.getLogger(__name__)

PARENT_ENV = "HEARTH_PARENT_PID"
PART_SUFFIX = ".hearth-part"
_PR_SET_PDEATHSIG = 1


def child_env() -> dict[str, str]:
    """The environment for a ``python -m desktop_app...`` child: this
    checkout first on the path, unbuffered output, and the parent's pid for
    ``die_with_parent``."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env[PARENT_ENV] = str(os.getpid())
    return env


def die_with_parent() -> None:
    """In a child: end this process when the parent that started it ends.

    The pid comes from the environment (``child_env``) rather than
    ``getppid()`` here, because the parent may already be gone by now (then
    getppid() is the reaper's pid and would look alive)."""
    expected = int(os.environ.get(PARENT_ENV, "0") or 0) or os.getppid()
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        try:
            libc = ctypes.CDLL(libc_name, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != expected:  # the parent died before prctl took effect
        os._exit(3)

    def watch() -> None:
        # The fallback where prctl is missing; cheap (one syscall a second).
        # os._exit works even while the main thread is inside a native call
        # (ctypes releases the GIL around it).
        while True:
            time.sleep(1.0)
            if os.getppid() != expected:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class OwnedPart:
    """A hidden temporary output next to ``out``, locked while we own it.

    The lock is on an open descriptor of the part itself (``flock``): the
    child or the writer may truncate and rewrite the file by name, the lock
    stays with the inode and is released by the kernel when this process
    ends, normally or not."""

    def __init__(self, out: Path) -> None:
        out = Path(out)
        remove_stale_parts(out.parent)
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=PART_SUFFIX)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd
        self.path = Path(name)

    def release(self, *, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        if self._fd >= 0:
            os.close(self._fd)  # also drops the lock
            self._fd = -1


def _unowned(path: Path) -> bool:
    if fcntl is None:
        return True  # deleting it fails while its owner has it open
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False  # a live owner holds it
    finally:
        os.close(fd)


def remove_stale_parts(folders: "Path | Iterable[Path]") -> list[Path]:
    """Delete ``.*.hearth-part`` files in ``folders`` whose owner is gone.
    Returns what was removed (also logged)."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [Path(folders)]
    removed = []
    for folder in folders:
        try:
            candidates = [p for p in Path(folder).glob(f".*{PART_SUFFIX}") if p.is_file()]
        except OSError:
            continue
        for part in candidates:
            if _unowned(part):
                try:
                    part.unlink()
                except PermissionError:
                    continue  # in use (Windows)
                except OSError as exc:
                    log.warning("could not remove the abandoned partial file %s: %s", part, exc)
                    continue
                log.info("removed an abandoned partial file %s", part)
                removed.append(part)
    return removed
