"""The one adapter between core jobs and Qt.

A core job is a plain function ``fn(*, token, report)``. ``JobManager.start``
runs it on a pool thread and re-emits what happens as signals of a ``Job``
object that lives in the GUI thread (``progressed``, ``finished``, ``failed``,
``cancelled``). Signals emitted from the pool thread reach GUI-thread slots as
queued calls, so widgets and item models only ever change in the GUI thread.

Jobs run in *lanes*: one thread each for the loaded LLM ("llm": load and
generate go through one owner) and for the library ("library": the index has
a single writer), and a small shared pool for the model workshop ("work").

Cancelling sets the job's ``CancelToken`` directly from the calling thread,
so a busy worker sees it at its next ``token.check()``; nothing is ever
terminated.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from desktop_app.core.jobs import CancelToken, Cancelled, Progress, RateLimitedReport

log = logging.getLogger(__name__)

LANES = {"llm": 1, "library": 1, "search": 1, "work": 2}

# How much lower than the UI thread a job thread runs (a Linux nice value).
# Measured with ``bench/ui_stall.py --trace``: with indexing, an answer and a
# quantize running on 2 cores, the GUI thread's 100-300 ms stalls were time
# it sat runnable but off the CPU (the onnxruntime, llama.cpp and quantize
# threads at the same priority), not time it spent working or holding a lock.
BACKGROUND_NICE = 10

_thread_state = threading.local()


def yield_cpu_to_ui() -> None:
    """Lower the calling job thread's CPU priority, once per thread.

    Threads and child processes started from it afterwards inherit it on
    Linux (the onnxruntime pool, llama.cpp's threads, the llama-quantize
    child), so the UI thread gets a CPU as soon as it wakes up. Work still
    runs at full speed when the UI is idle: nice shares the CPU, it does not
    cap it."""
    if getattr(_thread_state, "lowered", False):
        return
    _thread_state.lowered = True
    if sys.platform.startswith("linux"):
        try:  # per-thread on Linux: the pid argument is the thread id
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           min(19, os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICE))
        except OSError as exc:
            log.debug("could not lower a job thread's priority: %s", exc)
    else:  # Windows and macOS map Qt's priorities onto their own
        QThread.currentThread().setPriority(QThread.Priority.LowPriority)


def user_message(exc: BaseException) -> str:
    """A short message a user can act on; the traceback goes to the log."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename or exc}"
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename or exc}"
    if isinstance(exc, MemoryError):
        return "Not enough memory for this job."
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:400]


class Job(QObject):
    """One running (or ended) job as the UI sees it. Lives in the GUI thread."""

    progressed = Signal(object)   # Progress
    finished = Signal(object)     # the job function's return value
    failed = Signal(str)          # a user-facing message
    cancelled = Signal()
    ended = Signal()              # after any of the three above
    stateChanged = Signal()       # paused/resumed/ended: for buttons

    # Raw signals the pool thread emits; the GUI-thread slots below turn them
    # into the public ones after updating the job's own state.
    _progress_from_worker = Signal(object)
    _result_from_worker = Signal(str, object)

    def __init__(self, title: str, kind: str, *, pausable: bool = False, quiet: bool = False,
                 unit: str = "", parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.unit = unit  # what progress.done counts, for the rate ("files", "tensors")
        self.title = title
        self.kind = kind
        self.pausable = pausable
        self.quiet = quiet  # short housekeeping jobs stay out of the job panel
        self.token = CancelToken()
        self.state = "running"          # running | finished | failed | cancelled
        self.message = ""
        self.result: Any = None
        self.progress: Optional[Progress] = None
        self.started_at = time.monotonic()
        self._stage_started: tuple[str, float, int] = ("", self.started_at, 0)
        self.rate: Optional[float] = None   # units (progress.done) per second
        self._outcome: Optional[tuple[str, Any]] = None  # set by the worker, see JobManager.wait
        self._progress_from_worker.connect(self._on_progress)
        self._result_from_worker.connect(self._on_result)

    # -- control (GUI thread) ------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def paused(self) -> bool:
        return self.token.paused

    def cancel(self) -> None:
        if self.running:
            self.token.cancel()
            self.stateChanged.emit()

    def pause(self) -> None:
        if self.running and self.pausable:
            self.token.pause()
            self.stateChanged.emit()

    def resume(self) -> None:
        self.token.resume()
        # Restart the rate measurement: the pause is not work time.
        if self.progress is not None:
            self._stage_started = (self.progress.stage, time.monotonic(), self.progress.done)
        self.stateChanged.emit()

    # -- derived figures for the panel -------------------------------------
    @property
    def eta_seconds(self) -> Optional[float]:
        p = self.progress
        if p is None or not p.total or not self.rate or self.rate <= 0:
            return None
        return max(0.0, (p.total - p.done) / self.rate)

    def status_text(self) -> str:
        if self.state == "failed":
            return f"Failed: {self.message}"
        if self.state == "cancelled":
            return "Cancelled"
        if self.state == "finished":
            return self.message or "Done"
        if self.token.cancelled:
            return "Stopping…"
        p = self.progress
        if p is None:
            return "Starting…"
        parts = [p.stage.capitalize()]
        if p.total:
            parts.append(f"{p.done}/{p.total}")
        if p.detail:
            parts.append(p.detail)
        if self.paused:
            parts.append("paused")
        else:
            if self.rate:
                unit = f" {self.unit}" if self.unit else ""
                parts.append(f"{self.rate:.1f}{unit}/s")
            eta = self.eta_seconds
            if eta is not None and p.done:
                parts.append(f"ETA {format_duration(eta)}")
        return " · ".join(parts)

    # -- GUI-thread slots ------------------------------------------------------
    def _on_progress(self, progress: Progress) -> None:
        if not self.running:
            return
        now = time.monotonic()
        stage, since, done0 = self._stage_started
        if progress.stage != stage:
            self._stage_started = (progress.stage, now, progress.done)
            self.rate = None
        elif now - since > 0.5 and progress.done > done0:
            self.rate = (progress.done - done0) / (now - since)
        self.progress = progress
        self.progressed.emit(progress)

    def _on_result(self, outcome: str, value: Any) -> None:
        if self.state != "running":
            return  # already delivered by JobManager.wait() at teardown
        self.state = outcome
        if outcome == "finished":
            self.result = value
            self.finished.emit(value)
        elif outcome == "failed":
            self.message = value
            self.failed.emit(value)
        else:
            self.cancelled.emit()
        self.stateChanged.emit()
        self.ended.emit()


class _JobRunnable(QRunnable):
    def __init__(self, job: Job, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._job = job
        self._fn = fn
        # Keep references: the Job's signals are all the worker touches.
        self._progress = job._progress_from_worker
        self._result = job._result_from_worker
        self._token = job.token
        self._title = job.title

    def run(self) -> None:  # pool thread
        yield_cpu_to_ui()
        report = RateLimitedReport(self._progress.emit, per_second=10.0)
        try:
            self._token.check()
            value = self._fn(token=self._token, report=report)
        except Cancelled:
            log.info("job %r cancelled", self._title)
            outcome = ("cancelled", None)
        except Exception as exc:  # a job error is a message, never a crash
            log.exception("job %r failed", self._title)
            outcome = ("failed", user_message(exc))
        else:
            outcome = ("finished", value)
        # Recorded for JobManager.wait(): at teardown the GUI thread blocks on
        # the pool, so the queued signal below is delivered only afterwards.
        self._job._outcome = outcome
        self._result.emit(*outcome)


class JobManager(QObject):
    """Starts jobs in lanes and keeps the list the job panel shows."""

    jobStarted = Signal(object)   # Job
    jobEnded = Signal(object)     # Job
    jobRemoved = Signal(object)   # Job, about to be deleted
    idle = Signal()               # no job running any more

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._pools: dict[str, QThreadPool] = {}
        for lane, threads in LANES.items():
            pool = QThreadPool(self)
            pool.setMaxThreadCount(threads)
            # Many jobs do native work (llama.cpp, torch) with big stacks.
            pool.setStackSize(16 * 1024 * 1024)
            self._pools[lane] = pool
        self.jobs: list[Job] = []
        self._closed = False

    def start(self, title: str, fn: Callable[..., Any], *, lane: str = "work",
              kind: str = "", pausable: bool = False, quiet: bool = False,
              unit: str = "") -> Job:
        job = Job(title, kind or lane, pausable=pausable, quiet=quiet, unit=unit, parent=self)
        if self._closed:
            # Shutting down: a job asked for now (e.g. a status refresh after
            # a cancelled ingest) never runs; it is born cancelled.
            job.token.cancel()
            job.state = "cancelled"
            return job
        self.jobs.append(job)
        job.ended.connect(lambda: self._on_ended(job))
        self.jobStarted.emit(job)
        self._pools[lane].start(_JobRunnable(job, fn))
        return job

    def running(self, kind: Optional[str] = None) -> list[Job]:
        return [j for j in self.jobs if j.running and (kind is None or j.kind == kind)]

    def cancel_all(self) -> None:
        for job in self.running():
            job.cancel()

    def forget_ended(self) -> None:
        for job in [j for j in self.jobs if not j.running]:
            self._remove(job)

    def _remove(self, job: Job) -> None:
        self.jobs.remove(job)
        self.jobRemoved.emit(job)
        job.deleteLater()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the pools are empty. Only for teardown (tests, the
        end of ``run_gui``): the GUI never waits on a worker while it runs."""
        deadline = time.monotonic() + msecs / 1000
        ok = True
        for pool in self._pools.values():
            left = max(0, int((deadline - time.monotonic()) * 1000))
            ok = pool.waitForDone(left) and ok
        # The results of jobs that ended while we blocked are still queued:
        # deliver them now so that no job reads "running" after teardown.
        for job in list(self.jobs):
            outcome = job._outcome
            if job.running and outcome is not None:
                job._on_result(*outcome)
        return ok

    def shutdown(self, msecs: int = 30000) -> bool:
        self._closed = True
        self.cancel_all()
        return self.wait(msecs)

    def _on_ended(self, job: Job) -> None:
        self.jobEnded.emit(job)
        finished = [j for j in self.jobs if not j.running]
        # Keep the panel short: only the last few ended jobs stay listed.
        for old in finished[:-8]:
            self._remove(old)
        if not self.running():
            self.idle.emit()


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
