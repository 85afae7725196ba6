"""The source viewer's text pane: a document's extracted text, or an HTML
file rendered as a page, with the cited passage marked.

Rendering a page is private and offline by construction: ``loadResource``
(Qt asks it for every image and style sheet) serves only image files inside
the document's own folder, never a remote URL, a file elsewhere, or a style
sheet; what it was asked and what it refused is kept for anyone to check.
Qt's rich text runs no scripts, and the page it gets was already cleaned
(core/library/source_view.py). Links are never followed out of the viewer:
one into the page scrolls there, any other is shown (``linkShown``), not
opened.

The passage is marked with an extra selection (the document itself is not
changed) drawn full width, so a passage with blank lines inside it is one
block of colour rather than lines of text with slivers between them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QTextCursor, QTextDocument, QTextFormat
from PySide6.QtWidgets import QTextBrowser, QTextEdit

from desktop_app.core.library.source_view import resource_path

log = logging.getLogger(__name__)

# Images one page may load, and the largest image file served.
MAX_IMAGES = 200
MAX_IMAGE_BYTES = 20_000_000


def page_style(code_background: str, border: str) -> str:
    """The page's style sheet (its own are never loaded): code in monospace
    on a tinted box, tables with cell borders."""
    return (f"pre {{ font-family: monospace; background-color: {code_background}; }}"
            f"code, tt, kbd, samp {{ font-family: monospace; }}"
            f"table {{ border-collapse: collapse; margin-top: 4px; margin-bottom: 8px; }}"
            f"td, th {{ border: 1px solid {border}; padding: 3px 6px; }}"
            f"a {{ text-decoration: none; }}")


class SourceTextView(QTextBrowser):
    """Shows plain text or a cleaned page; marks and scrolls to a span."""

    linkShown = Signal(str)   # a link the user hovered or clicked that is not followed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.document_path: Optional[Path] = None   # set while a page is shown
        self._mark: Optional[tuple[int, int, QColor]] = None
        self.requested: list[str] = []   # every resource Qt asked for
        self.served: list[str] = []      # the ones loaded (images in the document's folder)
        self.anchorClicked.connect(self._follow)
        self.highlighted.connect(self._hovered)

    # -- content -----------------------------------------------------------
    def show_text(self, text: str) -> None:
        self._reset()
        self.setPlainText(text)

    def show_page(self, html: str, path: Path, style: str) -> None:
        self._reset()
        self.document_path = Path(path)
        document = self.document()
        document.setBaseUrl(QUrl.fromLocalFile(str(self.document_path)))
        document.setDefaultStyleSheet(style)
        document.setDocumentMargin(12)   # a page, not a text field: some air around it
        self.setHtml(html)

    def _reset(self) -> None:
        self.setExtraSelections([])
        self._mark: Optional[tuple[int, int, QColor]] = None
        self.document_path = None
        self.requested.clear()
        self.served.clear()
        self.setToolTip("")
        # Resources a previous page loaded must not be served to this one.
        self.document().clear()
        self.document().setDocumentMargin(4)   # Qt's default

    def loadResource(self, kind: int, url: QUrl):
        address = url.toString()
        self.requested.append(address)
        image_kind = QTextDocument.ResourceType.ImageResource
        if self.document_path is None or kind not in (image_kind, image_kind.value):
            return None
        if url.scheme() not in ("", "file") or len(self.served) >= MAX_IMAGES:
            return None
        path = resource_path(url.toLocalFile() if url.isLocalFile() else address, self.document_path)
        try:
            if path is None or not path.is_file() or path.stat().st_size > MAX_IMAGE_BYTES:
                return None
        except OSError:
            return None
        image = QImage(str(path))
        if image.isNull():
            return None
        self.served.append(address)
        return image

    # -- links -------------------------------------------------------------
    def _follow(self, url: QUrl) -> None:
        fragment = url.fragment()
        if fragment and not url.scheme() and not url.path():
            self.scrollToAnchor(fragment)
            return
        self.linkShown.emit(url.toString())

    def _hovered(self, url: QUrl) -> None:
        address = url.toString()
        internal = url.hasFragment() and not url.scheme() and not url.path()
        self.setToolTip("" if not address or internal else f"{address}\nLinks are not opened from the viewer.")

    # -- the passage -------------------------------------------------------
    def mark(self, start: int, end: int, background: str, foreground: str) -> None:
        """Mark characters ``start:end`` and scroll them into view."""
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(QColor(background))
        selection.format.setForeground(QColor(foreground))
        # Full width: blank lines inside the passage are coloured across,
        # not as slivers one character wide.
        selection.format.setProperty(QTextFormat.FullWidthSelection, True)
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        selection.cursor = cursor
        self.setExtraSelections([selection])
        tint = QColor(background)   # the bar: a shade of the marking that stands out from the page
        self._mark = (start, end, tint.lighter(170) if tint.lightness() < 128 else tint.darker(150))
        # Scroll so the passage is in view (its end, then its start, so a
        # long passage shows its beginning), caret parked at its start.
        caret = QTextCursor(self.document())
        caret.setPosition(end)
        self.setTextCursor(caret)
        self.ensureCursorVisible()
        caret.setPosition(start)
        self.setTextCursor(caret)
        self.ensureCursorVisible()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._mark is None:
            return
        # A bar in the margin from the passage's first line to its last: one
        # mark, also across the spacing between a page's paragraphs.
        start, end, color = self._mark
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        top = self.cursorRect(cursor).top()
        cursor.setPosition(end)
        bottom = self.cursorRect(cursor).bottom()
        if bottom < 0 or top > self.viewport().height():
            return
        painter = QPainter(self.viewport())
        painter.fillRect(0, top, 3, bottom - top + 1, color)
        painter.end()
