"""One exchange of the conversation as the user sees it: the question bubble
and the answer card (text with code blocks, citation chips, tool results,
timings, Copy / Edit / Regenerate)."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QTextBrowser,
                               QVBoxLayout, QWidget)

from desktop_app.ui.answer_text import answer_html

RENDER_INTERVAL_MS = 60


def _get(item, key, default=None):
    if isinstance(item, dict):
        return item.get(key, default)
    return getattr(item, key, default)


def render_answer(text: str, numbers: set[int] = frozenset(), tail: str = "") -> tuple[str, list[str]]:
    """The answer as HTML (answer_text.py: text stays text, code is code),
    in the current theme's colours; and its code blocks' texts."""
    from desktop_app.ui import theme

    dark = theme.is_dark()
    return answer_html(text, numbers, code_background="#26242d" if dark else "#f1eeea",
                       border="#3a3743" if dark else "#d9d4cf", tail=tail)


def chip_text(citation) -> str:
    name = Path(str(_get(citation, "path", ""))).name
    page = _get(citation, "page")
    return f"[{_get(citation, 'n')}] {name}" + (f" · p. {page}" if page else "")


class FlowRow(QWidget):
    """Chips laid out left to right, wrapping onto new lines."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.items: list[QWidget] = []
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)

    def add(self, widget: QWidget) -> None:
        widget.setParent(self)
        widget.show()
        self.items.append(widget)
        self.updateGeometry()
        self._place(self.width())

    def _place(self, width: int) -> int:
        x = y = 0
        line = 0
        gap = 6
        for item in self.items:
            hint = item.sizeHint()
            if x and x + hint.width() > width:
                x = 0
                y += line + gap
                line = 0
            item.setGeometry(x, y, hint.width(), hint.height())
            x += hint.width() + gap
            line = max(line, hint.height())
        return y + line

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        x = y = line = 0
        for item in self.items:
            hint = item.sizeHint()
            if x and x + hint.width() > width:
                x = 0
                y += line + 6
                line = 0
            x += hint.width() + 6
            line = max(line, hint.height())
        return y + line

    def sizeHint(self) -> QSize:
        return QSize(200, self.heightForWidth(max(200, self.width())))

    def resizeEvent(self, event) -> None:
        self._place(event.size().width())


class AutoHeightBrowser(QTextBrowser):
    """A text browser as tall as its document, inside the scrolling view."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setOpenLinks(False)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.viewport().setAutoFillBackground(False)
        # No inner margin: the text lines up with the card's other rows (the
        # default 4 px indented every answer past its "Found …" line).
        self.document().setDocumentMargin(0)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)

    def _fit(self, size) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(int(size.height()) + margins.top() + margins.bottom() + 2)


class AnswerCard(QFrame):
    """One answer: steps, streamed Markdown text, source chips, actions."""

    citationClicked = Signal(object)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("answerCard")
        self.text = ""
        self.code_blocks: list[str] = []
        self.stopped = False
        self.citations: list = []
        self.finished = False
        self.steps = QVBoxLayout()
        self.steps.setSpacing(4)
        self.body = AutoHeightBrowser()
        self.body.setAccessibleName("Answer")
        self.body.anchorClicked.connect(self._on_link)
        self.body.setPlaceholderText("…")
        self.sources_label = QLabel("Sources")
        self.sources_label.setObjectName("muted")
        self.chips = FlowRow()
        self.sources_label.hide()
        self.chips.hide()
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the answer as text")
        self.copy_button.clicked.connect(self.copy)
        self.copy_button.setEnabled(False)
        self.meta = QLabel()
        self.meta.setObjectName("muted")
        # Only on the last answer (the page shows them): ask it again, or
        # put the question back in the box to change it.
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setToolTip("Ask the last question again")
        self.edit_button = QPushButton("Edit Question")
        self.edit_button.setToolTip("Put the last question back in the box to change it")
        for button in (self.regenerate_button, self.edit_button):
            button.hide()
        self.copy_button.setAccessibleName("Copy the answer")
        footer = QHBoxLayout()
        footer.addWidget(self.meta, 1)
        footer.addWidget(self.edit_button)
        footer.addWidget(self.regenerate_button)
        footer.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(self.steps)
        layout.addWidget(self.body)
        layout.addWidget(self.sources_label)
        layout.addWidget(self.chips)
        layout.addLayout(footer)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render)

    # -- streaming -----------------------------------------------------------
    def add_status(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("muted")
        label.setWordWrap(True)
        self.steps.addWidget(label)
        return label

    def add_tool_step(self, tool: str, expression: str, output: str, ok: bool = True) -> QFrame:
        step = QFrame()
        step.setObjectName("toolStep")
        label = QLabel(f"<b>{html.escape(tool.capitalize())}</b>&nbsp;&nbsp;"
                       f"<code>{html.escape(str(expression))}</code> = "
                       f"<b>{html.escape(str(output))}</b>" if ok else
                       f"<b>{html.escape(tool.capitalize())}</b>&nbsp;&nbsp;"
                       f"<code>{html.escape(str(expression))}</code>: {html.escape(str(output))}")
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        label.setWordWrap(True)
        row = QHBoxLayout(step)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(label)
        step.tool_text = f"{expression} = {output}"
        self.steps.addWidget(step)
        return step

    def append(self, text: str) -> None:
        self.text += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render(self) -> None:
        started = time.perf_counter()
        shown, self.code_blocks = render_answer(self.text, tail="" if self.finished else " ▍")
        self.body.setHtml(shown)
        # The whole answer is laid out again each time (15 ms at 20k chars
        # here): a long answer renders less often, so that rendering keeps
        # to about a fifth of the UI thread's time.
        spent_ms = (time.perf_counter() - started) * 1000
        self._render_timer.setInterval(max(RENDER_INTERVAL_MS, int(4 * spent_ms)))

    # -- finishing ---------------------------------------------------------
    def finish(self, text: str, citations: list, tool_calls: list, meta: str = "",
               stopped: bool = False) -> None:
        self.finished = True
        self._render_timer.stop()
        self.text = text
        self.citations = list(citations)
        numbers = {int(_get(c, "n")) for c in self.citations if _get(c, "n") is not None}
        self.stopped = stopped
        if text.strip():
            shown, self.code_blocks = render_answer(text, numbers)
            if stopped:
                shown += "<p><i>Stopped before the answer was complete.</i></p>"
        else:
            self.code_blocks = []
            shown = ("<p><i>Stopped before any answer was written.</i></p>" if stopped
                     else "<p><i>(no answer)</i></p>")
        self.body.setHtml(shown)
        existing = {getattr(w, "tool_text", None) for w in self.findChildren(QFrame, "toolStep")}
        for call in tool_calls:
            text_key = f"{_get(call, 'input')} = {_get(call, 'output')}"
            if text_key not in existing:
                self.add_tool_step(str(_get(call, "tool", "tool")), _get(call, "input"),
                                   _get(call, "output"), bool(_get(call, "ok", True)))
        for citation in self.citations:
            chip = QPushButton(chip_text(citation))
            chip.setObjectName("chip")
            chip.setCursor(Qt.PointingHandCursor)
            chip.setToolTip(" ".join(str(_get(citation, "text", "")).split())[:300])
            chip.setAccessibleName(f"Source {chip_text(citation)}")
            chip.clicked.connect(lambda _=False, c=citation: self.citationClicked.emit(c))
            self.chips.add(chip)
        self.sources_label.setVisible(bool(self.citations))
        self.chips.setVisible(bool(self.citations))
        self.meta.setText(meta)
        self.copy_button.setEnabled(bool(text.strip()))

    def chip_buttons(self) -> list[QPushButton]:
        return [w for w in self.chips.items if isinstance(w, QPushButton)]

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self, lambda: self.copy_button.setText("Copy"))

    def _on_link(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("copy:"):
            index = int(text[5:])
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
            return
        if text.startswith("cite:"):
            n = int(text[5:])
            for citation in self.citations:
                if _get(citation, "n") == n:
                    self.citationClicked.emit(citation)
                    return


class QuestionBubble(QFrame):
    def __init__(self, question: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("userBubble")
        label = QLabel(question)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(label)
        self.label = label


def welcome_text(status: Optional[dict]) -> str:
    """The empty conversation's text, for what the library holds now."""
    intro = ("<h2>Ask your documents</h2>"
             "<p>Hearth answers from the files in your library and shows where each part of "
             "the answer comes from. Arithmetic goes to a calculator, not a guess.</p>")
    folders = (status or {}).get("folders") or []
    if status is None:
        return intro
    if not folders:
        return intro + "<p>Add folders on the <b>Library</b> page, then ask a question below.</p>"
    files = sum(int(f.get("files") or 0) for f in folders)
    return intro + (f"<p>Your library holds {files} file{'s' if files != 1 else ''} in "
                    f"{len(folders)} folder{'s' if len(folders) != 1 else ''}. "
                    "Ask a question below.</p>")


def stopped_meta(answer) -> str:
    timing = timing_text(answer)
    if _get(answer, "stopped", False):
        return "Stopped by you" + (f" · {timing}" if timing else "")
    return timing


def timing_text(answer) -> str:
    parts = []
    retrieval = _get(answer, "retrieval_ms")
    if retrieval:
        parts.append(f"search {retrieval / 1000:.1f} s")
    first = _get(answer, "first_token_ms")
    if first:
        parts.append(f"first word {first / 1000:.1f} s")
    tps = _get(answer, "tokens_per_s")
    if tps:
        parts.append(f"{tps:.0f} tokens/s")
    return " · ".join(parts)
