"""The Jobs panel shows what matters (issue 14, item 5): running jobs first,
chat answers not listed, finished jobs leave by themselves, the panel
collapses when idle, and the Models page shows its own jobs' progress. Real
JobManager jobs on its pools; their work is a wait for the test's go."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.jobs import Progress
from desktop_app.ui.widgets import jobs as jobs_widget


def _job_until(event: threading.Event, stage: str = "working"):
    def job(*, token, report):
        report(Progress(stage, 1, 10, "step"))
        while not event.wait(0.02):
            token.check()
        return "ok"

    return job


@pytest.fixture
def quick_linger(monkeypatch):
    monkeypatch.setattr(jobs_widget, "FINISHED_LINGER_MS", 300)


def test_running_jobs_are_listed_first_and_finished_ones_leave(qtbot, window, quick_linger):
    panel, jobs = window.job_panel, window.jobs
    done_soon, long_one, later = threading.Event(), threading.Event(), threading.Event()
    first = jobs.start("Quick job", _job_until(done_soon), lane="work", kind="test")
    running = jobs.start("Long job", _job_until(long_one), lane="library", kind="ingest")
    qtbot.waitUntil(window.job_dock.isVisible, timeout=5000)
    done_soon.set()
    qtbot.waitUntil(lambda: not first.running, timeout=10000)
    # The finished job moved below the running one.
    assert [r.job for r in panel.ordered_rows()][:2] == [running, first]
    third = jobs.start("Another long job", _job_until(later), lane="search", kind="evaluate")
    order = [r.job for r in panel.ordered_rows()]
    assert order.index(third) < order.index(first) and order.index(running) < order.index(first)
    # The finished one goes away by itself; the running ones stay.
    qtbot.waitUntil(lambda: panel.row_for(first) is None, timeout=5000)
    assert panel.row_for(running) is not None and panel.row_for(third) is not None
    long_one.set()
    later.set()
    # Once everything has ended and gone, the panel collapses.
    qtbot.waitUntil(lambda: not panel.rows, timeout=10000)
    assert not window.job_dock.isVisible()


def test_a_failed_job_stays_until_cleared(qtbot, window, quick_linger):
    def failing(*, token, report):
        raise ValueError("the file is not a model")

    job = window.jobs.start("Adding models", failing, lane="work", kind="catalog-add")
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    row = window.job_panel.row_for(job)
    qtbot.wait(600)
    assert window.job_panel.row_for(job) is row and "not a model" in row.status.text()
    qtbot.mouseClick(window.job_panel.clear_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.job_panel.row_for(job) is None, timeout=5000)
    assert not window.job_dock.isVisible()


def test_chat_answers_are_not_listed_as_jobs(qtbot, window):
    job = window.chat.ask("What is 2 + 3?")
    assert job is not None
    assert window.job_panel.row_for(job) is None
    assert window.jobs_status.text() == ""      # not "1 job running"
    window.chat.stop()
    qtbot.waitUntil(lambda: not job.running, timeout=240000)


def test_the_models_page_shows_its_own_jobs(qtbot, window):
    window.show_page(2)
    page = window.models_page
    go = threading.Event()
    job = window.jobs.start("Evaluating a model", _job_until(go, "perplexity"), lane="work",
                            kind="evaluate")
    qtbot.waitUntil(lambda: page.job_list.isVisible(), timeout=5000)
    row = page.job_list.row_for(job)
    qtbot.waitUntil(lambda: "Perplexity" in row.status.text(), timeout=5000)
    assert row.cancel_button.isVisible()
    # A library job is not the Models page's business.
    other = threading.Event()
    ingest = window.jobs.start("Indexing", _job_until(other), lane="library", kind="ingest")
    assert page.job_list.row_for(ingest) is None
    go.set()
    other.set()
    qtbot.waitUntil(lambda: not job.running and not ingest.running, timeout=10000)


def test_the_status_bar_says_paused(qtbot, window):
    go = threading.Event()
    job = window.jobs.start("Indexing", _job_until(go), lane="library", kind="ingest", pausable=True)
    qtbot.waitUntil(lambda: window.jobs_status.text() == "1 job running", timeout=5000)
    job.pause()
    assert window.jobs_status.text() == "1 paused"
    job.resume()
    go.set()
    qtbot.waitUntil(lambda: not job.running, timeout=10000)
    assert window.jobs_status.text() == ""
