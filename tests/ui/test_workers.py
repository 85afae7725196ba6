"""The job adapter on its own: progress arrives in the GUI thread, results,
user-facing errors, pause/resume and cancel through the token."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

from desktop_app.core.jobs import Progress
from desktop_app.ui.workers import JobManager


def _counting_job(n: int, gui_thread, seen_threads):
    def job(*, token, report):
        for i in range(n):
            token.check()
            seen_threads.add(threading.get_ident())
            report(Progress("counting", i + 1, n, f"item {i}"))
            time.sleep(0.01)
        return n
    return job


def test_progress_and_result_arrive_in_the_gui_thread(qtbot):
    jobs = JobManager()
    gui = threading.get_ident()
    worker_threads: set[int] = set()
    received = []
    job = jobs.start("Counting", _counting_job(30, gui, worker_threads), unit="items")
    job.progressed.connect(lambda p: received.append((p, threading.get_ident())))
    with qtbot.waitSignal(job.finished, timeout=10000) as done:
        pass
    assert done.args == [30]
    assert gui not in worker_threads, "the job ran on the GUI thread"
    assert received and all(thread == gui for _p, thread in received)
    assert job.progress.done == 30 and job.state == "finished"
    assert jobs.wait(5000)


def test_failure_is_a_message_and_cancel_and_pause_work(qtbot):
    jobs = JobManager()

    def broken(*, token, report):
        raise FileNotFoundError(2, "No such file", "/nowhere/x.pdf")

    failing = jobs.start("Broken", broken)
    with qtbot.waitSignal(failing.failed, timeout=10000) as failed:
        pass
    assert failed.args[0] == "File not found: /nowhere/x.pdf"
    assert "Traceback" not in failing.status_text()

    def endless(*, token, report):
        i = 0
        while True:
            token.check()
            i += 1
            report(Progress("working", i, None))
            time.sleep(0.005)

    job = jobs.start("Endless", endless, pausable=True)
    qtbot.waitUntil(lambda: job.progress is not None, timeout=10000)
    job.pause()
    assert job.paused and "paused" in job.status_text()
    qtbot.wait(200)
    frozen = job.progress.done
    qtbot.wait(300)
    assert job.progress.done == frozen, "a paused job kept working"
    job.resume()
    qtbot.waitUntil(lambda: job.progress.done > frozen, timeout=10000)
    with qtbot.waitSignal(job.cancelled, timeout=10000):
        job.cancel()
    assert job.state == "cancelled" and not jobs.running()
    assert jobs.wait(5000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_native_threads_of_a_job_run_below_the_ui_but_its_python_threads_do_not(qtbot):
    """A job's native threads (a model's compute pool, a child process) run
    at a lower priority than the UI; its Python threads, which take turns
    with the UI thread for the GIL, keep the UI's priority (a GIL holder
    pushed off the CPU would stall the window)."""
    ui_nice = os.getpriority(os.PRIO_PROCESS, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    seen: dict[str, int] = {}

    def job(*, token, report):
        # A real native thread Python knows nothing of (as onnxruntime's and
        # OpenMP's are): libc's sleep(1) run by pthread_create.
        native = ctypes.c_ulong()
        assert libc.pthread_create(ctypes.byref(native), None,
                                   ctypes.cast(libc.sleep, ctypes.c_void_p), ctypes.c_void_p(1)) == 0
        native_tid = _newest_thread_named(b"hearth-job", exclude={t.native_id for t in threading.enumerate()})
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
        helper = threading.Thread(target=time.sleep, args=(1.0,))
        helper.start()
        time.sleep(0.3)   # older than a sweep's minimum age
        for i in range(6):
            report(Progress("working", i, 6))
            time.sleep(0.1)
        seen["native"] = os.getpriority(os.PRIO_PROCESS, native_tid)
        seen["child"] = os.getpriority(os.PRIO_PROCESS, child.pid)
        seen["python helper"] = os.getpriority(os.PRIO_PROCESS, helper.native_id)
        seen["job thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        helper.join()
        child.wait()
        libc.pthread_join(native, None)
        return True

    jobs = JobManager()
    started = jobs.start("Native work", job)
    with qtbot.waitSignal(started.finished, timeout=20000):
        pass
    assert seen["native"] > ui_nice and seen["child"] > ui_nice
    assert seen["python helper"] == ui_nice and seen["job thread"] == ui_nice
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ui_nice
    assert jobs.wait(5000)


def _newest_thread_named(name: bytes, exclude: set[int]) -> int:
    pid = os.getpid()
    for _ in range(100):
        candidates = []
        for tid in map(int, os.listdir(f"/proc/{pid}/task")):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm", "rb") as f:
                    if f.read().strip() == name and tid not in exclude:
                        candidates.append(tid)
            except OSError:
                pass
        if candidates:
            return max(candidates)
        time.sleep(0.01)
    raise AssertionError(f"no native thread named {name!r}")
