"""A PDF view that marks a whole cited passage, line by line, on every page
it is on.

QPdfView can only highlight the matches of one search string, so a passage
of several lines was marked by its first words alone. Here the passage is
found in the page's text layer (``QPdfDocument.getAllText``), its character
range turned into one bounding box per line (``getSelectionAtIndex``), and
those boxes painted over the rendered page. The text layer and the parser
break lines and hyphenate differently, so the passage is found by its
letters and digits (core/library/locate.py); one that begins at the foot of
its page and runs on to the next is marked on both (``passage_spans``).

QPdfView does not publish where it puts each page, so ``page_rects`` works it
out from what it does publish (zoom mode and factor, document margins, page
spacing, the screen's resolution, the scroll bars), the way Qt's own
``QPdfViewPrivate::calculateDocumentLayout`` does (Qt 6.6-6.12).
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPainter
from PySide6.QtPdfWidgets import QPdfView

from desktop_app.core.library.locate import Keyed, Span, find_passage, split_across

log = logging.getLogger(__name__)


def passage_spans(page_text: Callable[[int], str], page: int, count: int,
                  passage: str) -> dict[int, Span]:
    """Where ``passage`` is, by page (0-based): on ``page`` alone, or split
    over it and the next page (or the previous one and it, when the cited
    page is where it ends); {} when not even a part of it is on ``page``."""
    if not passage.strip() or not 0 <= page < count:
        return {}
    texts: dict[int, Keyed] = {}

    def keyed(n: int) -> Keyed:
        if n not in texts:
            texts[n] = Keyed(page_text(n))
        return texts[n]

    alone = find_passage(keyed(page), passage)
    if alone is not None and alone.found == "whole":
        return {page: alone}
    for first in (page, page - 1):
        if 0 <= first and first + 1 < count:
            split = split_across(keyed(first), keyed(first + 1), passage)
            if split is not None:
                return {first: split[0], first + 1: split[1]}
    return {page: alone} if alone is not None else {}


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
    """QPdfView plus a passage marked on the pages it is on (``mark_passage``)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._marks: dict[int, list[QRectF]] = {}   # page -> one box per line, in the page's points
        self.mark_found: Optional[str] = None        # how much of the passage was found (Span.found)
        self.mark_color = QColor(255, 196, 0, 90)

    def mark_passage(self, page: int, passage: str) -> int:
        """Mark ``passage`` cited on ``page`` (0-based); the number of line
        boxes marked (0 when the text layer does not have it)."""
        self._marks, self.mark_found = {}, None
        document = self.document()
        if document is not None:
            spans = passage_spans(lambda n: document.getAllText(n).text(), page, document.pageCount(), passage)
            for number, span in sorted(spans.items()):
                selection = document.getSelectionAtIndex(number, span.start, span.end - span.start)
                boxes = line_boxes([p.boundingRect() for p in selection.bounds()])
                if boxes:
                    self._marks[number] = boxes
            founds = {span.found for number, span in spans.items() if number in self._marks}
            if founds:
                exact = founds <= {"whole", "ends"}
                self.mark_found = (("whole" if founds == {"whole"} else "ends") if exact
                                   else "part" if "part" in founds else "start")
        self.viewport().update()
        return sum(len(boxes) for boxes in self._marks.values())

    def clear_mark(self) -> None:
        self._marks, self.mark_found = {}, None
        self.viewport().update()

    @property
    def marked_page(self) -> Optional[int]:
        """The first page marked (0-based), or None."""
        return min(self._marks) if self._marks else None

    @property
    def marked_pages(self) -> list[int]:
        return sorted(self._marks)

    def first_mark(self) -> Optional[tuple[int, QRectF]]:
        """The first marked line: its page and its box in the page's points."""
        if not self._marks:
            return None
        page = min(self._marks)
        return page, self._marks[page][0]

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

    def mark_rects(self, page: Optional[int] = None) -> list[QRectF]:
        """The marked line boxes (of ``page``, or of every page), in viewport coordinates."""
        document = self.document()
        if document is None:
            return []
        rects = self.page_rects()
        out: list[QRectF] = []
        for number, boxes in sorted(self._marks.items()):
            rect = rects.get(number)
            if rect is None or (page is not None and number != page):
                continue
            points = document.pagePointSize(number)
            if points.width() <= 0 or points.height() <= 0:
                continue
            sx, sy = rect.width() / points.width(), rect.height() / points.height()
            out.extend(QRectF(QPointF(rect.x() + b.left() * sx, rect.y() + b.top() * sy),
                              QSizeF(b.width() * sx, b.height() * sy)) for b in boxes)
        return out

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
