"""Light and dark palettes on the Fusion style, and the few style rules
Hearth adds (sidebar, chips, banners). Sizes are in points/ems so 200%
scaling stays proportional."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#e8590c"
# Filled accent surfaces with white text (selection, the primary button):
# darker than ACCENT so white on it reaches WCAG's 4.5:1 (ACCENT gives 3.6).
ACCENT_FILL = "#c2470a"


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    try:
        return hints.colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return QGuiApplication.palette().color(QPalette.Window).lightness() < 128


def resolve(theme: str) -> str:
    if theme in ("light", "dark"):
        return theme
    return "dark" if system_prefers_dark() else "light"


def _palette(dark: bool) -> QPalette:
    p = QPalette()
    if dark:
        colors = {
            QPalette.Window: "#232129", QPalette.WindowText: "#ece9f1",
            QPalette.Base: "#1b1a20", QPalette.AlternateBase: "#26242d",
            QPalette.ToolTipBase: "#2d2b35", QPalette.ToolTipText: "#ece9f1",
            QPalette.PlaceholderText: "#8d8996", QPalette.Text: "#ece9f1",
            QPalette.Button: "#2f2c37", QPalette.ButtonText: "#ece9f1",
            QPalette.BrightText: "#ffffff", QPalette.Highlight: "#c2470a",
            QPalette.HighlightedText: "#ffffff", QPalette.Link: "#ff9a5c",
            QPalette.LinkVisited: "#e58a52", QPalette.Light: "#3a3743",
            QPalette.Midlight: "#312e39", QPalette.Mid: "#26242c",
            QPalette.Dark: "#141318", QPalette.Shadow: "#000000",
        }
        disabled = "#6f6b78"
    else:
        colors = {
            QPalette.Window: "#f6f4f2", QPalette.WindowText: "#1f1c24",
            QPalette.Base: "#ffffff", QPalette.AlternateBase: "#f4f1ee",
            QPalette.ToolTipBase: "#ffffff", QPalette.ToolTipText: "#1f1c24",
            QPalette.PlaceholderText: "#6b6671", QPalette.Text: "#1f1c24",
            QPalette.Button: "#eeebe8", QPalette.ButtonText: "#1f1c24",
            QPalette.BrightText: "#ffffff", QPalette.Highlight: ACCENT_FILL,
            QPalette.HighlightedText: "#ffffff", QPalette.Link: "#c2470a",
            QPalette.LinkVisited: "#9c3a08", QPalette.Light: "#ffffff",
            QPalette.Midlight: "#e4e0dc", QPalette.Mid: "#c9c4bf",
            QPalette.Dark: "#a09a94", QPalette.Shadow: "#7a746e",
        }
        disabled = "#a19ca5"
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(disabled))
    return p


# Text/background pairs the style sheet draws (beyond the palette's), for
# the contrast test: (foreground, background) per scheme.
STYLE_TEXT_PAIRS = {
    "light": {"chip": ("#9c3a08", "#fdebe0"), "banner": ("#8a1c1c", "#fdecea"),
              "primary button": ("#ffffff", ACCENT_FILL), "sidebar selection": ("#1f1c24", "#fbe3d4"),
              "muted text on the sidebar": ("#6b6671", "#ebe7e3")},
    "dark": {"chip": ("#ffb38a", "#3a2a22"), "banner": ("#ffd1d1", "#4a1f1f"),
             "primary button": ("#ffffff", ACCENT_FILL), "sidebar selection": ("#ece9f1", "#3a2a22"),
             "muted text on the sidebar": ("#8d8996", "#1b1a20")},
}


def _stylesheet(dark: bool) -> str:
    side_bg = "#1b1a20" if dark else "#ebe7e3"
    side_sel = "#3a2a22" if dark else "#fbe3d4"
    chip_bg = "#3a2a22" if dark else "#fdebe0"
    chip_fg = "#ffb38a" if dark else "#9c3a08"
    step_bg = "#26242d" if dark else "#f1eeea"
    border = "#3a3743" if dark else "#d9d4cf"
    banner_bg = "#4a1f1f" if dark else "#fdecea"
    banner_fg = "#ffd1d1" if dark else "#8a1c1c"
    info_bg = "#1f3340" if dark else "#e7f1f8"
    user_bg = "#2f2c37" if dark else "#ece7e2"
    return f"""
    QListWidget#sidebar {{ background: {side_bg}; border: none; padding-top: 0.5em; outline: 0; }}
    QListWidget#sidebar::item {{ padding: 0.7em 0.9em; margin: 0.15em 0.4em; border-radius: 0.4em; }}
    QListWidget#sidebar::item:selected {{ background: {side_sel}; color: palette(window-text); }}
    QPushButton#chip {{ background: {chip_bg}; color: {chip_fg}; border: 1px solid {border};
        border-radius: 0.7em; padding: 0.15em 0.7em; }}
    QPushButton#chip:hover {{ border-color: {ACCENT}; }}
    QFrame#toolStep {{ background: {step_bg}; border: 1px solid {border}; border-radius: 0.4em; }}
    QFrame#userBubble {{ background: {user_bg}; border-radius: 0.6em; }}
    QFrame#answerCard {{ border: 1px solid {border}; border-radius: 0.6em; background: palette(base); }}
    QLabel#banner {{ background: {banner_bg}; color: {banner_fg}; border-radius: 0.4em; padding: 0.5em 0.8em; }}
    QLabel#info {{ background: {info_bg}; border-radius: 0.4em; padding: 0.5em 0.8em; }}
    QLabel#pageTitle {{ font-size: 15pt; font-weight: 600; }}
    QLabel#muted {{ color: palette(placeholder-text); }}
    QStatusBar QLabel {{ padding: 0 0.8em 0 0.2em; }}
    QFrame#jobRow {{ border-bottom: 1px solid {border}; }}
    QPushButton#primary {{ background: {ACCENT_FILL}; color: white; border: none; border-radius: 0.35em;
        padding: 0.35em 1.1em; font-weight: 600; }}
    QPushButton#primary:disabled {{ background: {border}; color: palette(placeholder-text); }}
    """


def apply(app: QApplication, theme: str) -> str:
    """Apply ``theme`` ("system", "light", "dark"); returns the one used."""
    chosen = resolve(theme)
    dark = chosen == "dark"
    app.setStyle("Fusion")
    app.setPalette(_palette(dark))
    app.setStyleSheet(_stylesheet(dark))
    app.setProperty("hearth_theme", chosen)
    return chosen


def is_dark() -> bool:
    app = QApplication.instance()
    return bool(app and app.property("hearth_theme") == "dark")


def highlight_colors() -> tuple[str, str]:
    """(background, foreground) for matched terms in snippets."""
    return ("#7a4a00", "#ffffff") if is_dark() else ("#ffe08a", "#1f1c24")
