"""`hearth ask` and `hearth chat` through the real CLI entry point (in
process), on a real indexed folder and the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.cli import main


@pytest.fixture
def data_dir(tmp_path, default_llm, embedder, monkeypatch):
    """A data dir whose settings keep the model small; the session's real
    embedder is reused instead of loading a second copy."""
    import desktop_app.core.library.embed as embed
    from desktop_app.core.settings import Settings

    monkeypatch.setattr(embed, "load_embedder", lambda *a, **k: embedder)
    data = tmp_path / "data"
    settings = Settings(context_length=2048, max_tokens=48, temperature=0.0, model_path=str(default_llm))
    settings.save(data / "config" / "settings.json")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bikes.txt").write_text(
        "Riverside Bike Repair\n\nThe shop fixes a flat tyre in 20 minutes and charges 15 euros for it.\n"
        "The shop is closed on Mondays.\n", encoding="utf-8")
    assert main(["--data-dir", str(data), "library", "add", str(docs)]) == 0
    return data


def test_ask_json_questions_file_and_saved_conversations(data_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "ask", "How long does the shop take to fix a flat tyre?",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"answer", "citations", "tool_calls", "retrieval_ms", "first_token_ms", "tokens_per_s"}
    assert doc["answer"] and Path(doc["citations"][0]["path"]).name == "bikes.txt"
    assert {"n", "path", "page", "section", "text"} <= set(doc["citations"][0])

    questions = tmp_path / "questions.txt"
    questions.write_text("What is 25 * 4?\n\nWho painted the Mona Lisa?\n", encoding="utf-8")
    assert main(["--data-dir", str(data_dir), "ask", "--questions", str(questions), "--json"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["question"] for l in lines] == ["What is 25 * 4?", "Who painted the Mona Lisa?"]
    assert lines[0]["tool_calls"][0]["output"] == "100"
    assert lines[1]["covered"] is False and lines[1]["citations"] == []

    assert main(["--data-dir", str(data_dir), "chat", "list", "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert len(saved) == 3  # each question is its own conversation
    assert main(["--data-dir", str(data_dir), "chat", "show", saved[-1]["id"]]) == 0
    assert "flat tyre" in capsys.readouterr().out


def test_ask_streams_then_lists_sources_and_bad_model_is_a_clear_error(data_dir, tmp_path, capsys):
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "ask", "On which day is the bike shop closed?", "--no-save"]) == 0
    out = capsys.readouterr().out
    answer, _, sources = out.partition("\nSources:\n")
    assert answer.strip() and "bikes.txt" in sources

    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model")
    assert main(["--data-dir", str(data_dir), "ask", "hi", "--model", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "GGUF" in err and "Traceback" not in err


def test_ask_questions_goes_on_after_a_question_that_fails(data_dir, tmp_path, capsys):
    """One question far longer than the context must not end the run: each
    question gets its own line, the exit status says that one failed."""
    capsys.readouterr()
    questions = tmp_path / "questions.txt"
    too_long = "Why is the bike shop closed " + "and why " * 3000 + "on Mondays?"
    questions.write_text(f"What is 25 * 4?\n{too_long}\nOn which day is the bike shop closed?\n",
                         encoding="utf-8")
    code = main(["--data-dir", str(data_dir), "ask", "--questions", str(questions), "--json", "--no-save"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1, captured.err
    assert [line["question"] for line in lines] == ["What is 25 * 4?", too_long,
                                                    "On which day is the bike shop closed?"]
    assert lines[0]["tool_calls"][0]["output"] == "100"
    assert set(lines[1]) == {"question", "error"} and "context" in lines[1]["error"]
    assert lines[2]["answer"] and "error" not in lines[2]
    assert "1 of 3 questions could not be answered" in captured.err and "Traceback" not in captured.err

    # Without --json: the same, as text lines on stderr between the answers.
    code = main(["--data-dir", str(data_dir), "ask", "--questions", str(questions), "--no-save"])
    captured = capsys.readouterr()
    assert code == 1
    assert "question 2 could not be answered" in captured.err
    assert "Sources:" in captured.out  # the third question was answered after the failure
