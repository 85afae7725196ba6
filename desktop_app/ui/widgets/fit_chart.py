"""The fit search's candidates as a size/loss chart: KL from the source
against file size, the Pareto front joined and filled, the other mixes
hollow, llama.cpp's standard presets as labelled squares, the budget as a
dashed line. The KL axis starts at zero, so a small loss looks small; the
size axis spans the sizes measured, in MB with labelled ticks.

A QPainter widget like the Models page's comparison chart (QtCharts would
need its own theming for the dark palette; this follows the palette)."""

from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from desktop_app.ui import theme

PRESET_COLOUR = "#1c7ed6"


def _nice_step(span: float) -> float:
    """A round tick step giving about four ticks over ``span``."""
    raw = span / 4 or 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


class FitChart(QWidget):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.search = None
        self.selected = None
        # (kind, candidate, point) as last drawn: "front", "mix" or "preset"
        self.marks: list[tuple[str, object, QPointF]] = []
        self.setMinimumHeight(self.fontMetrics().height() * 10)
        self.setAccessibleName("Size and loss of the candidates")
        self.setAccessibleDescription("Empty until a search has run.")

    def set_search(self, search) -> None:
        self.search = search
        self.selected = search.best if search is not None else None
        self.setAccessibleDescription(self._describe())
        self.update()

    def set_selected(self, candidate) -> None:
        self.selected = candidate
        self.update()

    def kind(self, candidate) -> str:
        if candidate.is_preset:
            return "preset"
        return "front" if candidate.key in {c.key for c in self.search.front} else "mix"

    def _describe(self) -> str:
        s = self.search
        if s is None:
            return "Empty until a search has run."
        measured = s.measured
        presets = ", ".join(f"{c.name} {c.mb:,.0f} MB KL {c.kl_mean:.3f}" for c in s.presets)
        return (f"KL from the source against file size for {len(measured)} candidates, "
                f"{min(c.mb for c in measured):,.0f} to {max(c.mb for c in measured):,.0f} MB; "
                f"{len(s.front)} on the Pareto front; budget {s.budget.file_bytes / 1e6:,.0f} MB; "
                f"llama.cpp presets: {presets}.")

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        grid = QColor(text)
        grid.setAlpha(45)
        accent, preset_colour = QColor(theme.ACCENT), QColor(PRESET_COLOUR)
        fm = self.fontMetrics()
        h = fm.height()
        area = QRectF(h * 4.2, h * 1.9, self.width() - h * 5.0, self.height() - h * 4.5)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(area)
        self.marks = []
        if self.search is None:
            painter.setPen(text)
            painter.drawText(area, Qt.AlignCenter | Qt.TextWordWrap,
                             "Run a search to see each candidate's size and loss here.")
            painter.end()
            return
        s = self.search
        measured = s.measured
        budget_mb = s.budget.file_bytes / 1e6
        # KL from zero (a loss axis cut above zero makes small losses look
        # large); sizes over the measured range in MB, labelled ticks.
        lo = min(min(c.mb for c in measured), budget_mb)
        hi = max(max(c.mb for c in measured), budget_mb)
        x_step = _nice_step(max(hi - lo, hi * 0.05))
        x0 = max(0.0, math.floor(lo / x_step - 0.5) * x_step)
        x1 = math.ceil(hi / x_step + 0.5) * x_step
        y1 = max(c.kl_mean for c in measured) * 1.15 or 1.0
        y_step = _nice_step(y1)
        decimals = max(0, -int(math.floor(math.log10(y_step))))

        def at(mb: float, kl: float) -> QPointF:
            return QPointF(area.left() + (mb - x0) / (x1 - x0) * area.width(), area.bottom() - kl / y1 * area.height())

        small = QFont(self.font())
        small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.85))
        painter.setFont(small)
        tick = x0
        while tick <= x1 + 1e-9:
            p = at(tick, 0)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(p.x(), area.top()), QPointF(p.x(), area.bottom()))
            painter.setPen(text)
            painter.drawText(QRectF(p.x() - h * 2, area.bottom() + 2, h * 4, h), Qt.AlignCenter, f"{tick:,.0f}")
            tick += x_step
        tick = 0.0
        while tick <= y1 + 1e-12:
            p = at(0, tick)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(area.left(), p.y()), QPointF(area.right(), p.y()))
            painter.setPen(text)
            painter.drawText(QRectF(area.left() - h * 4, p.y() - h, h * 3.8, h * 2),
                             Qt.AlignRight | Qt.AlignVCenter, f"{tick:.{decimals}f}")
            tick += y_step
        painter.drawText(QRectF(area.left(), area.bottom() + h * 1.1, area.width(), h * 1.3), Qt.AlignCenter,
                         "file size (MB)")
        painter.save()
        painter.translate(h * 0.2, area.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-area.height() / 2, 0, area.height(), h * 1.2), Qt.AlignCenter,
                         "KL from the source (lower is better)")
        painter.restore()

        # the budget
        bx = at(budget_mb, 0).x()
        painter.setPen(QPen(text, 1, Qt.DashLine))
        painter.drawLine(QPointF(bx, area.top()), QPointF(bx, area.bottom()))

        # the Pareto front, joined
        front = [at(c.mb, c.kl_mean) for c in s.front]
        painter.setPen(QPen(accent, 1.5))
        for a, b in zip(front, front[1:]):
            painter.drawLine(a, b)
        for c in measured:
            kind, p = self.kind(c), at(c.mb, c.kl_mean)
            self.marks.append((kind, c, p))
            if kind == "preset":
                painter.setPen(QPen(preset_colour, 1.5))
                painter.setBrush(preset_colour)
                painter.drawRect(QRectF(p.x() - 4.5, p.y() - 4.5, 9, 9))
                painter.setPen(text)
                label = c.name
                dx = 7 if p.x() + 7 + fm.horizontalAdvance(label) < area.right() else -7 - fm.horizontalAdvance(label)
                painter.drawText(p + QPointF(dx, -6), label)
            elif kind == "front":
                painter.setPen(QPen(accent, 1.5))
                painter.setBrush(accent)
                painter.drawEllipse(p, 4.5, 4.5)
            else:
                painter.setPen(QPen(accent, 1.5))
                painter.setBrush(Qt.NoBrush)
                painter.drawEllipse(p, 4, 4)
        if self.selected is not None:
            p = at(self.selected.mb, self.selected.kl_mean)
            painter.setPen(QPen(text, 2))
            painter.setBrush(Qt.NoBrush)
            painter.drawEllipse(p, 9, 9)

        # on the line's left (the candidates that fit), on a patch of the
        # window colour so a point under it cannot make it unreadable
        label = f"budget {budget_mb:,.0f} MB"
        width = fm.horizontalAdvance(label) + 6
        left = bx - 3 - width if bx - 3 - width > area.left() else bx + 3
        box = QRectF(left, area.top() + 2, width, h * 1.1)
        painter.fillRect(box, pal.color(pal.ColorRole.Window))
        painter.setPen(text)
        painter.drawText(box, Qt.AlignCenter, label)

        # legend, one row above the plot (inside it would hide points)
        x, y = area.left(), h * 0.9
        entries = (("front", "Pareto front (least KL for its size)"), ("mix", "other mixes"),
                   ("preset", "llama.cpp preset"), ("selected", "selected"))
        for kind, label in entries:
            p = QPointF(x + 5, y)
            if kind == "preset":
                painter.setPen(QPen(preset_colour, 1.5))
                painter.setBrush(preset_colour)
                painter.drawRect(QRectF(p.x() - 4, p.y() - 4, 8, 8))
            elif kind == "front":
                painter.setPen(QPen(accent, 1.5))
                painter.setBrush(accent)
                painter.drawEllipse(p, 4, 4)
            elif kind == "mix":
                painter.setPen(QPen(accent, 1.5))
                painter.setBrush(Qt.NoBrush)
                painter.drawEllipse(p, 4, 4)
            else:
                painter.setPen(QPen(text, 2))
                painter.setBrush(Qt.NoBrush)
                painter.drawEllipse(p, 6, 6)
            painter.setPen(text)
            painter.drawText(QPointF(x + 14, y + fm.ascent() / 2 - 1), label)
            x += 14 + fm.horizontalAdvance(label) + h * 1.2
        painter.setFont(self.font())
        painter.end()


__all__ = ["FitChart"]
