"""The source viewer (issue 14, item 10): PDFs get page navigation and zoom,
and the cited-passage box keeps a passage's lines (code stays code). Real
PDF written by Qt, real SourceViewer, real job manager."""

from __future__ import annotations

import pytest
from fontcheck import monospaced
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


def _tint_at(image, x: int, y: int) -> bool:
    from PySide6.QtGui import QColor

    c = QColor(image.pixel(x, y))
    return max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 25


def test_a_text_passage_with_blank_lines_is_marked_as_one_block(qtbot, viewer, tmp_path):
    """The blank lines inside a passage are coloured across the view, not
    left as slivers one character wide between the marked paragraphs."""
    from PySide6.QtGui import QTextCursor

    paragraphs = ["Bleed the radiators every autumn before the heating comes on.",
                  "Check the pressure gauge afterwards; it should read about one and a half bar.",
                  "Top up through the filling loop if it reads below one bar.",
                  "Unrelated: the garden tap is drained in November."]
    source = tmp_path / "heating.txt"
    source.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    passage = "\n\n".join(paragraphs[:3])
    viewer.resize(760, 600)
    viewer.show_source({"path": str(source), "text": passage, "start": 0, "end": len(passage)})
    qtbot.waitUntil(lambda: viewer.highlighted is not None, timeout=10000)
    view = viewer.text_view
    assert viewer.highlighted == (0, len(passage))

    def row_of(position: int) -> int:
        cursor = QTextCursor(view.document())
        cursor.setPosition(position)
        return view.cursorRect(cursor).center().y()

    blank_inside = len(paragraphs[0]) + 1          # the empty line after the first paragraph
    blank_after = len(passage) + 1                 # the empty line after the passage
    x = int(view.viewport().width() * 0.8)         # right of every line's text
    qtbot.waitUntil(lambda: _tint_at(view.viewport().grab().toImage(), x, row_of(blank_inside)), timeout=3000)
    image = view.viewport().grab().toImage()
    assert _tint_at(image, x, row_of(blank_inside + len(paragraphs[1]) + 2))   # the second blank line
    assert _tint_at(image, x, row_of(len(paragraphs[0]) // 2))                  # right of a text line
    assert not _tint_at(image, x, row_of(blank_after))                          # the passage ends there
    assert not _tint_at(image, x, row_of(blank_after + 3))


def test_code_in_the_cited_passage_is_monospace_and_prose_is_not(qtbot, viewer, tmp_path):

    source = tmp_path / "loops.html"
    source.write_text("<h1>Loops</h1><p>The continue statement skips the rest of the loop body:</p>"
                      "<pre>for n in range(3):\n    if n == 1:\n        continue\n    print(n)</pre>",
                      encoding="utf-8")
    passage = ("The continue statement skips the rest of the loop body:\n\n"
               "for n in range(3):\n    if n == 1:\n        continue\n    print(n)")
    viewer.show_source({"path": str(source), "text": passage})
    document = viewer.passage.document()
    assert "for n in range(3):\n    if n == 1:\n        continue\n    print(n)" in viewer.passage.toPlainText()

    def font_of(text: str):
        block = document.begin()
        while block.isValid() and text not in block.text():
            block = block.next()
        assert block.isValid(), text
        return block.begin().fragment().charFormat().font()

    assert monospaced(font_of("        continue"))
    assert not monospaced(font_of("The continue statement"))
    qtbot.waitUntil(lambda: viewer.highlighted is not None, timeout=10000)


def test_a_pdf_passage_over_a_page_break_is_marked_on_both_pages(qtbot, viewer):
    from pathlib import Path

    from desktop_app.core.library.parse import parse_file

    pdf = Path("/usr/share/doc/texlive-doc/latex/url/url.pdf")
    if not pdf.exists():
        pytest.skip("real PDFs come from Debian's texlive-latex-base-doc, not installed")
    blocks = list(parse_file(pdf))
    # A real paragraph cut by a page break ("... linebreaking, but" | "also accounts for ...").
    first, second = next((a, b) for a, b in zip(blocks, blocks[1:])
                         if a.page + 1 == b.page and not a.text.endswith(".") and b.text[:1].islower())
    passage = first.text + " " + second.text
    viewer.resize(760, 900)
    viewer.show_source({"path": str(pdf), "page": first.page, "text": passage})
    qtbot.waitUntil(lambda: viewer.current_pdf_page == first.page, timeout=5000)
    view = viewer.pdf_view
    assert view.marked_pages == [first.page - 1, second.page - 1]
    assert view.mark_found == "whole" and viewer.banner.text() == ""
    rects = view.page_rects()
    for page in view.marked_pages:
        boxes = view.mark_rects(page)
        assert boxes and all(rects[page].contains(b.toRect().center()) for b in boxes), page
    # The first line sits at the foot of its page: the view scrolled down to it.
    first_box = view.mark_rects(first.page - 1)[0]
    assert view.viewport().rect().contains(first_box.toRect().center())
    qtbot.waitUntil(lambda: _tinted(view.viewport().grab().toImage(), view.mark_rects(first.page - 1)[0]) > 0.5,
                    timeout=5000)
    # What the user sees on the next page: scroll to its marked lines.
    bar = view.verticalScrollBar()
    bar.setValue(bar.value() + int(view.mark_rects(second.page - 1)[0].top()) - 40)
    qtbot.waitUntil(lambda: _tinted(view.viewport().grab().toImage(), view.mark_rects(second.page - 1)[0]) > 0.5,
                    timeout=5000)
    # The page is not tinted past the passage's last line.
    last = view.mark_rects(second.page - 1)[-1]
    below = last.translated(0, last.height() * 3)
    assert _tinted(view.viewport().grab().toImage(), below) < 0.2
