"""The built-in source viewer: a cited passage shown in its context.

PDFs open in QtPdf at the cited page with the whole passage marked, line by
line, on both pages when it runs over a page break (widgets/pdf_passage.py).
HTML files are rendered as their page (headings, lists, tables, code),
offline and private (widgets/source_text.py, core/library/source_view.py);
every other format shows the document's extracted text. In both the
passage is found again (core/library/locate.py), marked and scrolled into
view. Reading and parsing run on a worker; "Open in Default App" hands the
file to the desktop, the only way anything leaves the viewer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSplitter,
                               QStackedWidget, QTextBrowser, QVBoxLayout, QWidget)

from desktop_app.core.library.locate import Keyed, Span, find_passage
from desktop_app.core.library.parse.formats import CODE_SUFFIXES
from desktop_app.core.library.source_view import SourceContent, load_source
from desktop_app.ui import theme
from desktop_app.ui.passage_text import passage_html
from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.source_text import SourceTextView, page_style

log = logging.getLogger(__name__)


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


def locate(text: str, ref: SourceRef, by_offsets: bool = True) -> Optional[Span]:
    """Where the passage is in ``text``: its offsets when they still hold
    it (the extracted text of an unchanged file), else found again by its
    letters and digits (a rendered page, a file changed since indexing)."""
    if (by_offsets and ref.start is not None and ref.end is not None
            and 0 <= ref.start < ref.end <= len(text)):
        if not ref.text or Keyed(text[ref.start:ref.end]).key == Keyed(ref.text).key:
            return Span(ref.start, ref.end, "whole")
    return find_passage(text, ref.text) if ref.text.strip() else None


def _code_colors() -> tuple[str, str]:
    return ("#26242d", "#3a3743") if theme.is_dark() else ("#f1eeea", "#d9d4cf")


class SourceViewer(QDialog):
    """One window reused for every citation the user opens."""

    def __init__(self, jobs, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.ref: Optional[SourceRef] = None
        self.highlighted: Optional[tuple[int, int]] = None
        self._load_job = None
        self._pdf_page: Optional[int] = None
        self.shown_as: Optional[str] = None   # "html", "text" or "pdf"
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

        self.text_view = SourceTextView()
        self.text_view.setAccessibleName("Document text")
        self.text_view.setAccessibleDescription("The cited document, with the passage marked")
        self.text_view.linkShown.connect(self._show_link)
        self.link_label = QLabel()
        self.link_label.setObjectName("muted")
        self.link_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # A long address must not widen the window: its width is not asked for.
        self.link_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.link_label.hide()
        self.passage = QTextBrowser()
        self.passage.setAccessibleName("Cited passage")
        self.passage.setAccessibleDescription("The passage the answer or search hit cites")
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
        layout.addWidget(self.link_label)

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
        self.shown_as = None
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
        self.link_label.hide()
        bg, fg = theme.highlight_colors()
        code_bg, border = _code_colors()
        self.passage.setHtml(passage_html(ref.text, background=bg, foreground=fg, code_background=code_bg,
                                          border=border, source_is_code=path.suffix.lower() in CODE_SUFFIXES))
        self.passage.setVisible(bool(ref.text))
        if path.suffix.lower() == ".pdf":
            self._show_pdf(path, ref)
        else:
            self._show_text(path, ref)
        self.show()
        self.raise_()
        self.activateWindow()

    def _show_text(self, path: Path, ref: SourceRef) -> None:
        self.stack.setCurrentWidget(self.text_view)
        if self.pdf_view is not None:
            self.pdf_bar.hide()
        self.text_view.show_text("Loading…")
        if self._load_job is not None and self._load_job.running:
            self._load_job.cancel()
        job = self.jobs.start(f"Opening {path.name}",
                              lambda *, token, report: load_source(path),
                              lane="work", kind="viewer", quiet=True)
        self._load_job = job
        job.finished.connect(lambda content, r=ref: self._on_content(content, r))
        job.failed.connect(lambda m, r=ref: self._on_text_failed(m) if r is self.ref else None)

    def _on_content(self, content: SourceContent, ref: SourceRef) -> None:
        if ref is not self.ref:
            return  # the user opened another source meanwhile
        self.shown_as = content.kind
        if content.kind == "html":
            self.text_view.show_page(content.content, Path(ref.path), page_style(*_code_colors()))
        else:
            self.text_view.show_text(content.content)
        notes = [content.note] if content.note else []
        # The rendered page is not the extracted text: its offsets do not apply.
        span = locate(self.text_view.toPlainText(), ref, by_offsets=content.kind == "text")
        self.highlighted = (span.start, span.end) if span is not None else None
        if span is None:
            if ref.text.strip():
                notes.append("The passage could not be located in the current file; "
                             "it may have changed since it was indexed.")
        else:
            if not span.exact:
                notes.append("Only part of the passage was found in the file as shown "
                             "(it may have changed since it was indexed); the marking shows that part.")
            bg, fg = theme.highlight_colors()
            self.text_view.mark(span.start, span.end, bg, fg)
        if notes:
            self.banner.show_info(" ".join(notes))

    def _show_link(self, address: str) -> None:
        text = f"Not opened from the viewer: {address}"
        self.link_label.setText(self.link_label.fontMetrics().elidedText(
            text, Qt.ElideMiddle, max(200, self.width() - 40)))
        self.link_label.setToolTip(address)
        self.link_label.show()

    def _on_text_failed(self, message: str) -> None:
        self.text_view.show_text("")
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
        self.shown_as = "pdf"
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
        # The whole passage is marked, line by line, from the text layer of
        # its page (and the next, when it runs on); when the layer does not
        # have it (a scan, text the parser read differently), its first
        # words are searched for instead.
        bg, _fg = theme.highlight_colors()
        mark = QColor(bg)
        mark.setAlpha(110)
        self.pdf_view.mark_color = mark
        marked = self.pdf_view.mark_passage(page, ref.text)
        words = ref.text.split()
        self.pdf_search.setSearchString("" if marked or not words else " ".join(words[:6]))
        found = self.pdf_view.mark_found
        if ref.text.strip() and found is None:
            self.banner.show_info("The passage could not be located on this page; "
                                  "its first words are searched for in the document.")
        elif found in ("start", "part"):
            self.banner.show_info("Only part of the passage was found on this page; "
                                  "the marking shows that part.")
        self._pdf_page = self.pdf_view.marked_page if marked else page
        self._jump_to_passage()
        # Showing the window lays the view out again (fit to width), which
        # scrolls back to the top: jump once more after that.
        QTimer.singleShot(0, self, self._jump_to_passage)

    def _jump_to_page(self) -> None:
        if self.pdf_view is not None and self._pdf_page is not None:
            self.pdf_view.pageNavigator().jump(self._pdf_page, QPointF(), 0)

    def _jump_to_passage(self) -> None:
        """The cited page, scrolled down when the passage's first line would
        be below the fold (a passage at a page's foot), staying on the page."""
        self._jump_to_page()
        if self.pdf_view is None or self._pdf_page is None:
            return
        boxes = self.pdf_view.mark_rects(self._pdf_page)
        page_rect = self.pdf_view.page_rects().get(self._pdf_page)
        height = self.pdf_view.viewport().height()
        if not boxes or page_rect is None or boxes[0].bottom() < height * 0.8:
            return
        bar = self.pdf_view.verticalScrollBar()
        shift = min(int(boxes[0].top() - height * 0.2), page_rect.bottom() - 1)
        bar.setValue(bar.value() + max(0, shift))

    @property
    def current_pdf_page(self) -> Optional[int]:
        """1-based page the PDF view shows, or None when showing text."""
        if self.pdf_view is None or self.stack.currentWidget() is not self.pdf_view:
            return None
        return self.pdf_view.pageNavigator().currentPage() + 1

    def open_externally(self) -> None:
        if self.ref is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.ref.path))
