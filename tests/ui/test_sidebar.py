"""The sidebar's rows never overlap (issue 14, item 1): on a real X server
they did, because the rows were laid out before the style sheet's padding
applied. Checked on the real window at several sizes, after a theme change
and with a larger font."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication


def _rows_are_disjoint_and_hold_their_text(window) -> None:
    sidebar = window.sidebar
    rects = [sidebar.visualItemRect(sidebar.item(i)) for i in range(sidebar.count())]
    assert len(rects) == 3
    for i, rect in enumerate(rects):
        # As tall as the style wants the row (text + padding), so the
        # highlight painted with that padding stays inside its row.
        assert rect.height() >= sidebar.sizeHintForRow(i), (i, rect)
        assert rect.height() >= sidebar.fontMetrics().height()
    for upper, lower in zip(rects, rects[1:]):
        assert not upper.intersects(lower), (upper, lower)
        assert lower.top() >= upper.bottom()
    # Every row is inside the visible sidebar.
    assert rects[-1].bottom() <= sidebar.viewport().height()


@pytest.mark.parametrize("size", [(800, 520), (1180, 780), (1920, 1080)])
def test_sidebar_rows_do_not_overlap(qtbot, window, size):
    window.resize(*size)  # (the smallest is clamped to the window's minimum size)
    qtbot.wait(50)  # the delayed item layout
    _rows_are_disjoint_and_hold_their_text(window)
    for page in (1, 2, 0):
        window.show_page(page)
        qtbot.wait(10)
        _rows_are_disjoint_and_hold_their_text(window)


def test_sidebar_rows_follow_a_theme_and_font_change(qtbot, window):
    from desktop_app.ui import theme

    app = QApplication.instance()
    theme.apply(app, "dark")
    qtbot.wait(50)
    _rows_are_disjoint_and_hold_their_text(window)
    old = app.font()
    big = QFont(old)
    big.setPointSizeF(old.pointSizeF() * 1.6)
    try:
        app.setFont(big)
        qtbot.wait(50)
        _rows_are_disjoint_and_hold_their_text(window)
    finally:
        app.setFont(old)
        theme.apply(app, "light")
