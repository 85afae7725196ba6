"""The job panel: one row per job with a progress bar, its status (stage,
done/total, current item, rate, ETA), pause/resume where the job supports
it, and cancel."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from desktop_app.ui.workers import Job, JobManager


class JobRow(QFrame):
    def __init__(self, job: Job, parent: Optional[QWidget] = None, *, show_title: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("jobRow")
        self.job = job
        self.title = QLabel(job.title)
        self.title.setStyleSheet("font-weight: 600;")
        self.status = QLabel("Starting…")
        self.status.setObjectName("muted")
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(self.fontMetrics().height() * 0.7)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(job.cancel)
        self.pause_button.setAccessibleName(f"Pause {job.title}")
        self.cancel_button.setAccessibleName(f"Cancel {job.title}")

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.bar)
        text.addWidget(self.status)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 6, 8, 6)
        row.addLayout(text, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        # Only once parented: setVisible(True) on a parentless widget would
        # open it as a window of its own.
        self.title.setVisible(show_title)

        job.progressed.connect(self._refresh)
        job.stateChanged.connect(self._refresh)
        self._refresh()

    def _toggle_pause(self) -> None:
        if self.job.paused:
            self.job.resume()
        else:
            self.job.pause()

    def _refresh(self, *_args) -> None:
        job = self.job
        p = job.progress
        if not job.running:
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if job.state == "finished" else 0)
        elif p is not None and p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self.status.setText(job.status_text())
        self.status.setToolTip(job.status_text())
        self.pause_button.setText("Resume" if job.paused else "Pause")
        self.pause_button.setEnabled(job.running and not job.token.cancelled)
        self.cancel_button.setEnabled(job.running and not job.token.cancelled)
        self.cancel_button.setVisible(job.running)
        self.pause_button.setVisible(job.pausable and job.running)


# A finished or cancelled job stays listed this long, then goes away by
# itself; a failed one stays until the user clears it (its message matters).
FINISHED_LINGER_MS = 6000


class JobPanel(QWidget):
    """The jobs of the ``JobManager``: running ones first (newest first),
    then the ones that just ended. ``kinds`` limits it to those kinds (the
    Models page shows its own jobs); ``compact`` drops the header and the
    empty-state text, for a panel embedded in a page."""

    emptied = Signal()      # no row left
    filled = Signal()       # the first row appeared

    def __init__(self, jobs: JobManager, parent: Optional[QWidget] = None, *,
                 kinds: Optional[set[str]] = None, compact: bool = False) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.kinds = kinds
        self.rows: dict[int, JobRow] = {}
        self._timers: dict[int, QTimer] = {}
        self.empty = QLabel("No jobs running. Indexing, model loading, quantizing and "
                            "evaluating show their progress here.")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setAccessibleName("Clear finished jobs")
        self.clear_button.clicked.connect(self.clear_ended)

        self._list = QVBoxLayout()
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(0)
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.empty)
        outer.addLayout(self._list)
        outer.addStretch(1)
        layout = QVBoxLayout(self)
        if compact:
            self.empty.hide()
            self.clear_button.hide()
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(holder)
        else:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.NoFrame)
            scroll.setWidget(holder)
            top = QHBoxLayout()
            top.addStretch(1)
            top.addWidget(self.clear_button)
            layout.setContentsMargins(6, 0, 6, 6)
            layout.addLayout(top)
            layout.addWidget(scroll)
        self.compact = compact

        jobs.jobStarted.connect(self._add)
        jobs.jobRemoved.connect(self._remove)
        jobs.jobEnded.connect(self._on_ended)
        for job in jobs.jobs:
            self._add(job)
        self._update_empty()

    def row_for(self, job: Job) -> Optional[JobRow]:
        return self.rows.get(id(job))

    def ordered_rows(self) -> list[JobRow]:
        """The rows top to bottom, as the user sees them."""
        rows = []
        for i in range(self._list.count()):
            widget = self._list.itemAt(i).widget()
            if isinstance(widget, JobRow):
                rows.append(widget)
        return rows

    def _shows(self, job: Job) -> bool:
        return not job.quiet and (self.kinds is None or job.kind in self.kinds)

    def _add(self, job: Job) -> None:
        if not self._shows(job) or id(job) in self.rows:
            return
        was_empty = not self.rows
        row = JobRow(job)
        self.rows[id(job)] = row
        self._list.insertWidget(0, row)
        if not job.running:
            self._on_ended(job)
        self._update_empty()
        if was_empty:
            self.filled.emit()

    def _on_ended(self, job: Job) -> None:
        row = self.rows.get(id(job))
        if row is None:
            return
        # Below every running job, above the older ended ones.
        self._list.removeWidget(row)
        running = sum(1 for r in self.ordered_rows() if r.job.running)
        self._list.insertWidget(running, row)
        if job.state != "failed":
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(FINISHED_LINGER_MS)
            timer.timeout.connect(lambda j=job: self._expire(j))
            timer.start()
            self._timers[id(job)] = timer
        self._update_empty()

    def _expire(self, job: Job) -> None:
        self._timers.pop(id(job), None)
        if id(job) in self.rows and job in self.jobs.jobs:
            self.jobs.forget(job)

    def clear_ended(self) -> None:
        for row in list(self.rows.values()):
            if not row.job.running and row.job in self.jobs.jobs:
                self.jobs.forget(row.job)

    def _remove(self, job: Job) -> None:
        timer = self._timers.pop(id(job), None)
        if timer is not None:
            timer.stop()
        row = self.rows.pop(id(job), None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        self._update_empty()
        if row is not None and not self.rows:
            self.emptied.emit()

    def _update_empty(self) -> None:
        self.empty.setVisible(not self.rows and not self.compact)
        self.clear_button.setEnabled(any(not r.job.running for r in self.rows.values()))
        if self.compact and self.parentWidget() is not None:  # never a window of its own
            self.setVisible(bool(self.rows))
