"""The built-in source viewer: a cited passage shown in its context.

PDFs open in QtPdf at the cited page with the whole passage marked, line by
line (widgets/pdf_passage.py); every other format shows the document's extracted text with the
passage marked and scrolled into view. Reading and parsing the document run
on a worker; "Open in default app" hands the file to the desktop.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCursor
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QStackedWidget, QTextBrowser, QTextEdit, QVBoxLayout, QWidget)

from desktop_app.ui import theme
from desktop_app.ui.widgets.banner import Banner

log = logging.getLogger(__name__)

MAX_VIEW_CHARS = 2_000_000


@dataclass(frozen=True)
class SourceRef:
    """Where a citation or a search hit points."""

    path: str
    text: str = ""
    page: Optional[int] = None
    section: Optional[str] = None
    start: Optional[int] = None
    end: Optional[int] = None

    @classmethod
    def from_any(cls, item) -> "SourceRef":
        get = (item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d))
        return cls(path=str(get("path", "")), text=str(get("text", "") or ""), page=get("page"),
                   section=get("section"), start=get("start"), end=get("end"))


def document_text(path: Path) -> str:
    """The document's extracted text, laid out at the parser's offsets (so a
    chunk's start/end point at the same characters the index saw)."""
    from desktop_app.core.library.parse import parse_file

    parts: list[str] = []
    length = 0
    for block in parse_file(path):
        gap = block.start - length
        if gap > 0:  # the separator the parser counted between blocks
            newlines = min(gap, 2)
            parts.append("\n" * newlines + " " * (gap - newlines))
            length = block.start
        parts.append(block.text)
        length += len(block.text)
        if length > MAX_VIEW_CHARS:
            break
    return "".join(parts)


def locate(text: str, ref: SourceRef) -> Optional[tuple[int, int]]:
    """Where the passage is in ``text``: the offsets when they match, else a
    whitespace-insensitive search for the passage (or its first words)."""
    if ref.start is not None and ref.end is not None and 0 <= ref.start < ref.end <= len(text):
        if not ref.text or _squash(text[ref.start:ref.end])[:40] == _squash(ref.text)[:40]:
            return ref.start, ref.end
    words = ref.text.split()
    for count in (len(words), 24, 10, 5):
        if not words or count > len(words):
            continue
        pattern = r"\s+".join(re.escape(w) for w in words[:count])
        match = re.search(pattern, text)
        if match:
            end = match.end()
            if count < len(words):
                end = min(len(text), match.start() + len(ref.text))
            return match.start(), end
    return None


def _squash(text: str) -> str:
    return " ".join(text.split())


class SourceViewer(QDialog):
    """One window reused for every citation the user opens."""

    def __init__(self, jobs, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.ref: Optional[SourceRef] = None
        self.highlighted: Optional[tuple[int, int]] = None
        self._load_job = None
        self._pdf_page: Optional[int] = None
        self.setWindowTitle("Source")
        self._fit_to_screen(860, 760)

        self.title = QLabel()
        self.title.setObjectName("pageTitle")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.where = QLabel()
        self.where.setObjectName("muted")
        self.open_button = QPushButton("Open in Default App")
        self.open_button.clicked.connect(self.open_externally)
        self.banner = Banner()

        self.text_view = QTextBrowser()
        self.text_view.setOpenLinks(False)
        self.text_view.setAccessibleName("Document text")
        self.passage = QTextBrowser()
        self.passage.setAccessibleName("Cited passage")
        self.passage.setMaximumHeight(self.fontMetrics().height() * 9)
        self.pdf_view = None  # built on first PDF: QtPdf is loaded lazily
        self.pdf_document = None
        self.pdf_search = None
        self.stack = QStackedWidget()
        self.stack.addWidget(self.text_view)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(self.title)
        titles.addWidget(self.where)
        head.addLayout(titles, 1)
        head.addWidget(self.open_button, 0, Qt.AlignTop)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.passage)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

    def _fit_to_screen(self, width: int, height: int) -> None:
        """The preferred size, but never taller or wider than the screen
        (on a 1024x700 screen the viewer ran off the bottom)."""
        screen = (self.parentWidget().screen() if self.parentWidget() is not None else self.screen())
        if screen is not None:
            room = screen.availableGeometry()
            width, height = min(width, int(room.width() * 0.92)), min(height, int(room.height() * 0.88))
        self.resize(width, height)

    # -- showing ---------------------------------------------------------------
    def show_source(self, item) -> None:
        ref = item if isinstance(item, SourceRef) else SourceRef.from_any(item)
        self.ref = ref
        self.highlighted = None
        self.banner.hide()
        path = Path(ref.path)
        self.title.setText(path.name)
        self.setWindowTitle(f"{path.name} — Source")
        where = []
        if ref.page:
            where.append(f"page {ref.page}")
        if ref.section:
            where.append(ref.section)
        where.append(str(path.parent))
        self.where.setText(" · ".join(where))
        self.passage.setHtml(self._passage_html(ref.text))
        self.passage.setVisible(bool(ref.text))
        if path.suffix.lower() == ".pdf":
            self._show_pdf(path, ref)
        else:
            self._show_text(path, ref)
        self.show()
        self.raise_()
        self.activateWindow()

    def _passage_html(self, text: str) -> str:
        # Lines kept (code and tables stay readable), runs of blank lines
        # folded to one.
        bg, fg = theme.highlight_colors()
        body = html.escape(re.sub(r"\n\s*\n+", "\n\n", text.strip()), quote=False)
        return (f"<p><b>Cited passage</b></p><p style='white-space: pre-wrap;'>"
                f"<span style='background-color:{bg}; color:{fg}'>{body}</span></p>")

    def _show_text(self, path: Path, ref: SourceRef) -> None:
        self.stack.setCurrentWidget(self.text_view)
        if self.pdf_view is not None:
            self.pdf_bar.hide()
        self.text_view.setExtraSelections([])
        self.text_view.setPlainText("Loading…")
        if self._load_job is not None and self._load_job.running:
            self._load_job.cancel()
        job = self.jobs.start(f"Opening {path.name}",
                              lambda *, token, report: document_text(path),
                              lane="work", kind="viewer", quiet=True)
        self._load_job = job
        job.finished.connect(lambda text, r=ref: self._on_text(text, r))
        job.failed.connect(lambda m: self._on_text_failed(m))

    def _on_text(self, text: str, ref: SourceRef) -> None:
        if ref is not self.ref:
            return  # the user opened another source meanwhile
        self.text_view.setExtraSelections([])
        self.text_view.setPlainText(text)
        span = locate(text, ref)
        self.highlighted = span
        if span is None:
            self.banner.show_info("The passage was not found in the current file; "
                                  "it may have changed since it was indexed.")
            return
        start, end = span
        # An extra selection marks the passage without changing the document
        # (a char format would leak into the next file shown here).
        selection = QTextEdit.ExtraSelection()
        bg, fg = theme.highlight_colors()
        selection.format.setBackground(QColor(bg))
        selection.format.setForeground(QColor(fg))
        cursor = QTextCursor(self.text_view.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        selection.cursor = cursor
        self.text_view.setExtraSelections([selection])
        # Scroll so the passage is in view, then park the caret at its start.
        caret = QTextCursor(self.text_view.document())
        caret.setPosition(end)
        self.text_view.setTextCursor(caret)
        self.text_view.ensureCursorVisible()
        caret.setPosition(start)
        self.text_view.setTextCursor(caret)
        self.text_view.ensureCursorVisible()

    def _on_text_failed(self, message: str) -> None:
        self.text_view.setPlainText("")
        self.banner.show_error(f"This file cannot be shown: {message}")

    def _ensure_pdf(self) -> None:
        if self.pdf_view is not None:
            return
        from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
        from PySide6.QtPdfWidgets import QPdfView

        from desktop_app.ui.widgets.pdf_passage import PassagePdfView

        self.pdf_document = QPdfDocument(self)
        self.pdf_view = PassagePdfView()
        self.pdf_view.setAccessibleName("PDF page")
        self.pdf_view.setPageMode(QPdfView.PageMode.MultiPage)
        self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.pdf_view.setDocument(self.pdf_document)
        self.pdf_search = QPdfSearchModel(self)
        self.pdf_search.setDocument(self.pdf_document)
        self.pdf_view.setSearchModel(self.pdf_search)
        self.stack.addWidget(self.pdf_view)
        self._build_pdf_bar()

    def _build_pdf_bar(self) -> None:
        """Page navigation and zoom for PDFs."""
        from PySide6.QtWidgets import QSpinBox, QToolButton

        def button(text: str, name: str, slot) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setAccessibleName(name)
            b.setToolTip(name)
            b.clicked.connect(slot)
            bar_layout.addWidget(b)
            return b

        self.pdf_bar = QWidget()
        bar_layout = QHBoxLayout(self.pdf_bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        self.previous_page_button = button("◀", "Previous page", lambda: self.go_to_page(self.current_pdf_page - 1))
        self.page_box = QSpinBox()
        self.page_box.setAccessibleName("Page")
        self.page_box.setPrefix("Page ")
        self.page_box.setKeyboardTracking(False)
        self.page_box.valueChanged.connect(lambda n: self.go_to_page(n))
        bar_layout.addWidget(self.page_box)
        self.page_count_label = QLabel()
        bar_layout.addWidget(self.page_count_label)
        self.next_page_button = button("▶", "Next page", lambda: self.go_to_page(self.current_pdf_page + 1))
        bar_layout.addStretch(1)
        button("−", "Zoom out", lambda: self.zoom_by(1 / 1.25))
        self.zoom_label = QLabel()
        bar_layout.addWidget(self.zoom_label)
        button("+", "Zoom in", lambda: self.zoom_by(1.25))
        button("Fit Width", "Fit the page width", self.fit_width)
        self.layout().insertWidget(2, self.pdf_bar)
        self.pdf_view.pageNavigator().currentPageChanged.connect(self._show_page_number)
        self.pdf_view.zoomFactorChanged.connect(self._show_zoom)
        self.pdf_bar.hide()

    def go_to_page(self, page: int) -> None:
        """Show 1-based ``page`` (clamped to the document)."""
        if self.pdf_document is None or self.pdf_document.pageCount() == 0:
            return
        self._pdf_page = max(0, min(page - 1, self.pdf_document.pageCount() - 1))
        self._jump_to_page()

    def zoom_by(self, factor: float) -> None:
        from PySide6.QtPdfWidgets import QPdfView

        zoom = self.pdf_view.zoomFactor()
        self.pdf_view.setZoomMode(QPdfView.ZoomMode.Custom)
        self.pdf_view.setZoomFactor(max(0.25, min(6.0, zoom * factor)))
        self._show_zoom()

    def fit_width(self) -> None:
        from PySide6.QtPdfWidgets import QPdfView

        self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self._show_zoom()

    def _show_page_number(self, page: int) -> None:
        self.page_box.blockSignals(True)
        self.page_box.setValue(page + 1)
        self.page_box.blockSignals(False)
        count = self.pdf_document.pageCount()
        self.previous_page_button.setEnabled(page > 0)
        self.next_page_button.setEnabled(page + 1 < count)

    def _show_zoom(self, *_args) -> None:
        from PySide6.QtPdfWidgets import QPdfView

        fit = self.pdf_view.zoomMode() == QPdfView.ZoomMode.FitToWidth
        self.zoom_label.setText("fit width" if fit else f"{self.pdf_view.zoomFactor():.0%}")

    def _show_pdf(self, path: Path, ref: SourceRef) -> None:
        from PySide6.QtPdf import QPdfDocument

        self._ensure_pdf()
        self.stack.setCurrentWidget(self.pdf_view)
        self.pdf_document.close()
        error = self.pdf_document.load(str(path))
        if error != QPdfDocument.Error.None_:
            self.banner.show_error(f"This PDF cannot be shown ({error.name}). "
                                   "Try opening it in your default app.")
            return
        count = self.pdf_document.pageCount()
        self.page_box.blockSignals(True)
        self.page_box.setRange(1, max(1, count))
        self.page_box.blockSignals(False)
        self.page_count_label.setText(f"of {count}")
        self.pdf_bar.show()
        self._show_zoom()
        page = max(0, min((ref.page or 1) - 1, count - 1))
        # The whole passage is marked, line by line, from the page's text
        # layer; when the layer does not have it (a scan, text the parser
        # read differently), its first words are searched for instead.
        bg, _fg = theme.highlight_colors()
        mark = QColor(bg)
        mark.setAlpha(110)
        self.pdf_view.mark_color = mark
        marked = self.pdf_view.mark_passage(page, ref.text)
        words = ref.text.split()
        self.pdf_search.setSearchString("" if marked or not words else " ".join(words[:6]))
        self._pdf_page = page
        self._jump_to_page()
        # Showing the window lays the view out again (fit to width), which
        # scrolls back to the top: jump once more after that.
        QTimer.singleShot(0, self, self._jump_to_page)

    def _jump_to_page(self) -> None:
        if self.pdf_view is not None and self._pdf_page is not None:
            self.pdf_view.pageNavigator().jump(self._pdf_page, QPointF(), 0)

    @property
    def current_pdf_page(self) -> Optional[int]:
        """1-based page the PDF view shows, or None when showing text."""
        if self.pdf_view is None or self.stack.currentWidget() is not self.pdf_view:
            return None
        return self.pdf_view.pageNavigator().currentPage() + 1

    def open_externally(self) -> None:
        if self.ref is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.ref.path))
