"""Owns the library's jobs (add, remove, refresh, search) and keeps the
folders in sync while the app runs.

Every call into the core runs on the "library" lane (the index has a single
writer); results come back as signals in the GUI thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from desktop_app.core.jobs import Progress
from desktop_app.ui.workers import Job, JobManager

log = logging.getLogger(__name__)

SYNC_DEBOUNCE_MS = 2000
SYNC_PERIOD_MS = 5 * 60 * 1000
MAX_WATCHED_DIRS = 2000


def ingest_summary(report) -> str:
    """One line about what an ingest did, from whatever the report carries."""
    if report is None:
        return "Done"
    if hasattr(report, "summary") and callable(report.summary):
        try:
            return str(report.summary())
        except Exception:  # summary is a nicety: fall back to the counts
            pass
    parts = []
    for name, label in (("added", "added"), ("updated", "updated"), ("unchanged", "unchanged"),
                        ("skipped", "unchanged"), ("removed", "removed"), ("failed", "failed"),
                        ("chunks", "passages")):
        value = getattr(report, name, None)
        if value is None:
            continue
        count = len(value) if isinstance(value, (list, tuple, dict, set)) else value
        if isinstance(count, int) and count:
            parts.append(f"{count} {label}")
    return ", ".join(parts) if parts else "Up to date"


def _watch_dirs(roots: list[str], limit: int = MAX_WATCHED_DIRS) -> list[str]:
    dirs: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for current, subdirs, _files in os.walk(root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            dirs.append(current)
            if len(dirs) >= limit:
                return dirs
    return dirs


class LibraryController(QObject):
    statusChanged = Signal(object)          # Library.status()
    statusFailed = Signal(str)
    ingestStarted = Signal(object)        # Job (add or refresh)
    ingestFinished = Signal(str)          # summary line
    searchFinished = Signal(str, object)    # query, [Hit]
    searchFailed = Signal(str)
    filesListed = Signal(str, object)       # folder path, [LibraryFile]
    filesFailed = Signal(str, str)          # folder path, message
    errorRaised = Signal(str)             # anything else the user must know

    def __init__(self, services, jobs: JobManager, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.services = services
        self.jobs = jobs
        self.status: dict = {"folders": []}
        self._search_job: Optional[Job] = None
        self._pending_search: Optional[tuple[str, int]] = None
        self._sync_pending = False
        self._resume_pending = False
        self._reread_pending = False
        # A pending re-index starts by itself once per launch and after each
        # change of the index settings (not again and again after a failure).
        self._reindex_wanted = True
        self._watcher: Optional[QFileSystemWatcher] = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SYNC_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.sync_now)
        self._period = QTimer(self)
        self._period.setInterval(SYNC_PERIOD_MS)
        self._period.timeout.connect(self.sync_now)

    # -- status ---------------------------------------------------------------
    def refresh_status(self) -> Job:
        job = self.jobs.start("Reading the library", self._status_job, lane="library",
                              kind="library-status", quiet=True)
        job.finished.connect(self._on_status)
        job.failed.connect(self.statusFailed)
        return job

    def _status_job(self, *, token, report):
        status = self.services.library.status()
        folders = [f.get("path") for f in status.get("folders", []) if f.get("path")]
        status["_watch_dirs"] = _watch_dirs(folders) if self.services.settings.watch_folders else []
        return status

    def _on_status(self, status: dict) -> None:
        watch = status.pop("_watch_dirs", [])
        self.status = status
        self._rewatch(watch)
        self.statusChanged.emit(status)
        if self._resume_pending:
            self._resume_pending = False
            self._resume(status)
        if self._reread_pending:
            self._reread_pending = False
            self._reread(status)
        if (self._reindex_wanted and status.get("reindex", {}).get("needed")
                and not self.jobs.running("reindex")):
            self._reindex_wanted = False
            self.reindex()

    # -- index settings -----------------------------------------------------
    def index_settings_changed(self) -> None:
        """The passage size or the embedder backend changed: re-index
        alongside if the library needs it (the status says)."""
        self._reindex_wanted = True
        for job in self.jobs.running("reindex"):
            job.cancel()    # it builds for the old values; its end starts the new one
        self.refresh_status()

    def reindex(self) -> Optional[Job]:
        """Bring the library to the index settings; search keeps using the
        current index until the new one is complete (core/library/reindex.py)."""
        if self.jobs.running("reindex"):
            return None
        library = lambda: self.services.library  # noqa: E731 (built on the worker)

        def reindex_job(*, token, report):
            from desktop_app.core.library.reindex import reindex

            return reindex(library(), token=token, report=report)

        changes = self.status.get("reindex", {}).get("changes") or []
        title = "Re-indexing the library" + (f" ({'; '.join(changes)})" if changes else "")
        job = self.jobs.start(title, reindex_job, lane="rebuild", kind="reindex", pausable=True)
        job.finished.connect(lambda result: self.ingestFinished.emit(result.summary()))
        job.failed.connect(lambda message: self.errorRaised.emit(f"Re-indexing stopped: {message}"))
        job.ended.connect(self.refresh_status)
        return job

    def resume_interrupted(self) -> Optional[Job]:
        """At launch: finish the indexing a quit, crash or cancel left
        incomplete (the quit dialog promises it), once the status is known."""
        if self.status.get("folders"):
            return self._resume(self.status)
        self._resume_pending = True
        return None

    def _resume(self, status: dict) -> Optional[Job]:
        from desktop_app.ui.qtmodels.sources import is_incomplete

        paths = [f["path"] for f in status.get("folders", []) if f.get("path") and is_incomplete(f)]
        if not paths or self.jobs.running("ingest"):
            return None
        log.info("resuming interrupted indexing of %s", paths)
        return self.add(paths, verb="Resuming indexing of")

    def reread_outdated(self) -> None:
        """At launch: once the status is known, sync if files wait for a
        newer parser than the one that read them (``totals["reparse"]``,
        what the status line promises for "the next sync"); without it
        nothing syncs before a file changes or the five-minute timer fires,
        and never with ``watch_folders`` off. Once per launch: a folder
        that is not there keeps its files, still waiting, and its sync
        skips it (``Library.refresh``); another one would too."""
        self._reread_pending = True

    def _reread(self, status: dict) -> Optional[Job]:
        waiting = status["totals"]["reparse"]
        if not waiting:
            return None
        log.info("%d files wait for a newer parser: syncing the library", waiting)
        return self.sync_now()

    def warm_up(self) -> Job:
        """Open the library and load the embedder (heavy imports) on a
        worker right after startup, so the first search or ingest does not
        pay for them while the user waits."""
        def warm_job(*, token, report):
            self.services.library.embedder  # noqa: B018 (loading is the point)

        return self.jobs.start("Preparing the library", warm_job, lane="library",
                               kind="warm-up", quiet=True)

    # -- add / remove -------------------------------------------------------
    def add(self, paths: list[str], *, verb: str = "Indexing") -> Optional[Job]:
        paths = [str(Path(p)) for p in paths if p]
        if not paths:
            return None
        names = ", ".join(Path(p).name or p for p in paths[:2])
        if len(paths) > 2:
            names += f" and {len(paths) - 2} more"
        library = lambda: self.services.library  # noqa: E731 (built on the worker)

        def add_job(*, token, report):
            return library().add(paths, token=token, report=report)

        job = self.jobs.start(f"{verb} {names}", add_job, lane="library", kind="ingest",
                              pausable=True, unit="files")
        job.paths = paths
        self._track_ingest(job)
        return job

    def remove(self, path: str) -> Job:
        def remove_job(*, token, report):
            report(Progress("removing", 0, None, Path(path).name))
            self.services.library.remove(path)
            return path

        job = self.jobs.start(f"Removing {Path(path).name}", remove_job, lane="library",
                              kind="library-remove")
        job.finished.connect(lambda _p: self.refresh_status())
        job.failed.connect(self.errorRaised)
        return job

    def _track_ingest(self, job: Job, *, background: bool = False) -> None:
        self.ingestStarted.emit(job)
        job.finished.connect(lambda report: self._on_ingested(report, background))
        job.failed.connect(lambda message: self.errorRaised.emit(f"Indexing failed: {message}"))
        job.ended.connect(self._after_ingest)

    def _on_ingested(self, report, background: bool) -> None:
        if report.changed or not background:  # a sync that found nothing new stays quiet
            self.ingestFinished.emit(ingest_summary(report))

    def _after_ingest(self) -> None:
        self.refresh_status()
        if self._sync_pending:
            self._sync_pending = False
            self._debounce.start()

    # -- a folder's files ---------------------------------------------------
    def list_files(self, path: str) -> Job:
        """Read the files of one folder on the search lane (a read; it need not
        wait for indexing on the library lane)."""
        library = lambda: self.services.library  # noqa: E731

        def files_job(*, token, report):
            return library().files(path)

        job = self.jobs.start(f"Listing “{path}”", files_job, lane="search", kind="library-files",
                              quiet=True)
        job.finished.connect(lambda files: self.filesListed.emit(path, list(files)))
        job.failed.connect(lambda message: self.filesFailed.emit(path, str(message)))
        return job

    # -- search -------------------------------------------------------------
    def search(self, query: str, k: int = 8) -> None:
        query = query.strip()
        if not query:
            self.searchFinished.emit("", [])
            return
        if self._search_job is not None and self._search_job.running:
            # One search at a time; the newest query wins.
            self._pending_search = (query, k)
            return
        library = lambda: self.services.library  # noqa: E731

        def search_job(*, token, report):
            return library().search(query, k=k)

        job = self.jobs.start(f"Searching “{query}”", search_job, lane="search", kind="search", quiet=True)
        self._search_job = job
        job.finished.connect(lambda hits: self.searchFinished.emit(query, list(hits)))
        job.failed.connect(self.searchFailed)
        job.ended.connect(self._after_search)

    def _after_search(self) -> None:
        self._search_job = None
        if self._pending_search is not None:
            query, k = self._pending_search
            self._pending_search = None
            self.search(query, k)

    # -- background sync ----------------------------------------------------
    def start_sync(self) -> None:
        if self.services.settings.watch_folders:
            if self._watcher is None:
                self._watcher = QFileSystemWatcher(self)
                self._watcher.directoryChanged.connect(self._on_changed)
                self._watcher.fileChanged.connect(self._on_changed)
            self._period.start()
        else:
            self.stop_sync()

    def stop_sync(self) -> None:
        self._debounce.stop()
        self._period.stop()
        if self._watcher is not None:
            self._watcher.deleteLater()
            self._watcher = None

    @property
    def watched_dirs(self) -> list[str]:
        return self._watcher.directories() if self._watcher is not None else []

    def _rewatch(self, dirs: list[str]) -> None:
        if self._watcher is None:
            return
        old = set(self._watcher.directories())
        new = set(dirs)
        if old - new:
            self._watcher.removePaths(sorted(old - new))
        if new - old:
            self._watcher.addPaths(sorted(new - old))

    def _on_changed(self, _path: str) -> None:
        # Editors save in bursts; re-index once things settle.
        self._debounce.start()

    def sync_now(self) -> Optional[Job]:
        """Re-index changed files of every folder in the background."""
        if not self.status.get("folders"):
            return None
        if self.jobs.running("ingest"):
            self._sync_pending = True
            return None
        library = lambda: self.services.library  # noqa: E731

        def refresh_job(*, token, report):
            return library().refresh(token=token, report=report)

        job = self.jobs.start("Syncing library folders", refresh_job, lane="library",
                              kind="ingest", pausable=True, unit="files")
        job.paths = [f.get("path") for f in self.status.get("folders", [])]
        self._track_ingest(job, background=True)
        return job
