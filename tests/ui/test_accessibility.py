"""A screen reader can use Hearth (issue 14, accessibility): every
interactive widget of every page and dialog has a name in the accessibility
tree, and the theme's text colours meet WCAG's 4.5:1 contrast in both
themes. Real pages and dialogs of the real window."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAccessible, QColor, QPalette
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox,
                               QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTabBar, QTextEdit,
                               QWidget)

from desktop_app.ui import theme
from tests.ui.test_models_page import _default_row, _wait_catalog

INTERACTIVE = (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QComboBox,
               QLineEdit, QPlainTextEdit, QTabBar, QTextEdit)


def unnamed_controls(root: QWidget) -> list[str]:
    """Visible interactive widgets under ``root`` whose accessible name (what
    a screen reader announces: own name, text, or the form label) is empty."""
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or not widget.isVisibleTo(root):
            continue
        parent = widget.parent()
        if isinstance(parent, (QAbstractSpinBox, QComboBox, QAbstractItemView)):
            continue  # a spin/combo box's own line edit, a table's header: the owner is named
        iface = QAccessible.queryAccessibleInterface(widget)
        name = iface.text(QAccessible.Name) if iface is not None else ""
        if not (name or "").strip():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} "
                           f"tooltip={widget.toolTip()[:40]!r}")
    return missing


def test_every_control_of_every_page_has_a_name(qtbot, window):
    for index in range(3):
        window.show_page(index)
        qtbot.wait(20)
        page = window.stack.currentWidget()
        assert unnamed_controls(page) == [], f"page {index}"
    assert unnamed_controls(window.job_panel) == []
    assert window.sidebar.accessibleName()


def undescribed_controls(root: QWidget) -> list[str]:
    """Visible interactive widgets under ``root`` without an accessible
    description (what a screen reader reads after the name)."""
    return [f"{type(w).__name__} {w.accessibleName()!r}" for w in root.findChildren(QWidget)
            if isinstance(w, INTERACTIVE) and w.isVisibleTo(root)
            and not isinstance(w.parent(), (QAbstractSpinBox, QComboBox, QAbstractItemView))
            and not w.accessibleDescription().strip()]


def test_every_control_of_every_dialog_has_a_name(qtbot, window):
    from desktop_app.ui.pages.fit_dialog import FitDialog
    from desktop_app.ui.pages.model_dialogs import EvaluateDialog, PruneDialog, QuantizeDialog
    from desktop_app.ui.settings_dialog import SettingsDialog

    window.show_page(2)
    _wait_catalog(qtbot, window)
    entry = window.models_page.model.entry(_default_row(window.models_page))
    models_dir = window.services.paths.models_dir
    fit = FitDialog(entry, window.models, context_length=2048, library_passages=0, parent=window)
    dialogs = [SettingsDialog(window.services.settings, window),
               QuantizeDialog(entry, models_dir, window), PruneDialog(entry, models_dir, window),
               EvaluateDialog(entry, None, window), fit, window.chat_page.viewer]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.wait(20)
        assert unnamed_controls(dialog) == [], dialog.windowTitle()
        dialog.hide()
    # the fit dialog is new: each of its controls also says what it does
    fit.show()
    qtbot.wait(20)
    assert undescribed_controls(fit) == []
    assert fit.chart.accessibleName() and fit.chart.accessibleDescription()
    fit.hide()


def contrast(a: QColor, b: QColor) -> float:
    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_text_colours_meet_wcag_contrast(qtbot, scheme):
    app = QApplication.instance()
    try:
        theme.apply(app, scheme)
        p = app.palette()
        pairs = {
            "text on base": (QPalette.Text, QPalette.Base),
            "text on window": (QPalette.WindowText, QPalette.Window),
            "button text": (QPalette.ButtonText, QPalette.Button),
            # Secondary ("muted") text is drawn in the placeholder colour.
            "muted text on window": (QPalette.PlaceholderText, QPalette.Window),
            "muted text on base": (QPalette.PlaceholderText, QPalette.Base),
            "selected text": (QPalette.HighlightedText, QPalette.Highlight),
            "links on base": (QPalette.Link, QPalette.Base),
            "tooltips": (QPalette.ToolTipText, QPalette.ToolTipBase),
        }
        low = {name: round(contrast(p.color(fg), p.color(bg)), 2) for name, (fg, bg) in pairs.items()
               if contrast(p.color(fg), p.color(bg)) < 4.5}
        assert low == {}
        for name, (fg, bg) in theme.STYLE_TEXT_PAIRS[scheme].items():
            assert contrast(QColor(fg), QColor(bg)) >= 4.5, (name, fg, bg)
    finally:
        theme.apply(app, "light")
