"""The source viewer (issue 14, item 10): PDFs get page navigation and zoom,
and the cited-passage box keeps a passage's lines (code stays code). Real
PDF written by Qt, real SourceViewer, real job manager."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import make_pdf


@pytest.fixture
def viewer(qtbot, window):
    return window.chat_page.viewer


def test_pdf_pages_and_zoom_are_controllable(qtbot, viewer, tmp_path):
    pdf = make_pdf(tmp_path / "manual.pdf", ["First page.", "The boiler is bled every spring.", "Index."])
    viewer.show_source({"path": str(pdf), "page": 2, "text": "The boiler is bled every spring."})
    qtbot.waitUntil(lambda: viewer.current_pdf_page == 2, timeout=5000)
    assert viewer.pdf_bar.isVisible()
    assert viewer.page_count_label.text() == "of 3"
    qtbot.waitUntil(lambda: viewer.page_box.value() == 2, timeout=5000)
    qtbot.mouseClick(viewer.next_page_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: viewer.current_pdf_page == 3, timeout=5000)
    assert not viewer.next_page_button.isEnabled()
    viewer.page_box.setValue(1)
    qtbot.waitUntil(lambda: viewer.current_pdf_page == 1, timeout=5000)
    assert not viewer.previous_page_button.isEnabled()

    assert viewer.zoom_label.text() == "fit width"
    before = viewer.pdf_view.zoomFactor()
    viewer.zoom_by(1.25)
    assert viewer.pdf_view.zoomFactor() == pytest.approx(before * 1.25)
    assert viewer.zoom_label.text().endswith("%")
    viewer.fit_width()
    assert viewer.zoom_label.text() == "fit width"


def test_the_cited_passage_keeps_its_lines(qtbot, viewer, tmp_path):
    source = tmp_path / "loops.py"
    code = "for n in range(3):\n    if n == 1:\n        continue\n    print(n)\n"
    source.write_text(code, encoding="utf-8")
    viewer.show_source({"path": str(source), "text": code, "start": 0, "end": len(code)})
    shown = viewer.passage.toPlainText()
    assert "for n in range(3):\n    if n == 1:\n        continue" in shown
    qtbot.waitUntil(lambda: viewer.highlighted is not None, timeout=10000)
    assert not viewer.pdf_view or not viewer.pdf_bar.isVisible()
