"""The job adapter on its own: progress arrives in the GUI thread, results,
user-facing errors, pause/resume and cancel through the token."""

from __future__ import annotations

import threading
import time

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
