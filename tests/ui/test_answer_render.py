"""Answers render as a reader expects (issue 14, item 3): Python sessions
and other code show as code blocks (monospace, lines kept, a copy link),
``>>>`` never becomes a nested quote that pushes the text right, and the
model's text never turns into accidental Markdown. Real AnswerCard widgets."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication, QTextFormat

from desktop_app.ui.answer_text import split_blocks
from desktop_app.ui.widgets.answer_card import AnswerCard

SESSION_ANSWER = """The continue statement skips to the next iteration [1]:

>>> for num in range(2, 5):
...     if num % 2 == 0:
...         continue
...     print(num)
3

Note that 2 * 3 * 4 is 24, _not_ __init__, and # is not a heading.
- one
- two"""


def _blocks(document):
    block = document.begin()
    while block.isValid():
        yield block
        block = block.next()


def _show(qtbot, text, citations=()):
    card = AnswerCard()
    qtbot.addWidget(card)
    card.resize(700, 400)
    card.show()
    card.finish(text, list(citations), [], "")
    return card


def test_python_prompts_render_as_a_code_block_not_nested_quotes(qtbot):
    card = _show(qtbot, SESSION_ANSWER, [{"n": 1, "path": "/docs/controlflow.html", "text": "continue"}])
    document = card.body.document()
    shown = card.body.toPlainText()
    # Every line of the session is there, in order, its indentation kept.
    assert ">>> for num in range(2, 5):\n...     if num % 2 == 0:\n...         continue" in shown
    for block in _blocks(document):
        assert int(block.blockFormat().property(QTextFormat.BlockQuoteLevel) or 0) == 0, block.text()
        assert block.blockFormat().indent() == 0, block.text()
    first = next(b for b in _blocks(document) if b.text().startswith(">>> for"))
    assert first.charFormat().fontFixedPitch() or "monospace" in first.charFormat().fontFamilies()
    # The first prompt starts at the left, like the prose (not pushed right).
    prose = next(b for b in _blocks(document) if b.text().startswith("The continue"))
    x_code = document.documentLayout().blockBoundingRect(first).x()
    x_prose = document.documentLayout().blockBoundingRect(prose).x()
    assert x_code - x_prose < 20
    # Prose stays what the model wrote: no emphasis eating * or _, no heading, no list.
    assert "2 * 3 * 4 is 24, _not_ __init__, and # is not a heading." in shown
    assert "- one\n- two" in shown
    # The citation marker is a link the viewer opens.
    assert 'href="cite:1"' in card.body.toHtml()


def test_the_copy_link_copies_the_code_as_written(qtbot):
    card = _show(qtbot, "Run this:\n\n```python\ndef f(x):\n    return x * 2\n```\nDone.")
    assert card.code_blocks == ["def f(x):\n    return x * 2"]
    assert "Copy code" in card.body.toPlainText()
    card.body.anchorClicked.emit(QUrl("copy:0"))
    assert QGuiApplication.clipboard().text() == "def f(x):\n    return x * 2"
    shown = card.body.toPlainText()
    assert "def f(x):\n    return x * 2" in shown and "```" not in shown


def test_streaming_text_renders_the_same_way(qtbot):
    card = AnswerCard()
    qtbot.addWidget(card)
    card.show()
    card.append(">>> print('hi')\nhi")
    qtbot.waitUntil(lambda: "print('hi')" in card.body.toPlainText(), timeout=2000)
    for block in _blocks(card.body.document()):
        assert int(block.blockFormat().property(QTextFormat.BlockQuoteLevel) or 0) == 0


def test_a_stopped_answer_says_stopped(qtbot):
    card = AnswerCard()
    qtbot.addWidget(card)
    card.finish("", [], [], "Stopped by you", stopped=True)
    assert "stopped" in card.body.toPlainText().lower()
    assert "done" not in card.body.toPlainText().lower()


def test_blocks_recognise_sessions_fences_and_indented_code_only():
    kinds = [b.kind for b in split_blocks("Intro\n\n    x = 1\n    y = 2\n\nMore text\n  not code")]
    assert kinds == ["text", "code", "text"]
    assert [b.kind for b in split_blocks("a > b and c >> d")] == ["text"]
