"""The Chat page with the real model and library: a streamed answer, its
citation chips opening the source viewer (a PDF at the cited page), a
calculator step, stopping, and the conversation kept in the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame

from tests.ui.conftest import activate, make_pdf


@pytest.fixture
def chat_window(services, make_window):
    services.settings.max_tokens = 48  # short answers keep the tests quick
    return make_window()


def _index(qtbot, window, paths) -> None:
    with qtbot.waitSignal(window.library.statusChanged, timeout=180000,
                          check_params_cb=lambda s: bool(s.get("folders"))
                          and not window.jobs.running("ingest")):
        window.library.add([str(p) for p in paths])


def _ask(qtbot, window, question: str, timeout: int = 240000):
    page = window.chat_page
    window.show_page(0)
    activate(window)
    page.input.setFocus()
    qtbot.keyClicks(page.input, question)
    with qtbot.waitSignal(window.chat.busyChanged, timeout=10000):
        qtbot.keyClick(page.input, Qt.Key_Return)  # Enter sends
    job = window.chat.ask_job
    qtbot.waitUntil(lambda: not job.running, timeout=timeout)
    assert job.state == "finished", f"the answer failed: {job.message}"
    return job.result


def test_streamed_answer_cites_a_pdf_page_that_opens_in_the_viewer(qtbot, chat_window, tmp_path):
    window = chat_window
    folder = tmp_path / "manuals"
    folder.mkdir()
    make_pdf(folder / "lighthouse.pdf", [
        "Keeper's handbook.\n\nThis handbook describes the daily duties of a keeper.",
        "The Gravenmoor lighthouse lamp was first lit in 1891 by keeper Ada Holm.\n\n"
        "The lamp burns paraffin and is visible for eighteen nautical miles.",
    ])
    _index(qtbot, window, [folder])
    streamed: list[str] = []
    window.chat.tokenStreamed.connect(streamed.append)

    answer = _ask(qtbot, window, "When was the Gravenmoor lighthouse lamp first lit?")

    page = window.chat_page
    assert len(streamed) >= 2, "the answer did not stream"
    card = page.cards[-1]
    assert card.text.strip() and card.text == answer.text
    assert card.body.toPlainText().strip(), "the answer is not shown"
    assert card.copy_button.isEnabled()
    chips = card.chip_buttons()
    assert chips, "no citation chips under the answer"
    assert chips[0].text().startswith("[") and "lighthouse.pdf" in chips[0].text()
    cited = card.citations[0]
    assert cited["page"] == 2

    qtbot.mouseClick(chips[0], Qt.LeftButton)
    viewer = page.viewer
    qtbot.waitUntil(viewer.isVisible, timeout=5000)
    assert viewer.title.text() == "lighthouse.pdf"
    qtbot.waitUntil(lambda: viewer.current_pdf_page == 2, timeout=5000)
    assert "page 2" in viewer.where.text()
    # The cited passage is marked on that page, every line of it.
    assert viewer.pdf_view.marked_page == 1
    assert len(viewer.pdf_view.mark_rects()) >= 1

    # The conversation is saved and listed.
    qtbot.waitUntil(lambda: page.history.count() == 1, timeout=10000)
    assert "Gravenmoor" in page.history.item(0).text()
    card.copy()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == answer.text


def test_calculator_call_is_shown_as_a_step(qtbot, chat_window):
    answer = _ask(qtbot, chat_window, "What is 1234 * 5678?")
    card = chat_window.chat_page.cards[-1]
    steps = card.findChildren(QFrame, "toolStep")
    assert steps, "no calculator step shown"
    assert any("7006652" in step.tool_text for step in steps)
    assert any(call["output"] == "7006652" for call in answer.tool_calls)


def test_stop_ends_the_answer_and_keeps_the_window_usable(qtbot, chat_window, tmp_path):
    window = chat_window
    window.services.settings.max_tokens = 400
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tea.md").write_text("# Tea\n\nGreen tea is steamed or pan-fired soon after "
                                   "picking. Black tea is oxidised before drying.\n",
                                   encoding="utf-8")
    _index(qtbot, window, [folder])
    page = window.chat_page
    window.show_page(0)
    activate(window)
    qtbot.keyClicks(page.input, "Explain in detail how green tea and black tea are made.")
    pressed = []

    def press_escape_once_started(_event):
        # What a user does once the answer is under way: Esc (the page's
        # shortcut). Sent as soon as the passages are found, while the
        # model reads the prompt: tokens of a short answer could all be out
        # before a later key press is handled.
        if not pressed:
            pressed.append(True)
            assert page.stop_button.isEnabled() and not page.send_button.isEnabled()
            qtbot.keyClick(page.input, Qt.Key_Escape)

    window.chat.retrieved.connect(press_escape_once_started)
    with qtbot.waitSignal(window.chat.busyChanged, timeout=10000):
        qtbot.keyClick(page.input, Qt.Key_Return, Qt.ControlModifier)
    job = window.chat.ask_job
    qtbot.waitUntil(lambda: not job.running, timeout=240000)
    window.chat.retrieved.disconnect(press_escape_once_started)
    assert pressed
    assert job.state == "cancelled" or job.result.stopped
    card = page.cards[-1]
    assert "stopped" in card.body.toPlainText().lower()
    assert page.send_button.isEnabled() and not page.stop_button.isEnabled()
    # The model is still usable after a stop.
    window.services.settings.max_tokens = 24
    answer = _ask(qtbot, window, "What is 2 + 3?")
    assert not answer.stopped


def test_enter_sends_shift_enter_breaks_the_line_and_the_last_question_can_be_redone(qtbot, chat_window):
    # With an empty library the engine answers without generating (the
    # controls are what is tested here, not the model).
    window = chat_window
    page = window.chat_page
    question = "What does the manual say about the boiler?"
    window.show_page(0)
    activate(window)
    page.input.setFocus()
    qtbot.keyClicks(page.input, question)
    qtbot.keyClick(page.input, Qt.Key_Return, Qt.ShiftModifier)
    assert page.input.toPlainText() == question + "\n" and not window.chat.busy
    page.input.clear()
    _ask(qtbot, window, question)
    card = page.cards[-1]
    assert "library is empty" in card.body.toPlainText()
    assert card.regenerate_button.isVisible() and card.edit_button.isVisible()
    assert len(window.chat.conversation.turns) == 1

    # Regenerate asks the same question again, in place of the last answer.
    with qtbot.waitSignal(window.chat.busyChanged, timeout=10000):
        qtbot.mouseClick(card.regenerate_button, Qt.LeftButton)
    assert not page.cards[-1].regenerate_button.isVisible()  # not while answering
    job = window.chat.ask_job
    qtbot.waitUntil(lambda: not job.running, timeout=240000)
    assert len(page.cards) == 1 and page.cards[0] is not card
    assert [t.question for t in window.chat.conversation.turns] == [question]
    assert page.cards[0].regenerate_button.isVisible()

    # Edit puts the question back in the box and takes the turn away.
    qtbot.mouseClick(page.cards[0].edit_button, Qt.LeftButton)
    assert page.input.toPlainText() == question
    assert not page.cards and not window.chat.conversation.turns


def test_answer_text_lines_up_with_its_card_and_the_column_keeps_a_readable_width(qtbot, chat_window):
    from PySide6.QtGui import QTextCursor

    window = chat_window
    window.resize(1900, 1000)
    _ask(qtbot, window, "What is 1234 * 5678?")
    page = window.chat_page
    card = page.cards[-1]
    qtbot.waitUntil(lambda: card.body.isVisible() and card.meta.isVisible(), timeout=10000)
    # The answer's first character starts where the card's other rows do.
    plain = card.body.toPlainText()
    first = QTextCursor(card.body.document())
    first.setPosition(len(plain) - len(plain.lstrip()))
    text_left = card.body.mapTo(card, card.body.cursorRect(first).topLeft()).x()
    meta_left = card.meta.mapTo(card, card.meta.contentsRect().topLeft()).x()
    assert abs(text_left - meta_left) <= 2, (text_left, meta_left)
    # On a wide window the conversation is a centred column, not 1800 px lines.
    viewport = page.scroll.viewport()
    assert page.column.width() <= page.column.maximumWidth() < viewport.width() - 100
    left = page.column.mapTo(viewport, page.column.rect().topLeft()).x()
    right_gap = viewport.width() - (left + page.column.width())
    assert abs(left - right_gap) <= 20, (left, right_gap)
    assert card.width() <= page.column.width()
