"""A PDF view that marks a whole cited passage, line by line.

QPdfView can only highlight the matches of one search string, so a passage
of several lines was marked by its first words alone. Here the passage is
found in the page's text layer (``QPdfDocument.getAllText``), its character
range turned into one bounding box per line (``getSelectionAtIndex``), and
those boxes painted over the rendered page.

QPdfView does not publish where it puts each page, so ``page_rects`` works it
out from what it does publish (zoom mode and factor, document margins, page
spacing, the screen's resolution, the scroll bars), the way Qt's own
``QPdfViewPrivate::calculateDocumentLayout`` does (Qt 6.6-6.12).
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter
from PySide6.QtPdfWidgets import QPdfView

log = logging.getLogger(__name__)

# Prefixes of the passage tried when the whole of it is not found on the page
# (the text layer and the parser disagree somewhere inside it).
_PREFIX_WORDS = (24, 10, 5)


def find_passage(page_text: str, passage: str) -> Optional[tuple[int, int]]:
    """Character range of ``passage`` in a PDF page's text, whitespace and
    line breaks ignored (the text layer breaks lines where the parser joined
    them, and vice versa); None when not even its first words are there."""
    words = passage.split()
    if not words:
        return None
    for count in (len(words),) + tuple(c for c in _PREFIX_WORDS if c < len(words)):
        pattern = r"\s*".join(re.escape(w) for w in words[:count])
        match = re.search(pattern, page_text)
        if match is None:
            continue
        if count == len(words):
            return match.start(), match.end()
        # Only the start is sure: mark as many characters as the passage has.
        return match.start(), min(len(page_text), match.start() + len(" ".join(words)))
    return None


def line_boxes(boxes: list[QRectF]) -> list[QRectF]:
    """The character (or word) boxes of a selection joined into one box per
    text line: pdfium gives a box per glyph, and painted one by one they
    leave gaps at the spaces and darker seams where neighbours overlap."""
    lines: list[QRectF] = []
    for box in sorted((b for b in boxes if b.height() > 0), key=lambda b: (b.center().y(), b.left())):
        line = lines[-1] if lines else None
        if line is not None and line.top() <= box.center().y() <= line.bottom():
            lines[-1] = line.united(box)
        else:
            lines.append(QRectF(box))
    return lines


class PassagePdfView(QPdfView):
    """QPdfView plus a passage marked on one page (``mark_passage``)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._page: Optional[int] = None
        self._polygons: list[QRectF] = []   # one box per line, in the page's points
        self.mark_color = QColor(255, 196, 0, 90)

    def mark_passage(self, page: int, passage: str) -> int:
        """Mark ``passage`` on ``page`` (0-based); the number of line boxes
        marked (0 when the page's text layer does not have it)."""
        self._page, self._polygons = None, []
        document = self.document()
        if document is not None and 0 <= page < document.pageCount() and passage.strip():
            span = find_passage(document.getAllText(page).text(), passage)
            if span is not None:
                selection = document.getSelectionAtIndex(page, span[0], span[1] - span[0])
                self._page = page
                self._polygons = line_boxes([p.boundingRect() for p in selection.bounds()])
        self.viewport().update()
        return len(self._polygons)

    def clear_mark(self) -> None:
        self._page, self._polygons = None, []
        self.viewport().update()

    @property
    def marked_page(self) -> Optional[int]:
        return self._page

    def page_rects(self) -> dict[int, QRect]:
        """Where each page is drawn, in viewport coordinates."""
        document = self.document()
        if document is None or document.status() != document.Status.Ready:
            return {}
        resolution = QGuiApplication.primaryScreen().logicalDotsPerInch() / 72.0
        margins, spacing = self.documentMargins(), self.pageSpacing()
        viewport = self.viewport().size()
        if self.pageMode() == QPdfView.PageMode.SinglePage:
            pages = [self.pageNavigator().currentPage()]
        else:
            pages = list(range(document.pageCount()))
        sizes = {}
        for page in pages:
            points = document.pagePointSize(page)
            if self.zoomMode() == QPdfView.ZoomMode.Custom:
                size = QSizeF(points * resolution * self.zoomFactor()).toSize()
            else:
                size = QSizeF(points * resolution).toSize()
                if self.zoomMode() == QPdfView.ZoomMode.FitToWidth and size.width() > 0:
                    size = size * ((viewport.width() - margins.left() - margins.right()) / size.width())
                elif self.zoomMode() == QPdfView.ZoomMode.FitInView:
                    room = QSize(viewport.width() - margins.left() - margins.right(),
                                 viewport.height() - spacing)
                    size = size.scaled(room, Qt.KeepAspectRatio)
            sizes[page] = size
        total_width = max((s.width() for s in sizes.values()), default=0) + margins.left() + margins.right()
        x0, y0 = self.horizontalScrollBar().value(), self.verticalScrollBar().value()
        rects, y = {}, margins.top()
        for page in pages:
            size = sizes[page]
            x = (max(total_width, viewport.width()) - size.width()) // 2
            rects[page] = QRect(x - x0, y - y0, size.width(), size.height())
            y += size.height() + spacing
        return rects

    def mark_rects(self) -> list[QRectF]:
        """The marked line boxes, in viewport coordinates."""
        if self._page is None:
            return []
        rect = self.page_rects().get(self._page)
        document = self.document()
        if rect is None or document is None:
            return []
        points = document.pagePointSize(self._page)
        if points.width() <= 0 or points.height() <= 0:
            return []
        sx, sy = rect.width() / points.width(), rect.height() / points.height()
        return [QRectF(QPointF(rect.x() + b.left() * sx, rect.y() + b.top() * sy),
                       QSizeF(b.width() * sx, b.height() * sy))
                for b in self._polygons]

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        boxes = self.mark_rects()
        if not boxes:
            return
        painter = QPainter(self.viewport())
        painter.setPen(Qt.NoPen)
        painter.setBrush(self.mark_color)
        for box in boxes:
            painter.drawRect(box.adjusted(-2, -1, 2, 1))
        painter.end()
