"""An inline message strip: errors and notices without a modal dialog."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget


class Banner(QFrame):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Dismiss message")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignTop)
        self.hide()

    def show_error(self, text: str) -> None:
        self.label.setObjectName("banner")
        self._show(text)

    def show_info(self, text: str) -> None:
        self.label.setObjectName("info")
        self._show(text)

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def _show(self, text: str) -> None:
        # The object name picks the style rule; re-polish to apply it.
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)
        self.label.setText(text)
        self.show()
