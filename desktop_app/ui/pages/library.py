"""The Library page: the folders Hearth indexes, their progress and problems,
and a search box over them."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSplitter,
                               QTableView, QTextBrowser, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from desktop_app.ui import theme
from desktop_app.ui.highlight import highlight_html, snippet
from desktop_app.ui.qtmodels.sources import SourcesModel
from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.jobs import JobRow

log = logging.getLogger(__name__)


class LibraryPage(QWidget):
    def __init__(self, controller, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setAcceptDrops(True)
        self.hits: list = []
        self._viewer = None

        title = QLabel("Library")
        title.setObjectName("pageTitle")
        self.add_folder_button = QPushButton("Add Folder…")
        self.add_folder_button.setObjectName("primary")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.add_files_button = QPushButton("Add Files…")
        self.add_files_button.clicked.connect(self.choose_files)
        self.sync_button = QPushButton("Sync Now")
        self.sync_button.setToolTip("Re-index files that changed since the last update")
        self.sync_button.clicked.connect(controller.sync_now)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected folder from the library "
                                      "(your files are not touched)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_selected)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        for button in (self.add_folder_button, self.add_files_button, self.sync_button,
                       self.remove_button):
            head.addWidget(button)

        self.banner = Banner()
        self.hint = QLabel("Drop folders or files here, or use <b>Add Folder…</b>. "
                           "Hearth reads PDF, Word, HTML, Markdown, text and source code, "
                           "and keeps the folders in sync while it runs.")
        self.hint.setObjectName("info")
        self.hint.setWordWrap(True)

        self.progress_box = QVBoxLayout()
        self.progress_box.setSpacing(0)
        self.progress_rows: dict[int, JobRow] = {}

        self.model = SourcesModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Library folders")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(SourcesModel.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)

        self.failures_label = QLabel("Problems")
        self.failures_label.setStyleSheet("font-weight: 600;")
        self.failures = QListWidget()
        self.failures.setAccessibleName("Files that could not be indexed")
        self.failures.setMaximumHeight(self.fontMetrics().height() * 7)
        self.failures_label.hide()
        self.failures.hide()

        # The selected folder's files: what was read, what failed and why, what
        # is still to do. Filled by a job (the store is I/O), never here.
        self.files_label = QLabel("Files")
        self.files_label.setStyleSheet("font-weight: 600;")
        self.files_view = QTreeWidget()
        self.files_view.setColumnCount(3)
        self.files_view.setHeaderLabels(["File", "State", "Passages"])
        self.files_view.setRootIsDecorated(False)
        self.files_view.setAlternatingRowColors(True)
        self.files_view.setUniformRowHeights(True)
        self.files_view.setAccessibleName("Files of the selected folder")
        files_header = self.files_view.header()
        files_header.setStretchLastSection(False)
        files_header.setSectionResizeMode(0, QHeaderView.Stretch)
        files_header.setSectionResizeMode(1, QHeaderView.Interactive)
        files_header.resizeSection(1, self.fontMetrics().horizontalAdvance("M") * 22)
        files_header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.files_label.hide()
        self.files_view.hide()
        self._files_of: Optional[str] = None   # the folder the list shows (or is loading)
        self._files_requested = False

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.hint)
        top_layout.addLayout(self.progress_box)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.failures_label)
        top_layout.addWidget(self.failures)
        top_layout.addWidget(self.files_label)
        top_layout.addWidget(self.files_view, 1)

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search your library (Ctrl+F)…")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAccessibleName("Search the library")
        self.search_box.returnPressed.connect(self.run_search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.run_search)
        self.results = QTextBrowser()
        self.results.setOpenLinks(False)
        self.results.setAccessibleName("Search results")
        self.results.anchorClicked.connect(self._open_hit)
        self.results.setPlaceholderText("Results appear here, best first. Click one to see it "
                                        "in its document.")
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.search_button)
        bottom_layout.addLayout(search_row)
        bottom_layout.addWidget(self.results, 1)

        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(head)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)

        self.setTabOrder(self.add_folder_button, self.add_files_button)
        self.setTabOrder(self.add_files_button, self.sync_button)
        self.setTabOrder(self.sync_button, self.remove_button)
        self.setTabOrder(self.remove_button, self.table)
        self.setTabOrder(self.table, self.files_view)
        self.setTabOrder(self.files_view, self.search_box)
        self.setTabOrder(self.search_box, self.search_button)
        self.setTabOrder(self.search_button, self.results)

        controller.statusChanged.connect(self._on_status)
        controller.statusFailed.connect(lambda m: self.banner.show_error(
            f"The library could not be read: {m}"))
        controller.ingestStarted.connect(self._on_ingest_started)
        controller.ingestFinished.connect(self._on_ingest_finished)
        controller.errorRaised.connect(self.banner.show_error)
        controller.filesListed.connect(self._show_files)
        controller.filesFailed.connect(self._files_failed)
        controller.searchFinished.connect(self._show_hits)
        controller.searchFailed.connect(lambda m: self.banner.show_error(f"Search failed: {m}"))

    # -- adding --------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library",
                                                  str(Path.home()))
        if folder:
            self.add_paths([folder])

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add files to the library", str(Path.home()),
            "Documents (*.pdf *.docx *.html *.htm *.md *.markdown *.rst *.txt);;All files (*)")
        if files:
            self.add_paths(files)

    def add_paths(self, paths: list[str]) -> None:
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            self.banner.show_error("Not found: " + ", ".join(missing))
        paths = [p for p in paths if Path(p).exists()]
        if paths:
            self.banner.hide()
            self.controller.add(paths)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        paths = [url.toLocalFile() for url in urls if url.isLocalFile()]
        if not paths:
            self.banner.show_error("Only files and folders on this computer can be added.")
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # -- removing ----------------------------------------------------------
    def selected_path(self) -> Optional[str]:
        rows = self.table.selectionModel().selectedRows()
        return self.model.folder_path(rows[0].row()) if rows else None

    def remove_selected(self) -> None:
        path = self.selected_path()
        if path and self.confirm_remove(path):
            self.controller.remove(path)

    def confirm_remove(self, path: str) -> bool:
        row = next((f for f in self.model.folders if f.get("path") == path), {})
        files, chunks = int(row.get("files") or 0), int(row.get("chunks") or 0)
        box = QMessageBox(QMessageBox.Question, "Remove from the library?",
                          f"Remove “{Path(path).name or path}” from the library?",
                          QMessageBox.Cancel, self)
        box.setInformativeText(
            f"Its index ({files} file{'s' if files != 1 else ''}, {chunks} passages) is deleted and "
            "answers no longer use it. The files themselves stay where they are; adding the "
            "folder again re-indexes them.")
        remove = box.addButton("Remove", QMessageBox.DestructiveRole)
        box.setDefaultButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is remove

    def _on_selection(self, *_args) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.remove_button.setEnabled(bool(rows))
        self._show_failures(rows[0].row() if rows else None)
        self._list_files(self.selected_path())

    # -- the selected folder's files -------------------------------------------
    def _list_files(self, path: Optional[str]) -> None:
        self._files_of = path
        if not path:
            self.files_view.clear()
            self.files_view.hide()
            self.files_label.hide()
            return
        if self.files_view.topLevelItemCount() == 0:
            self.files_label.setText(f"Files in {Path(path).name or path} (reading…)")
        self.files_label.show()
        self.files_view.show()
        if not self._files_requested:
            # A status update re-selects the row (one more selection signal):
            # one read per turn of the event loop is enough.
            self._files_requested = True
            QTimer.singleShot(0, self._request_files)

    def _request_files(self) -> None:
        self._files_requested = False
        if self._files_of:
            self.controller.list_files(self._files_of)

    def _show_files(self, path: str, files: list) -> None:
        if path != self._files_of:
            return   # the selection moved on while the list was read
        self.files_view.clear()
        counts = {"indexed": 0, "failed": 0, "pending": 0}
        items = []
        for f in files:
            counts[f.state] = counts.get(f.state, 0) + 1
            if f.state == "failed":
                state = f"Failed: {f.reason}" if f.reason else "Failed"
            elif f.state == "pending":
                state = "Pending (not finished)"
            else:
                state = "Indexed"
            try:
                shown = str(Path(f.path).relative_to(path))
            except ValueError:
                shown = Path(f.path).name
            item = QTreeWidgetItem([shown, state, str(f.passages) if f.state == "indexed" else ""])
            item.setToolTip(0, f.path)
            item.setToolTip(1, state)
            item.setTextAlignment(2, Qt.AlignRight | Qt.AlignVCenter)
            items.append(item)
        self.files_view.addTopLevelItems(items)
        parts = [f"{counts['indexed']} indexed"]
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed")
        if counts["pending"]:
            parts.append(f"{counts['pending']} pending")
        total = len(files)
        self.files_label.setText(f"Files in {Path(path).name or path} ({total} file"
                                 f"{'s' if total != 1 else ''}: {', '.join(parts)})")

    def _files_failed(self, path: str, message: str) -> None:
        if path == self._files_of:
            self.files_label.setText(f"The files of {Path(path).name or path} could not be read: {message}")

    def _show_failures(self, row: Optional[int]) -> None:
        self.failures.clear()
        rows = [row] if row is not None and row < self.model.rowCount() else \
            list(range(self.model.rowCount()))  # nothing selected: every folder's problems
        failures = []
        for r in rows:
            folder = Path(self.model.folder_path(r)).name
            failures.extend((folder, path, reason) for path, reason in self.model.failures(r))
        named = len(rows) > 1   # several folders: each problem says which one
        for folder, path, reason in failures:
            where = f"{folder}: " if named else ""
            item = QListWidgetItem(f"{where}{Path(path).name} — {reason}")
            item.setToolTip(path)
            self.failures.addItem(item)
        scope = f" in {Path(self.model.folder_path(rows[0])).name}" if len(rows) == 1 and rows else ""
        self.failures_label.setText(f"Problems{scope} ({len(failures)} file{'s' if len(failures) != 1 else ''}"
                                    " could not be read)")
        self.failures.setVisible(bool(failures))
        self.failures_label.setVisible(bool(failures))

    # -- status and progress -------------------------------------------------
    def _on_status(self, status: dict) -> None:
        selected = self.selected_path()
        self.model.set_status(status)
        self.hint.setVisible(self.model.rowCount() == 0)
        if selected:
            for row in range(self.model.rowCount()):
                if self.model.folder_path(row) == selected:
                    self.table.selectRow(row)
        self._show_failures(None if not selected else self._row_of(selected))
        if selected and self._row_of(selected) is not None:
            self._list_files(selected)   # counts and states changed
        elif self._files_of:
            self._list_files(None)

    def _row_of(self, path: str) -> Optional[int]:
        for row in range(self.model.rowCount()):
            if self.model.folder_path(row) == path:
                return row
        return None

    def _on_ingest_started(self, job) -> None:
        row = JobRow(job)
        self.progress_rows[id(job)] = row
        self.progress_box.addWidget(row)
        paths = [str(p) for p in getattr(job, "paths", []) if p]
        self.model.set_indexing(paths, "indexing…")
        job.ended.connect(lambda j=job, p=paths: self._on_ingest_ended(j, p))

    def _on_ingest_ended(self, job, paths: list[str]) -> None:
        self.model.set_indexing(paths, None)
        row = self.progress_rows.pop(id(job), None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        if job.state == "cancelled":
            self.banner.show_info("Indexing cancelled. What was finished is kept; adding the "
                                  "folder again continues where it stopped.")

    def _on_ingest_finished(self, summary: str) -> None:
        self.banner.show_info(f"Library updated: {summary}.")

    # -- search ----------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.ShortcutFocusReason)
        self.search_box.selectAll()

    def run_search(self) -> None:
        query = self.search_box.text().strip()
        if query:
            self.results.setHtml("<p><i>Searching…</i></p>")
            self.controller.search(query)

    def _show_hits(self, query: str, hits: list) -> None:
        self.hits = hits
        if not query:
            self.results.clear()
            return
        if not hits:
            self.results.setHtml(f"<p>Nothing in your library matches "
                                 f"<b>{html.escape(query)}</b>.</p>")
            return
        bg, fg = theme.highlight_colors()
        parts = []
        for i, hit in enumerate(hits):
            where = []
            if hit.page:
                where.append(f"page {hit.page}")
            if hit.section:
                where.append(html.escape(hit.section))
            location = f" · {' · '.join(where)}" if where else ""
            name = html.escape(Path(hit.path).name)
            text = highlight_html(snippet(hit.text, query), query, bg, fg)
            parts.append(
                f"<div style='margin-bottom:10px'><a href='hit:{i}' style='font-weight:600'>{name}</a>"
                f"<span style='color:gray'>{location}</span><br/>{text}</div>")
        self.results.setHtml("".join(parts))

    def _open_hit(self, url: QUrl) -> None:
        text = url.toString()
        if not text.startswith("hit:"):
            return
        index = int(text[4:])
        if 0 <= index < len(self.hits):
            self.viewer.show_source(self.hits[index])

    @property
    def viewer(self):
        if self._viewer is None:
            from desktop_app.ui.widgets.source_viewer import SourceViewer

            self._viewer = SourceViewer(self.controller.jobs, self)
        return self._viewer
