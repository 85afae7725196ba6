"""The main window: a sidebar with the three places (Chat, Library, Models),
the job panel, the status bar and the menus. Layout only: the work happens in
controllers that run core jobs through the ``JobManager``."""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMessageBox, QStackedWidget, QWidget)

from desktop_app.ui.controllers.chat import ChatController
from desktop_app.ui.controllers.library import LibraryController
from desktop_app.ui.controllers.models import ModelsController
from desktop_app.ui.pages.chat import ChatPage
from desktop_app.ui.pages.library import LibraryPage
from desktop_app.ui.pages.models import ModelsPage
from desktop_app.ui.widgets.jobs import JobPanel
from desktop_app.ui.workers import JobManager

log = logging.getLogger(__name__)

PAGES = ("Chat", "Library", "Models")


class Sidebar(QListWidget):
    """The list of places. QListView caches its rows' positions from the
    first layout; here that happened in the constructor (adding the rows,
    selecting the first), before the application's style sheet polished the
    widget, so the rows were placed at the unpadded text height while they
    were painted with the padding: they overlapped on a real X server until
    a theme change forced a new layout. Any polish, style or font change
    lays the rows out again."""

    RELAYOUT_EVENTS = (QEvent.Polish, QEvent.StyleChange, QEvent.FontChange,
                       QEvent.ApplicationFontChange)

    def event(self, event) -> bool:
        handled = super().event(event)
        if event.type() in self.RELAYOUT_EVENTS:
            self.scheduleDelayedItemsLayout()
        return handled

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.scheduleDelayedItemsLayout()


class MainWindow(QMainWindow):
    def __init__(self, services, jobs: JobManager, *, autoload_model: bool = True,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.services = services
        self.jobs = jobs
        self._closing = False
        self._shut_down = False
        from desktop_app.ui.gc_guard import GuiThreadCollector

        # Cycles holding Qt wrappers are freed on this thread, never a job's.
        self._collector = GuiThreadCollector(self)
        self.setWindowTitle("Hearth")
        from desktop_app.app import app_icon

        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)

        self.library = LibraryController(services, jobs, self)
        self.models = ModelsController(services, jobs, self)
        self.chat = ChatController(services, jobs, self.models, self)

        self.chat_page = ChatPage(self.chat, self.library)
        self.library_page = LibraryPage(self.library)
        self.models_page = ModelsPage(self.models)

        self.sidebar = Sidebar()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setAccessibleName("Sections")
        self.sidebar.setFixedWidth(self.fontMetrics().horizontalAdvance("M") * 11)
        self.stack = QStackedWidget()
        for index, (name, page) in enumerate(zip(PAGES, (self.chat_page, self.library_page,
                                                         self.models_page))):
            item = QListWidgetItem(name)
            item.setToolTip(f"{name} (Ctrl+{index + 1})")
            self.sidebar.addItem(item)
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.setCurrentRow(0)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.job_panel = JobPanel(jobs)
        self.job_dock = QDockWidget("Jobs", self)
        self.job_dock.setObjectName("jobs")
        self.job_dock.setWidget(self.job_panel)
        self.job_dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.job_dock)
        self.job_dock.hide()
        # The panel shows while it lists a job and collapses once the last
        # one has gone (finished jobs go by themselves, see JobPanel).
        self.job_panel.filled.connect(self.job_dock.show)
        self.job_panel.emptied.connect(self.job_dock.hide)

        self.model_status = QLabel("Model: not loaded")
        self.library_status = QLabel("Library: …")
        self.jobs_status = QLabel("")
        self.statusBar().addWidget(self.model_status)
        self.statusBar().addWidget(self.library_status)
        self.statusBar().addPermanentWidget(self.jobs_status)
        self.models.modelChanged.connect(self._show_model_status)
        self.models.loadFailed.connect(self._on_model_load_failed)
        self.library.statusChanged.connect(self._show_library_status)
        self.library.statusChanged.connect(self.models.note_library_status)
        jobs.jobStarted.connect(self._watch_job_state)
        jobs.jobStarted.connect(self._show_jobs_status)
        jobs.jobEnded.connect(self._show_jobs_status)

        self._build_menus()
        self.resize(1180, 780)
        self._restore_window_state()
        # Heavy work starts only once the event loop runs, after first paint.
        QTimer.singleShot(0, lambda: self._start(autoload_model))

    # -- startup -------------------------------------------------------------
    def _start(self, autoload_model: bool) -> None:
        if self._shut_down:
            return
        self.library.resume_interrupted()
        self.library.reread_outdated()
        self.library.refresh_status()
        self.library.warm_up()
        self.library.start_sync()
        self.models.refresh_catalog()
        self.chat.refresh_conversations()
        QTimer.singleShot(300, self, self.chat_page.warm_up)
        self._preload_job_modules()
        if autoload_model:
            self.models.load_active()

    def _preload_job_modules(self) -> None:
        # The first ingest/answer/quantize would otherwise import these while
        # the other jobs run, holding the GIL the UI thread needs (core/preload.py).
        from desktop_app.core.preload import preload_job_modules

        self.jobs.start("Preparing jobs", preload_job_modules, lane="work", kind="warm-up", quiet=True)

    # -- menus and shortcuts -----------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_chat_action = self._action(file_menu, "&New Chat", QKeySequence.New,
                                            self._new_chat)
        self._action(file_menu, "Add &Folder to Library…", "Ctrl+Shift+O",
                      self.library_page.choose_folder)
        self._action(file_menu, "Add &Model…", None, self.models_page.choose_model_file)
        file_menu.addSeparator()
        settings_action = self._action(file_menu, "&Settings…", None, self.open_settings)
        # Ctrl+, as in most desktop apps (QKeySequence.Preferences is empty on Linux).
        settings_action.setShortcuts([QKeySequence("Ctrl+,"), *QKeySequence.keyBindings(
            QKeySequence.Preferences)])
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.Quit, self.close)

        view = self.menuBar().addMenu("&View")
        for index, name in enumerate(PAGES):
            self._action(view, name, f"Ctrl+{index + 1}",
                         lambda _=False, i=index: self.show_page(i))
        self._action(view, "Find in Library", QKeySequence.Find, self._focus_search)
        view.addSeparator()
        view.addAction(self.job_dock.toggleViewAction())

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Open &Log File", None, self.open_log_file)
        self._action(help_menu, "Open &Data Folder", None, self.open_data_folder)
        self._action(help_menu, "&About Hearth", None, self._about)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def show_page(self, index: int) -> None:
        self.sidebar.setCurrentRow(index)

    def _new_chat(self) -> None:
        self.show_page(0)
        self.chat_page.new_chat()

    def _focus_search(self) -> None:
        self.show_page(1)
        self.library_page.focus_search()

    def open_log_file(self) -> None:
        log_file = self.services.paths.log_file
        if not log_file.exists():
            log_file.touch()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file)))

    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.services.paths.data_dir)))

    def _about(self) -> None:
        from desktop_app import __version__

        QMessageBox.about(
            self, "About Hearth",
            f"<h3>Hearth {__version__}</h3><p>A private AI assistant over your own documents. "
            f"Everything runs on this computer; nothing leaves it.</p>"
            f"<p>Data folder: {self.services.paths.data_dir}</p>")

    def open_settings(self) -> None:
        from desktop_app.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.services.settings, self, index_change=self._index_change)
        if dialog.exec():
            self.apply_settings(dialog.values())

    def _index_change(self, values: dict) -> Optional[str]:
        """What the dialog's values would cost the library (from the last
        status: no disk or model access in the GUI thread)."""
        from desktop_app.core.library.reindex import IndexRecipe, make_plan

        reindex = self.library.status.get("reindex")
        if not reindex:
            return None
        have = IndexRecipe(**reindex["have"])
        wanted = IndexRecipe(values.get("chunk_tokens", have.chunk_tokens),
                             values.get("chunk_overlap", have.chunk_overlap),
                             values.get("embedder_backend", have.embedder_backend))
        plan = make_plan(have, wanted, reindex["files"], reindex["passages"])
        return plan.describe() if plan.needed else None

    def apply_settings(self, values: dict) -> None:
        from desktop_app.ui import theme
        from PySide6.QtWidgets import QApplication

        settings = self.services.settings
        old = {name: getattr(settings, name) for name in values}
        for name, value in values.items():
            setattr(settings, name, value)
        try:
            self.services.save_settings()
        except Exception as exc:  # invalid or unwritable: restore, tell the user
            for name, value in old.items():
                setattr(settings, name, value)
            QMessageBox.warning(self, "Settings not saved", str(exc))
            return
        if old.get("theme") != settings.theme:
            theme.apply(QApplication.instance(), settings.theme)
        if old.get("watch_folders") != settings.watch_folders:
            self.library.start_sync()
        if old.get("embedder_backend", settings.embedder_backend) != settings.embedder_backend:
            self.services.reload_embedder()
        if any(old.get(name, getattr(settings, name)) != getattr(settings, name)
               for name in ("chunk_tokens", "chunk_overlap", "embedder_backend")):
            self.library.index_settings_changed()   # re-indexes alongside; search keeps working
        if any(old.get(name) != getattr(settings, name) for name in old
               if name.startswith("scan_") or name == "model_folders"):
            self.models.refresh_catalog()   # the places to look for models changed

    # -- status --------------------------------------------------------------
    def _show_jobs_status(self, *_args) -> None:
        jobs = [j for j in self.jobs.running() if not j.quiet]
        paused = sum(1 for j in jobs if j.paused)
        running = len(jobs) - paused
        parts = []
        if running:
            parts.append(f"{running} job{'s' if running != 1 else ''} running")
        if paused:
            parts.append(f"{paused} paused")
        self.jobs_status.setText(", ".join(parts))

    def _watch_job_state(self, job) -> None:
        job.stateChanged.connect(self._show_jobs_status)

    def _show_model_status(self, info) -> None:
        if info is None:
            self.model_status.setText("Model: not loaded")
        else:
            self.model_status.setText(f"Model: {info}")

    def _on_model_load_failed(self, message: str) -> None:
        self.model_status.setText("Model: failed to load")
        self.model_status.setToolTip(message)

    def _show_library_status(self, status: dict) -> None:
        # Loaded by the status job already: no import cost on the GUI thread.
        from desktop_app.core.library.parser_upgrade import reparse_note

        folders = status.get("folders", [])
        files = sum(int(f.get("files", 0) or 0) for f in folders)
        chunks = sum(int(f.get("chunks", 0) or 0) for f in folders)
        waiting = reparse_note(status["totals"]["reparse"])
        self.library_status.setText(
            f"Library: {len(folders)} folder{'s' if len(folders) != 1 else ''}, "
            f"{files} files, {chunks} passages" + (f"; {waiting}" if waiting else ""))

    # -- drops anywhere on the window go to the library ----------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if self.stack.currentWidget() is self.models_page:
            self.models_page.dropEvent(event)
            return
        self.show_page(1)
        self.library_page.dropEvent(event)

    # -- closing during a job ---------------------------------------------
    def confirm_close_during_jobs(self, count: int) -> bool:
        answer = QMessageBox.question(
            self, "Jobs are running",
            f"{count} job{'s are' if count != 1 else ' is'} still running. "
            "Stop and close Hearth?\n\nNothing half-done is kept; indexing resumes "
            "next time.", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def closeEvent(self, event) -> None:
        running = self.jobs.running()
        if not running or self._shut_down:
            self.shutdown()
            event.accept()
            return
        if not self._closing:
            if not self.confirm_close_during_jobs(len(running)):
                event.ignore()
                return
            self._closing = True
            self.setEnabled(False)
            self.statusBar().showMessage("Stopping jobs…")
            self.jobs.idle.connect(self.close)
            self.jobs.cancel_all()
        # Wait for the jobs to notice their tokens, without blocking the loop.
        event.ignore()

    # -- size and layout kept between runs ---------------------------------
    def _window_state_file(self):
        return self.services.paths.data_dir / "window.ini"

    def _restore_window_state(self) -> None:
        from PySide6.QtCore import QSettings

        stored = QSettings(str(self._window_state_file()), QSettings.IniFormat)
        geometry, state = stored.value("geometry"), stored.value("state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.job_dock.hide()  # shown again by the first job, not by the last run

    def _save_window_state(self) -> None:
        from PySide6.QtCore import QSettings

        try:
            stored = QSettings(str(self._window_state_file()), QSettings.IniFormat)
            stored.setValue("geometry", self.saveGeometry())
            stored.setValue("state", self.saveState())
            stored.sync()
        except Exception:  # a nicety: never in the way of closing
            log.warning("the window's size could not be saved", exc_info=True)

    def shutdown(self) -> None:
        """Stop timers and watchers, cancel jobs, wait for the pools."""
        if self._shut_down:
            return
        self._shut_down = True
        self._save_window_state()
        self.library.stop_sync()
        self.chat_page.shutdown()
        if not self.jobs.shutdown(60000):
            log.warning("some jobs did not stop within a minute")
        self._collector.stop()
