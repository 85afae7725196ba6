"""The Chat page: past conversations, the conversation with streamed Markdown
answers, citation chips that open the source viewer, calculator steps, and a
composer with Send/Stop."""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMenu,
                               QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget)

from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.answer_card import AnswerCard, QuestionBubble, _get, stopped_meta, welcome_text

log = logging.getLogger(__name__)

# The widest the conversation column gets, in average characters (about 90
# characters of text per line once the cards' padding is taken off).
READABLE_CHARS = 110


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
