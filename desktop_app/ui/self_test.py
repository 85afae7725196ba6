"""``--self-test``: open the real window, let its startup jobs run (library
status, model catalog), report what failed, close. Exit 0 when all is well."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QTimer

log = logging.getLogger(__name__)


def run_self_test(gui, timeout_ms: int = 120000) -> int:
    problems: list[str] = []
    window = gui.window

    def collect(job) -> None:
        if job.state == "failed":
            problems.append(f"{job.title}: {job.message}")

    gui.jobs.jobEnded.connect(collect)

    def finish() -> None:
        if not window.isVisible():
            problems.append("the window did not stay open")
        if gui.jobs.running():
            problems.append("startup jobs did not finish in time")
        gui.app.quit()

    done = []

    def on_idle() -> None:
        if not done:
            done.append(True)
            QTimer.singleShot(200, finish)

    gui.jobs.idle.connect(on_idle)
    QTimer.singleShot(timeout_ms, finish)
    gui.app.exec()
    for problem in problems:
        print(f"self-test: {problem}", file=sys.stderr)
    print("self-test: " + ("ok" if not problems else "FAILED"), file=sys.stderr)
    return 0 if not problems else 1
