"""Saved conversations: one JSON file per conversation in the data dir.

Files are written atomically (temporary name, then rename) and user-only
(0600), so a crash mid-save never leaves a half-written conversation and a
shared machine never exposes one. A damaged file is skipped by ``list`` (and
logged) instead of hiding every other conversation.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from desktop_app.core.paths import atomic_write, ensure_private_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_ID_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
TITLE_CHARS = 60


class ConversationNotFound(KeyError):
    pass


def new_conversation_id(now: Optional[float] = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{secrets.token_hex(3)}"


def make_title(question: str) -> str:
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


@dataclass
class Turn:
    """One question and its answer, with what the answer rests on."""

    question: str
    answer: str
    citations: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    stopped: bool = False  # the user stopped the answer part-way

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "citations": self.citations,
                "tool_calls": self.tool_calls, "created": self.created, "stopped": self.stopped}

    @classmethod
    def from_dict(cls, data: dict) -> "Turn":
        return cls(question=str(data.get("question", "")), answer=str(data.get("answer", "")),
                   citations=list(data.get("citations") or []), tool_calls=list(data.get("tool_calls") or []),
                   created=float(data.get("created") or 0.0), stopped=bool(data.get("stopped", False)))


@dataclass
class Conversation:
    id: str = field(default_factory=new_conversation_id)
    title: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    turns: list[Turn] = field(default_factory=list)

    def add_turn(self, turn: Turn) -> None:
        self.turns.append(turn)
        if not self.title:
            self.title = make_title(turn.question)
        self.updated = max(time.time(), turn.created)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "id": self.id, "title": self.title, "created": self.created,
                "updated": self.updated, "turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: dict) -> "Conversation":
        return cls(id=str(data["id"]), title=str(data.get("title", "")),
                   created=float(data.get("created") or 0.0), updated=float(data.get("updated") or 0.0),
                   turns=[Turn.from_dict(t) for t in data.get("turns") or []])


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    updated: float
    turns: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "updated": self.updated, "turns": self.turns}


class ConversationStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, conversation_id: str) -> Path:
        if not _ID_PATTERN.match(conversation_id or ""):
            raise ConversationNotFound(conversation_id)
        return self.folder / f"{conversation_id}.json"

    def save(self, conversation: Conversation) -> Path:
        ensure_private_dir(self.folder)
        path = self._path(conversation.id)
        with atomic_write(path, "w") as handle:
            json.dump(conversation.to_dict(), handle, ensure_ascii=False, indent=1)
        return path

    def load(self, conversation_id: str) -> Conversation:
        path = self._path(conversation_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Conversation.from_dict(data)
        except FileNotFoundError:
            raise ConversationNotFound(conversation_id) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConversationNotFound(f"{conversation_id} (damaged file: {exc})") from None

    def list(self) -> list[ConversationSummary]:
        """Newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.json"):
            if not _ID_PATTERN.match(path.stem):
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                found.append(ConversationSummary(
                    id=str(data["id"]), title=str(data.get("title", "")),
                    updated=float(data.get("updated") or 0.0), turns=len(data.get("turns") or [])))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping damaged conversation %s: %s", path.name, exc)
        found.sort(key=lambda s: (s.updated, s.id), reverse=True)
        return found

    def delete(self, conversation_id: str) -> None:
        try:
            os.unlink(self._path(conversation_id))
        except FileNotFoundError:
            raise ConversationNotFound(conversation_id) from None
