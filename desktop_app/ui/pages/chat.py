"""The Chat page: past conversations, the conversation with streamed Markdown
answers, citation chips that open the source viewer, calculator steps, and a
composer with Send/Stop."""

from __future__ import annotations

import html
import logging
import re
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QTextCursor, QTextDocument
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMenu,
                               QPlainTextEdit, QPushButton, QScrollArea, QSizePolicy, QSplitter,
                               QTextBrowser, QVBoxLayout, QWidget)

from desktop_app.ui.answer_text import answer_html
from desktop_app.ui.widgets.banner import Banner

log = logging.getLogger(__name__)

RENDER_INTERVAL_MS = 60
# The widest the conversation column gets, in average characters (about 90
# characters of text per line once the cards' padding is taken off).
READABLE_CHARS = 110


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


class ChatPage(QWidget):
    def __init__(self, controller, library_controller, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.library_controller = library_controller
        self.cards: list[AnswerCard] = []
        self.current: Optional[AnswerCard] = None
        self._viewer = None

        # Left: conversations.
        self.new_button = QPushButton("New Chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_chat)
        self.history = QListWidget()
        self.history.setAccessibleName("Past conversations")
        self.history.setTextElideMode(Qt.ElideRight)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.history.setWordWrap(False)
        self.history.itemActivated.connect(self._open_item)
        self.history.itemClicked.connect(self._open_item)
        self.history.setContextMenuPolicy(Qt.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._history_menu)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(12, 12, 4, 12)
        left_layout.addWidget(self.new_button)
        history_label = QLabel("Past conversations")
        history_label.setObjectName("muted")
        left_layout.addWidget(history_label)
        left_layout.addWidget(self.history, 1)

        # Right: the conversation and the composer.
        self.banner = Banner()
        self.welcome = QLabel(welcome_text(None))
        self.welcome.setWordWrap(True)
        self.welcome.setAlignment(Qt.AlignCenter)
        self.welcome.setObjectName("muted")
        self.messages = QVBoxLayout()
        self.messages.setSpacing(10)
        # The conversation is a centred column of readable width: on a wide
        # window, answer lines stretched to 1100+ px were hard to follow.
        self.column = QWidget()
        self.column.setMaximumWidth(self.fontMetrics().averageCharWidth() * READABLE_CHARS)
        column_layout = QVBoxLayout(self.column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(self.welcome)
        column_layout.addLayout(self.messages)
        column_layout.addStretch(1)
        holder = QWidget()
        holder_layout = QHBoxLayout(holder)
        holder_layout.setContentsMargins(16, 12, 16, 12)
        holder_layout.addStretch(0)
        holder_layout.addWidget(self.column, 1)
        holder_layout.addStretch(0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setWidget(holder)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._follow)
        self._stick_to_bottom = True

        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Ask a question about your documents… "
                                      "(Enter to send, Shift+Enter for a new line)")
        self.input.installEventFilter(self)
        self.input.setAccessibleName("Question")
        self.input.setTabChangesFocus(True)
        self.input.setFixedHeight(self.fontMetrics().lineSpacing() * 4)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        composer = QHBoxLayout()
        composer.addWidget(self.input, 1)
        composer.addLayout(buttons)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 12, 12, 12)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.scroll, 1)
        right_layout.addLayout(composer)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 900])
        splitter.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        for keys in ("Ctrl+Return", "Ctrl+Enter"):  # still sends, for those used to it
            QShortcut(QKeySequence(keys), self, self.send, context=Qt.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence(Qt.Key_Escape), self, self.stop,
                  context=Qt.WidgetWithChildrenShortcut)
        # Reading order: the question box and its buttons, then the
        # conversation (scrollable by keyboard), then the list of past ones.
        self.scroll.setFocusPolicy(Qt.TabFocus)
        self.scroll.setAccessibleName("Conversation")
        self.setTabOrder(self.input, self.send_button)
        self.setTabOrder(self.send_button, self.stop_button)
        self.setTabOrder(self.stop_button, self.scroll)
        self.setTabOrder(self.scroll, self.new_button)
        self.setTabOrder(self.new_button, self.history)

        library_controller.statusChanged.connect(
            lambda status: self.welcome.setText(welcome_text(status)))
        c = controller
        c.retrieved.connect(self._on_retrieved)
        c.toolCalled.connect(self._on_tool)
        c.tokenStreamed.connect(self._on_token)
        c.answerFinished.connect(self._on_answer)
        c.askFailed.connect(self._on_failed)
        c.askStopped.connect(self._on_stopped)
        c.busyChanged.connect(self._on_busy)
        c.conversationsChanged.connect(self._show_history)
        c.conversationOpened.connect(self._show_conversation)

    def eventFilter(self, watched, event) -> bool:
        # Enter sends, Shift+Enter starts a new line (as in every chat app);
        # an input method composing text keeps its Enter.
        if watched is self.input and event.type() == QEvent.KeyPress \
                and event.key() in (Qt.Key_Return, Qt.Key_Enter) \
                and not event.modifiers() & (Qt.ShiftModifier | Qt.AltModifier):
            self.send()
            return True
        return super().eventFilter(watched, event)

    # -- actions ---------------------------------------------------------------
    def send(self) -> None:
        question = self.input.toPlainText().strip()
        if not question or self.controller.busy:
            return
        self._ask(question)

    def regenerate(self) -> None:
        turn = self._take_last()
        if turn is not None:
            self._ask(turn.question, clear_input=False)

    def edit_last(self) -> None:
        turn = self._take_last()
        if turn is not None:
            self.input.setPlainText(turn.question)
            self.input.moveCursor(QTextCursor.End)
            self.input.setFocus()

    def _take_last(self):
        turn = self.controller.take_last_turn()
        if turn is None:
            return None
        # The last question bubble and its answer card leave the view.
        for _ in range(2):
            item = self.messages.takeAt(self.messages.count() - 1) if self.messages.count() else None
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        if self.cards:
            self.cards.pop()
        self.welcome.setVisible(not self.cards)
        self._update_last_actions()
        return turn

    def _update_last_actions(self) -> None:
        busy = self.controller.busy
        for i, card in enumerate(self.cards):
            last = i == len(self.cards) - 1 and card.finished and not busy
            card.regenerate_button.setVisible(last)
            card.edit_button.setVisible(last)

    def _ask(self, question: str, *, clear_input: bool = True) -> None:
        self.banner.hide()
        self.welcome.hide()
        self._stick_to_bottom = True
        self.messages.addWidget(QuestionBubble(question))
        card = self._new_card()
        card.add_status("Searching your library…")
        self.current = card
        if clear_input:
            self.input.clear()
        if self.controller.ask(question) is None:
            card.add_status("Could not start.")

    def stop(self) -> None:
        self.controller.stop()

    def warm_up(self) -> None:
        """Build and drop one answer card while the window is idle: the first
        one costs 15-40 ms (PySide6 creates Python enum types and Qt its
        styles on first use), which otherwise lands on the first Send, just
        as the answer job starts."""
        for widget in (QuestionBubble("…"), self._detached_card()):
            widget.setParent(self)
            widget.hide()
            widget.deleteLater()

    def _detached_card(self) -> "AnswerCard":
        card = AnswerCard()
        card.add_status("…")
        return card

    def new_chat(self) -> None:
        self.controller.new_conversation()
        self._clear()
        self.history.clearSelection()
        self.input.setFocus()

    def _new_card(self) -> AnswerCard:
        card = AnswerCard()
        card.citationClicked.connect(self.open_citation)
        card.regenerate_button.clicked.connect(self.regenerate)
        card.edit_button.clicked.connect(self.edit_last)
        self.messages.addWidget(card)
        self.cards.append(card)
        return card

    def _clear(self) -> None:
        self.current = None
        self.cards = []
        while self.messages.count():
            item = self.messages.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        self.welcome.show()

    def open_citation(self, citation) -> None:
        self.viewer.show_source(citation)

    @property
    def viewer(self):
        if self._viewer is None:
            from desktop_app.ui.widgets.source_viewer import SourceViewer

            self._viewer = SourceViewer(self.controller.jobs, self)
        return self._viewer

    def shutdown(self) -> None:
        for card in self.cards:
            card._render_timer.stop()

    # -- events from the controller ----------------------------------------
    def _on_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self._update_last_actions()

    def _on_retrieved(self, hits: list) -> None:
        if self.current is None:
            return
        steps = [w for w in self.current.findChildren(QLabel) if w.objectName() == "muted"
                 and w.text().startswith("Searching")]
        files = len({h.path for h in hits})
        text = (f"Found {len(hits)} passage{'s' if len(hits) != 1 else ''} in {files} "
                f"file{'s' if files != 1 else ''}." if hits else
                "Nothing relevant found in your library.")
        if steps:
            steps[0].setText(text)
        else:
            self.current.add_status(text)

    def _on_tool(self, event) -> None:
        if self.current is not None:
            self.current.add_tool_step(str(_get(event, "tool", "tool")), _get(event, "input"),
                                       _get(event, "output"), bool(_get(event, "ok", True)))

    def _on_token(self, text: str) -> None:
        if self.current is not None:
            self.current.append(text)

    def _on_answer(self, answer) -> None:
        card = self.current
        if card is None:
            return
        self.current = None
        card.finish(str(_get(answer, "text", "")), list(_get(answer, "citations", []) or []),
                    list(_get(answer, "tool_calls", []) or []),
                    stopped_meta(answer),
                    stopped=bool(_get(answer, "stopped", False)))
        self._update_last_actions()

    def _on_failed(self, message: str) -> None:
        card = self.current
        self.current = None
        if card is not None:
            card.finish(card.text, [], [], "")
            card.add_status(f"⚠ {message}")
        self._update_last_actions()
        self.banner.show_error(f"The answer could not be completed: {message}")

    def _on_stopped(self) -> None:
        card = self.current
        self.current = None
        if card is not None:
            card.finish(card.text, [], [], "Stopped by you", stopped=True)
        self._update_last_actions()

    def _follow(self, _lo: int, hi: int) -> None:
        if self._stick_to_bottom:
            self.scroll.verticalScrollBar().setValue(hi)

    # -- history -------------------------------------------------------------
    def _show_history(self, summaries: list) -> None:
        current = self.controller.conversation
        current_id = getattr(current, "id", None)
        self.history.clear()
        for summary in summaries:
            item = QListWidgetItem(summary.title or "Untitled")
            item.setData(Qt.UserRole, summary.id)
            item.setToolTip(f"{summary.title}\n{summary.turns} question"
                            f"{'s' if summary.turns != 1 else ''}")
            self.history.addItem(item)
            if summary.id == current_id:
                item.setSelected(True)

    def _open_item(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(Qt.UserRole)
        current = self.controller.conversation
        if conversation_id and getattr(current, "id", None) != conversation_id:
            self.controller.open_conversation(conversation_id)

    def _history_menu(self, pos) -> None:
        item = self.history.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        open_action = menu.addAction("Open Conversation")
        delete = menu.addAction("Delete Conversation")
        chosen = menu.exec(self.history.mapToGlobal(pos))
        if chosen is open_action:
            self._open_item(item)
        elif chosen is delete:
            conversation_id = item.data(Qt.UserRole)
            if getattr(self.controller.conversation, "id", None) == conversation_id:
                self.new_chat()
            self.controller.delete_conversation(conversation_id)

    def _show_conversation(self, conversation) -> None:
        self._clear()
        self.welcome.setVisible(not conversation.turns)
        for turn in conversation.turns:
            self.messages.addWidget(QuestionBubble(turn.question))
            card = self._new_card()
            card.finish(turn.answer, turn.citations, turn.tool_calls,
                        "Stopped by you" if turn.stopped else "", stopped=turn.stopped)
        self._update_last_actions()
