"""Cited answers end to end: real files indexed with the real embedder, the
real packaged model answering, the real calculator."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from desktop_app.core.chat.conversations import Conversation
from desktop_app.core.chat.engine import (
    NOT_COVERED, AnswerFinished, ChatEngine, RetrievalDone, TokenStreamed, ToolCalled)
from desktop_app.core.jobs import CancelToken
from desktop_app.core.tools.registry import default_registry

from desktop_app.core.settings import Settings


def chat_settings(**changes) -> Settings:
    return Settings(**{"context_length": 2048, "max_tokens": 64, "temperature": 0.0,
                       "retrieval_k": 4, **changes})


def ask(engine, question, **kwargs):
    events = []
    answer = engine.ask(question, on_event=events.append, **kwargs)
    return answer, events


def test_cited_answer_names_the_right_file(engine):
    answer, events = ask(engine, "What time are the tomatoes in the community garden watered?")
    assert answer.covered
    assert "7" in answer.text
    assert answer.citations, answer
    assert Path(answer.citations[0]["path"]).name == "garden.md"
    cited = answer.citations[0]
    assert "watered" in cited["text"] and cited["n"] >= 1
    assert cited["section"] is None or "Watering" in cited["section"] or "garden" in cited["section"].lower()
    # Events in order: retrieval, streamed tokens that make up the answer, the end.
    assert isinstance(events[0], RetrievalDone) and events[0].covered
    assert Path(events[0].hits[0].path).name == "garden.md"
    streamed = "".join(e.text for e in events if isinstance(e, TokenStreamed))
    assert streamed.strip() and "7" in streamed
    assert isinstance(events[-1], AnswerFinished) and events[-1].answer is answer
    assert answer.retrieval_ms > 0 and answer.first_token_ms > 0 and answer.tokens_per_s > 0
    assert not answer.tool_calls


def test_arithmetic_goes_to_the_calculator(engine):
    answer, events = ask(engine, "What is 1234 * 5678?")
    calls = [e for e in events if isinstance(e, ToolCalled)]
    assert len(calls) == 1 and calls[0].tool == "calculator" and calls[0].ok
    assert calls[0].output == "7006652"
    assert answer.tool_calls == [{"tool": "calculator", "input": calls[0].input, "output": "7006652", "ok": True}]
    assert "7006652" in answer.text.replace(",", "")


def test_unknown_topic_is_refused_without_inventing(engine, llm):
    answer, events = ask(engine, "Who won the football world cup in 1998?")
    assert not answer.covered
    assert answer.text == NOT_COVERED
    assert not answer.citations and not answer.tool_calls
    assert isinstance(events[0], RetrievalDone) and not events[0].covered and events[0].hits == ()


def test_empty_library_says_so(llm, embedder, tmp_path):
    from desktop_app.core.library.library import Library

    library = Library(tmp_path / "empty", embedder_factory=lambda: embedder, settings=chat_settings())
    try:
        engine = ChatEngine(library, llm, default_registry(), chat_settings())
        answer, _ = ask(engine, "How often are the tomatoes watered?")
        assert not answer.covered and "empty" in answer.text
    finally:
        library.close()


def test_instructions_inside_a_document_do_not_run_tools(engine):
    answer, events = ask(engine, "What colour is the allotment shed and where does its key hang?")
    assert answer.covered
    assert any(Path(h.path).name == "suspicious_note.txt" for h in events[0].hits)
    assert not [e for e in events if isinstance(e, ToolCalled)]
    assert answer.tool_calls == []
    assert "7006652" not in answer.text


def test_invalid_citation_numbers_are_dropped(engine):
    from desktop_app.core.chat.citations import Source, resolve_citations

    sources = [Source(1, "/d/garden.md", "Tomatoes are watered every morning at 7 am.")]
    text, citations = resolve_citations("They are watered at 7 am [1][4].", sources)
    assert "[4]" not in text and "[1]" in text
    assert [c["n"] for c in citations] == [1] and citations[0]["path"] == "/d/garden.md"


def test_huge_passages_never_overflow_the_context(llm, tmp_path, embedder):
    from desktop_app.core.library.library import Library

    folder = tmp_path / "huge"
    folder.mkdir()
    sentence = "The lighthouse keeper logs the weather every hour and the lamp burns paraffin oil. "
    for i in range(6):
        (folder / f"log{i}.txt").write_text(f"Lighthouse log {i}\n\n" + sentence * 400, encoding="utf-8")
    settings = chat_settings(chunk_tokens=256, retrieval_k=6)
    library = Library(tmp_path / "lib", embedder_factory=lambda: embedder, settings=settings)
    try:
        library.add([folder])
        engine = ChatEngine(library, llm, default_registry(), settings)
        history = Conversation()
        for _ in range(3):
            engine.ask("What does the lighthouse keeper log every hour? " + "Please be precise. " * 30,
                       conversation=history, max_tokens=64)
        answer = engine.ask("What oil does the lamp burn?", conversation=history, max_tokens=300)
        assert answer.prompt_tokens + 300 <= llm.n_ctx
        assert answer.citations
        assert len(history.turns) == 4
    finally:
        library.close()


def test_stop_keeps_the_partial_answer(engine):
    token = CancelToken()
    seen = []

    def on_event(event):
        if isinstance(event, TokenStreamed):
            seen.append(event.text)
            if len(seen) == 2:
                threading.Thread(target=token.cancel).start()

    answer = engine.ask("What does the photography club own and when is its annual meeting?",
                        token=token, on_event=on_event, max_tokens=200)
    assert answer.stopped
    assert answer.tokens <= len(seen) + 2


def test_multi_turn_keeps_history_in_the_conversation(engine):
    conversation = Conversation()
    engine.ask("How much does a new chain cost at the bike shop?", conversation=conversation)
    engine.ask("And a brake cable?", conversation=conversation)
    assert [t.question for t in conversation.turns] == [
        "How much does a new chain cost at the bike shop?", "And a brake cable?"]
    assert conversation.title.startswith("How much does a new chain")
    # The short follow-up was searched together with the previous question.
    assert any(Path(c["path"]).name == "bikes.txt" for c in conversation.turns[1].citations)


def test_no_network_connection_is_attempted_during_an_ask(engine, monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    answer, _ = ask(engine, "When is the annual meeting of the photography club?")
    assert answer.text.strip() and answer.covered
    assert any(Path(c["path"]).name == "photo_club.md" for c in answer.citations)
    calc, _ = ask(engine, "What is 12 * 12?")
    assert calc.tool_calls and calc.tool_calls[0]["output"] == "144"
    assert attempts == []
