"""Saved conversations: atomic, private, listed newest first, damaged files skipped."""

from __future__ import annotations

import os
import stat

import pytest

from desktop_app.core.chat.conversations import (
    Conversation, ConversationNotFound, ConversationStore, Turn)


def test_save_list_load_delete(tmp_path):
    store = ConversationStore(tmp_path / "conversations")
    assert store.list() == []
    first = Conversation()
    first.add_turn(Turn("How often are the tomatoes watered?", "Every morning at 7 am [1].",
                        citations=[{"n": 1, "path": "/docs/garden.md", "page": None, "section": "Watering",
                                    "text": "Tomatoes are watered every morning at 7 am."}]))
    path = store.save(first)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.folder).st_mode) == 0o700
    second = Conversation()
    second.add_turn(Turn("What is 12 * 12?", "144", tool_calls=[{"tool": "calculator", "input": "12 * 12",
                                                                 "output": "144"}]))
    second.updated = first.updated + 10
    store.save(second)

    listed = store.list()
    assert [s.id for s in listed] == [second.id, first.id]
    assert listed[1].title == "How often are the tomatoes watered?" and listed[1].turns == 1

    loaded = store.load(first.id)
    assert loaded.turns[0].answer == "Every morning at 7 am [1]."
    assert loaded.turns[0].citations[0]["section"] == "Watering"
    assert store.load(second.id).turns[0].tool_calls[0]["output"] == "144"

    store.delete(first.id)
    assert [s.id for s in store.list()] == [second.id]
    with pytest.raises(ConversationNotFound):
        store.load(first.id)
    with pytest.raises(ConversationNotFound):
        store.delete(first.id)


def test_ids_cannot_escape_the_folder(tmp_path):
    store = ConversationStore(tmp_path / "c")
    for bad in ("../settings", "/etc/passwd", "", "x" * 30):
        with pytest.raises(ConversationNotFound):
            store.load(bad)


def test_damaged_file_is_skipped_and_save_leaves_no_temporary_files(tmp_path):
    store = ConversationStore(tmp_path / "c")
    good = Conversation()
    good.add_turn(Turn("q", "a"))
    store.save(good)
    (store.folder / "20260101-000000-abcdef.json").write_text("{not json", encoding="utf-8")
    assert [s.id for s in store.list()] == [good.id]
    with pytest.raises(ConversationNotFound, match="damaged"):
        store.load("20260101-000000-abcdef")
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(
        [f"{good.id}.json", "20260101-000000-abcdef.json"])


def test_long_question_makes_a_short_title():
    conversation = Conversation()
    conversation.add_turn(Turn("word " * 50, "answer"))
    assert len(conversation.title) <= 60 and conversation.title.endswith("…")
