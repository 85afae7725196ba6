"""Follow-up questions retrieve the topic they refer to (followup.py), with
the real embedder over a real document: the Python tutorial's control-flow
chapter (or, where the Debian docs are not installed, a real excerpt of it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_app.core.chat.conversations import Turn
from desktop_app.core.chat.engine import NOT_COVERED
from desktop_app.core.chat.followup import prompt_history, referred_turn, search_with_context

TUTORIAL = Path("/usr/share/doc/python3.11/html/tutorial/controlflow.html")

EXCERPT = """# More Control Flow Tools

## for Statements

The for statement in Python iterates over the items of any sequence (a list or a
string), in the order that they appear in the sequence.

## break and continue Statements

The break statement breaks out of the innermost enclosing for or while loop.

A for or while loop can include an else clause. In a for loop, the else clause is
executed after the loop reaches its final iteration. In either kind of loop, the
else clause is not executed if the loop was terminated by a break.

The continue statement continues with the next iteration of the loop:

    >>> for num in range(2, 10):
    ...     if num % 2 == 0:
    ...         print("Found an even number", num)
    ...         continue
    ...     print("Found an odd number", num)

## Defining Functions

The keyword def introduces a function definition. It must be followed by the
function name and the parenthesized list of formal parameters.
"""

BREAK_TURN = Turn(question="How do I leave a loop early with break?",
                  answer="The break statement breaks out of the innermost enclosing for or while loop [1].")
FOOTBALL_TURN = Turn(question="Who won the 2018 football World Cup?", answer=NOT_COVERED)


@pytest.fixture(scope="module")
def tutorial_library(embedder, tmp_path_factory):
    from desktop_app.core.library.library import Library
    from desktop_app.core.settings import Settings

    folder = tmp_path_factory.mktemp("tutorial")
    if TUTORIAL.exists():
        shutil.copy(TUTORIAL, folder / TUTORIAL.name)
    else:
        (folder / "controlflow.md").write_text(EXCERPT, encoding="utf-8")
    library = Library(tmp_path_factory.mktemp("library"), embedder_factory=lambda: embedder,
                      settings=Settings())
    report = library.add([folder])
    assert report.files == 1 and not report.failed
    yield library
    library.close()


def _search(library):
    return lambda query, k: library.search(query, k=k)


def _mentions_continue(hits) -> bool:
    return any("continue statement" in " ".join(h.text.split()).lower()
               or "continues with the next iteration" in " ".join(h.text.split()).lower()
               for h in hits)


def test_follow_up_after_an_unrelated_turn_finds_the_topic_it_refers_to(tutorial_library, embedder):
    history = [BREAK_TURN, FOOTBALL_TURN]
    found = search_with_context("And what about continue?", history, _search(tutorial_library), 4,
                                embedder.encode)
    assert found.referred is BREAK_TURN              # by meaning, not the previous turn
    assert _mentions_continue(found.hits)
    # Good enough for the engine to answer (its threshold is 0.30).
    assert max(h.similarity for h in found.hits) >= 0.30
    # The old way (glued to the previous, unrelated question) did not find it
    # as well: the kept list is at least as good as that one.
    glued = tutorial_library.search(f"{FOOTBALL_TURN.question} And what about continue?", k=4)
    assert max(h.similarity for h in found.hits) >= max(h.similarity for h in glued)


def test_a_question_of_its_own_keeps_its_own_results(tutorial_library, embedder):
    found = search_with_context("How do I define a function?", [BREAK_TURN],
                                _search(tutorial_library), 4, embedder.encode)
    assert "def" in found.hits[0].text
    assert found.query == "How do I define a function?"


def test_the_referred_turn_goes_last_in_the_prompt_history(embedder):
    history = [BREAK_TURN, FOOTBALL_TURN]
    turn = referred_turn("And what about continue?", history, embedder.encode)
    assert prompt_history(history, turn) == [FOOTBALL_TURN, BREAK_TURN]
    assert referred_turn("anything", [], embedder.encode) is None
