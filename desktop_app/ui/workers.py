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
from desktop_app.core.logs import user_text

log = logging.getLogger(__name__)

# "rebuild": a re-index after a change of the index settings builds a new
# library alongside (core/library/reindex.py) while adds go on in "library".
LANES = {"llm": 1, "library": 1, "search": 1, "work": 2, "rebuild": 1}

# How much lower than the UI thread the jobs' *native* threads run (a Linux
# nice value): the onnxruntime and OpenMP (llama.cpp) pools and the quantize
# child process. Measured with ``bench/ui_stall.py --trace``: at the UI's
# priority they kept the GUI thread runnable but off the CPU for 100-300 ms.
#
# The jobs' *Python* threads stay at the UI's priority. They hold the GIL in
# turns with the GUI thread, and a GIL holder at nice +10 (or +19, as the
# threads it started inherited +10 again) that another program's process
# pushes off the CPU keeps the GIL, and so the UI, waiting until it runs
# again: 100-230 ms stalls (bench/stall_watch.py; a spinning nice +10 Python
# thread next to two busy processes stalls a 5 ms timer by up to 136 ms, at
# nice 0 by 24 ms).
BACKGROUND_NICE = 10

# A job thread's OS name, inherited by every thread it starts (Linux copies
# the name on clone): how a native pool's threads are told apart from Qt's
# own threads, which must keep the UI's priority.
JOB_THREAD_NAME = b"hearth-job"
_RENICE_EVERY_S = 0.5
_MIN_AGE_S = 0.2

_thread_state = threading.local()
# Native ids of the threads that run jobs (Python threads: never lowered).
# Process-wide like the OS threads it names; changed under the GIL only.
_job_threads: set[int] = set()


def name_job_thread() -> None:
    """Give the calling job thread the OS name native threads inherit."""
    # Known by id, not through threading.enumerate(): a Qt pool thread is a
    # "dummy" thread there, and a new pool thread that reuses a dead one's
    # ident is handed the dead one's entry, with its old native id.
    _job_threads.add(threading.get_native_id())
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(JOB_THREAD_NAME), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError) as exc:
        log.debug("could not name a job thread: %s", exc)


def lower_native_job_threads() -> int:
    """Lower the CPU priority of the native threads the jobs started (in
    this process: threads named after a job thread that Python does not
    know, i.e. not running Python) and of every thread of every child
    process. Returns how many threads were lowered. Linux only; elsewhere
    job threads ask Qt for a low priority instead (see ``yield_cpu_to_ui``)."""
    if not sys.platform.startswith("linux"):
        return 0
    target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + BACKGROUND_NICE)
    tasks = _task_ids(os.getpid())
    _job_threads.intersection_update(tasks)   # forget ended ones
    python_threads = {t.native_id for t in threading.enumerate()} | _job_threads
    lowered = 0
    for tid in tasks:
        if tid in python_threads or _thread_name(os.getpid(), tid) != JOB_THREAD_NAME:
            continue
        # A thread this young may be a Python or Qt thread that has not yet
        # registered or taken its own name: left for the next sweep.
        if _age_s(os.getpid(), tid) < _MIN_AGE_S:
            continue
        lowered += _lower(tid, target)
    try:
        import psutil

        children = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - best effort: a child may just have ended
        children = []
    for child in children:
        for tid in _task_ids(child.pid):
            lowered += _lower(tid, target)
    return lowered


def _task_ids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _thread_name(pid: int, tid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm", "rb") as f:
            return f.read().strip()
    except OSError:
        return b""


def _age_s(pid: int, tid: int) -> float:
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
            started = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22: start time
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - started / os.sysconf("SC_CLK_TCK")


def _lower(tid: int, target: int) -> int:
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) >= target:
            return 0
        os.setpriority(os.PRIO_PROCESS, tid, target)  # per thread on Linux
        return 1
    except OSError:  # ended meanwhile, or not ours to change
        return 0


def yield_cpu_to_ui() -> None:
    """Prepare the calling job thread: on Linux, name it so the native
    threads it starts can be lowered (``lower_native_job_threads``) while it
    keeps the UI's priority; elsewhere, ask Qt to lower the thread itself
    (Windows and macOS map Qt's priorities onto their own)."""
    if getattr(_thread_state, "prepared", False):
        return
    _thread_state.prepared = True
    if sys.platform.startswith("linux"):
        name_job_thread()
    else:
        QThread.currentThread().setPriority(QThread.Priority.LowPriority)


class _RenicingReport:
    """A job's report callable that also lowers newly started native threads,
    at most every ``_RENICE_EVERY_S`` (a model's threads start inside a
    load, a quantize child inside its job)."""

    def __init__(self, report: Callable[[Progress], None]) -> None:
        self._report = report
        self._next = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _RENICE_EVERY_S
            lower_native_job_threads()
        self._report(progress)


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
        self._title = job.title  # may quote a question (see the log policy)
        self._kind = job.kind

    def run(self) -> None:  # pool thread
        yield_cpu_to_ui()
        report = _RenicingReport(RateLimitedReport(self._progress.emit, per_second=10.0))
        try:
            self._token.check()
            value = self._fn(token=self._token, report=report)
        except Cancelled:
            log.info("job %s %r cancelled", self._kind, user_text(self._title))
            outcome = ("cancelled", None)
        except Exception as exc:  # a job error is a message, never a crash
            log.exception("job %s %r failed", self._kind, user_text(self._title))
            outcome = ("failed", user_message(exc))
        else:
            outcome = ("finished", value)
        # Whatever native threads the job started and keeps (a model's or
        # the embedder's pools) run below the UI from now on.
        lower_native_job_threads()
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

    def forget(self, job: Job) -> None:
        """Drop an ended job from the list (the panel's row goes with it)."""
        if job in self.jobs and not job.running:
            self._remove(job)

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
