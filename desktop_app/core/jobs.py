"""The contract of every long job: progress reports, cancellation.

A job is a plain function that takes ``token: CancelToken`` and
``report: Callable[[Progress], None]``. It calls ``token.check()`` at every
natural boundary (file, batch, tensor, token) and reports small frozen
``Progress`` values. The CLI passes a progress-bar printer, tests pass a
list's ``append``, the GUI passes a signal's ``emit``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional


class Cancelled(Exception):
    """Raised inside a job when its token was cancelled."""


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int = 0
    total: Optional[int] = None  # None: indeterminate
    detail: str = ""

    @property
    def fraction(self) -> Optional[float]:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


Report = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    return None


class CancelToken:
    """Thread-safe cancellation (and pause) flag shared by a job and its owner.

    Setting it is safe from any thread, including the UI thread while the job
    runs elsewhere: that is how a stop request reaches a busy worker.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()  # not paused

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused job must wake up to notice

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pause(self) -> None:
        if not self.cancelled:
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancelled; block here while paused."""
        if not self._running.is_set():
            self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled()


class RateLimitedReport:
    """Wraps a report callable so it is called at most ``per_second`` times.

    The first report, stage changes and the final one (done == total) always
    pass, so a consumer never misses the start or the end of a stage.
    """

    def __init__(self, report: Report, per_second: float = 10.0, clock=time.monotonic) -> None:
        self._report = report
        self._interval = 1.0 / per_second
        self._clock = clock
        self._last_time = float("-inf")
        self._last_stage: Optional[str] = None

    def __call__(self, progress: Progress) -> None:
        now = self._clock()
        final = progress.total is not None and progress.done >= progress.total
        if (
            final
            or progress.stage != self._last_stage
            or now - self._last_time >= self._interval
        ):
            self._last_time = now
            self._last_stage = progress.stage
            self._report(progress)
