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


def _tinted(image, box) -> float:
    """Share of sampled pixels inside ``box`` that are neither page white nor
    ink black/grey: the marking's tint."""
    from PySide6.QtGui import QColor

    hits = total = 0
    for fx in (0.1, 0.3, 0.5, 0.7, 0.9):
        for fy in (0.3, 0.5, 0.7):
            x, y = int(box.left() + box.width() * fx), int(box.top() + box.height() * fy)
            if not (0 <= x < image.width() and 0 <= y < image.height()):
                continue
            c = QColor(image.pixel(x, y))
            total += 1
            hits += max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 25
    return hits / total if total else 0.0


def test_a_pdf_passage_is_marked_on_every_line_not_only_its_first_words(qtbot, viewer, tmp_path):
    passage = ("The pressure relief valve is tested every spring by lifting its lever for five "
               "seconds while the boiler is hot. If no water comes out, the valve is replaced "
               "before the heating season, and the date is written in the service log kept "
               "next to the boiler. A valve that drips afterwards is replaced as well.")
    pdf = make_pdf(tmp_path / "boiler.pdf", ["Contents.", "Servicing\n\n" + passage + "\n\nThe end."])
    viewer.resize(700, 900)
    viewer.show_source({"path": str(pdf), "page": 2, "text": passage})
    qtbot.waitUntil(lambda: viewer.current_pdf_page == 2, timeout=5000)
    view = viewer.pdf_view
    assert view.marked_page == 1
    boxes = view.mark_rects()
    # The passage wraps onto several lines at this width: one box per line,
    # full lines as wide as the text column, none overlapping the next.
    assert len(boxes) >= 3, boxes
    page = view.page_rects()[1]
    assert all(b.width() > page.width() * 0.5 for b in boxes[:-1]), boxes
    assert all(a.bottom() <= b.top() + 1 for a, b in zip(boxes, boxes[1:])), boxes
    # The boxes span the passage, from its first line to its last, and sit
    # on the page below the heading (not on page 1 nor past the page).
    assert all(page.contains(b.toRect().center()) for b in boxes)
    # What the user sees: the rendered page is tinted under every line box
    # (the last line as much as the first), and not between the marked lines
    # and the page's last line "The end.".
    qtbot.waitUntil(lambda: _tinted(view.viewport().grab().toImage(), boxes[-1]) > 0.5, timeout=5000)
    image = view.viewport().grab().toImage()
    for box in boxes:
        assert _tinted(image, box) > 0.5, box
    # Not the whole page: the search model (first words only) is not used.
    assert view.searchModel().searchString() == ""
    # A passage the page does not have falls back to its first words.
    viewer.show_source({"path": str(pdf), "page": 1, "text": "Words that are nowhere in it."})
    assert view.marked_page is None and view.searchModel().searchString().startswith("Words")
