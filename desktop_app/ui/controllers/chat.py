"""Owns the chat: asks go to the ``ChatEngine`` on the "llm" lane (the loaded
model's one owner); its events come back to the GUI thread as signals.
Stop sets the ask's token directly from the UI thread, so generation ends
within one token even though the worker is busy."""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QObject, Signal

from desktop_app.ui.workers import Job, JobManager

log = logging.getLogger(__name__)


class _EventRelay(QObject):
    """Carries engine events from the worker to the GUI thread."""

    happened = Signal(object)


class ChatController(QObject):
    retrieved = Signal(object)              # [Hit]
    toolCalled = Signal(object)           # ToolCalled event
    tokenStreamed = Signal(str)
    answerFinished = Signal(object)       # Answer
    askFailed = Signal(str)
    askStopped = Signal()
    busyChanged = Signal(bool)
    conversationsChanged = Signal(object)   # whatever ConversationStore.list() gives
    conversationOpened = Signal(object)   # a loaded conversation

    def __init__(self, services, jobs: JobManager, models, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.services = services
        self.jobs = jobs
        self.models = models
        self.conversation = None
        self.ask_job: Optional[Job] = None
        self._engine = None
        self._relay = _EventRelay(self)
        self._relay.happened.connect(self._on_event)

    @property
    def busy(self) -> bool:
        return self.ask_job is not None and self.ask_job.running

    def _engine_on_worker(self):
        if self._engine is None:
            from desktop_app.core.chat.engine import ChatEngine

            s = self.services
            self._engine = ChatEngine(s.library, s.llm, s.tools, s.settings)
        return self._engine

    # -- asking ----------------------------------------------------------------
    def ask(self, question: str) -> Optional[Job]:
        question = question.strip()
        if not question or self.busy:
            return None
        if self.conversation is None:
            from desktop_app.core.chat.conversations import Conversation

            self.conversation = Conversation()
        # The engine appends the new turn to it; it is saved once answered.
        conversation = self.conversation
        emit = self._relay.happened.emit

        def ask_job(*, token, report):
            llm = self.services.llm
            if not llm.loaded:
                info = llm.load(self.services.settings.model_path, token=token, report=report)
                emit(("loaded", info))
            engine = self._engine_on_worker()
            answer = engine.ask(question, conversation=conversation, token=token, on_event=emit)
            return answer

        short = question if len(question) < 40 else question[:39] + "…"
        # Quiet: the answer's own card shows its progress; it is not a job to list.
        job = self.jobs.start(f"Answering “{short}”", ask_job, lane="llm", kind="ask", quiet=True)
        self.ask_job = job
        job.finished.connect(self._on_answered)
        job.failed.connect(self.askFailed)
        job.cancelled.connect(self.askStopped)
        job.ended.connect(lambda: self.busyChanged.emit(False))
        self.busyChanged.emit(True)
        return job

    def take_last_turn(self):
        """Remove the conversation's last turn (to ask it again or edit it)
        and return it; None when there is none or an answer is running."""
        conversation = self.conversation
        if self.busy or conversation is None or not conversation.turns:
            return None
        turn = conversation.turns.pop()
        self.save_conversation()
        return turn

    def stop(self) -> None:
        # Directly, not via a queued slot: the worker is busy generating.
        if self.ask_job is not None:
            self.ask_job.cancel()

    def _on_event(self, event) -> None:
        if isinstance(event, tuple) and event and event[0] == "loaded":
            from desktop_app.ui.controllers.models import model_label

            self.models.loaded_label = model_label(event[1])
            self.models.modelChanged.emit(self.models.loaded_label)
            return
        name = type(event).__name__
        if name == "TokenStreamed":
            self.tokenStreamed.emit(event.text)
        elif name == "RetrievalDone":
            self.retrieved.emit(list(event.hits))
        elif name == "ToolCalled":
            self.toolCalled.emit(event)
        # AnswerFinished also arrives as the job's result; that one is used.

    def _on_answered(self, answer) -> None:
        self.answerFinished.emit(answer)
        self.save_conversation()

    # -- conversations -----------------------------------------------------------
    def new_conversation(self) -> None:
        self.stop()
        self.conversation = None

    def refresh_conversations(self) -> Job:
        job = self.jobs.start("Listing conversations",
                              lambda *, token, report: list(self.services.conversations.list()),
                              lane="work", kind="conversations", quiet=True)
        job.finished.connect(self.conversationsChanged)
        return job

    def save_conversation(self) -> None:
        conversation = self.conversation
        if conversation is None:
            return
        job = self.jobs.start("Saving the conversation",
                              lambda *, token, report: self.services.conversations.save(conversation),
                              lane="work", kind="conversations", quiet=True)
        job.finished.connect(lambda _r: self.refresh_conversations())

    def open_conversation(self, conversation_id) -> Job:
        job = self.jobs.start("Opening a conversation",
                              lambda *, token, report: self.services.conversations.load(conversation_id),
                              lane="work", kind="conversations", quiet=True)
        job.finished.connect(self._on_opened)
        return job

    def _on_opened(self, conversation) -> None:
        self.stop()
        self.conversation = conversation
        self.conversationOpened.emit(conversation)

    def delete_conversation(self, conversation_id) -> Job:
        job = self.jobs.start("Deleting a conversation",
                              lambda *, token, report: self.services.conversations.delete(conversation_id),
                              lane="work", kind="conversations", quiet=True)
        job.finished.connect(lambda _r: self.refresh_conversations())
        return job
