"""The source viewer shows an HTML file as its rendered page (issue 14, item
10): structure kept, the cited passage marked and in view, nothing loaded
from the network or from outside the document's folder, links never opened,
and a hostile page shown as text instead of hanging the window. Real pages
(the Python docs), real files written here, a real local HTTP server that
counts requests, the real SourceViewer and job manager."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from fontcheck import monospaced
from PySide6.QtCore import QObject, QUrl, Qt, Slot
from PySide6.QtGui import QDesktopServices, QImage, QColor, QTextCursor, QTextDocument

from desktop_app.core.library.chunk import chunk_blocks
from desktop_app.core.library.locate import Keyed
from desktop_app.core.library.parse import parse_file
from desktop_app.ui.widgets.source_viewer import SourceRef, locate

PYDOCS = Path("/usr/share/doc/python3.11/html")
needs_pydocs = pytest.mark.skipif(not (PYDOCS / "library" / "shutil.html").exists(),
                                  reason="real HTML comes from Debian's python3.11-doc, not installed")


@pytest.fixture
def viewer(qtbot, window):
    return window.chat_page.viewer


def passages(path: Path) -> list:
    """The file's chunks as the library cuts them (tokens counted as words:
    only the passages' boundaries depend on it)."""
    return list(chunk_blocks(parse_file(path), lambda text: len(text.split()), 120, 20))


def show(qtbot, viewer, chunk_or_ref, path: Path):
    item = chunk_or_ref if isinstance(chunk_or_ref, dict) else {
        "path": str(path), "text": chunk_or_ref.text, "start": chunk_or_ref.start,
        "end": chunk_or_ref.end, "section": chunk_or_ref.section}
    viewer.show_source(item)
    qtbot.waitUntil(lambda: viewer.shown_as is not None and viewer.text_view.toPlainText() != "Loading…",
                    timeout=20000)


def block_with(document: QTextDocument, text: str):
    block = document.begin()
    while block.isValid():
        if text in block.text():
            return block
        block = block.next()
    raise AssertionError(f"no block with {text!r}")


def tinted(image, x: int, y: int) -> bool:
    color = QColor(image.pixel(x, y))
    return max(color.red(), color.green(), color.blue()) - min(color.red(), color.green(), color.blue()) > 25


def in_view(view, position: int) -> bool:
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    return view.viewport().rect().contains(view.cursorRect(cursor).center())


@needs_pydocs
def test_a_real_sphinx_page_is_rendered_with_the_passage_marked_in_view(qtbot, viewer):
    page = PYDOCS / "library" / "shutil.html"
    chunk = next(c for c in passages(page) if "ignore_patterns('*.pyc'" in c.text and "copytree example" in c.text)
    viewer.shown_as = None
    show(qtbot, viewer, chunk, page)
    view = viewer.text_view
    document = view.document()
    assert viewer.shown_as == "html" and viewer.banner.text() == ""
    # A page, not text: headings, code blocks in monospace with their lines.
    assert block_with(document, "copytree example").blockFormat().headingLevel() == 3
    code = block_with(document, "def _logpath(path, names):")
    assert monospaced(code.charFormat().font())
    assert "def _logpath(path, names):\n    logging.info('Working in %s', path)\n" in view.toPlainText()
    # The furniture the index ignored is not shown either.
    assert "Table of Contents" not in view.toPlainText() and "Previous topic" not in view.toPlainText()
    # The passage is marked as a whole, and its start is in view.
    start, end = viewer.highlighted
    assert Keyed(view.toPlainText()[start:end]).key == Keyed(chunk.text).key
    [selection] = view.extraSelections()
    assert (selection.cursor.selectionStart(), selection.cursor.selectionEnd()) == (start, end)
    assert in_view(view, start)
    assert view.verticalScrollBar().value() > 0   # scrolled down to it
    # One mark, also across the spacing between paragraphs: a bar in the
    # margin runs from the passage's first line to the bottom of the view.
    cursor = QTextCursor(document)
    cursor.setPosition(start)
    top = view.cursorRect(cursor).top()
    height = view.viewport().height()
    qtbot.waitUntil(lambda: tinted(view.viewport().grab().toImage(), 1, top + 2), timeout=3000)
    image = view.viewport().grab().toImage()
    assert all(tinted(image, 1, y) for y in range(top + 1, height - 1, 3))
    assert not tinted(image, 1, top - 4)


@needs_pydocs
def test_every_passage_of_a_real_page_is_found_in_the_rendered_page(qtbot, viewer):
    page = PYDOCS / "tutorial" / "controlflow.html"
    chunks = passages(page)
    show(qtbot, viewer, chunks[len(chunks) // 2], page)
    rendered = viewer.text_view.toPlainText()
    spans = [locate(rendered, SourceRef(str(page), c.text, start=c.start, end=c.end), by_offsets=False)
             for c in chunks]
    assert len(chunks) > 20
    assert all(s is not None and s.found == "whole" for s in spans), \
        [c.text[:60] for c, s in zip(chunks, spans) if s is None or s.found != "whole"]
    # Not the extracted text: the rendered page's characters differ from it.
    assert rendered != "\n\n".join(b.text for b in parse_file(page))


class CountingServer:
    """A real HTTP server on 127.0.0.1 that counts the requests it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = CountingServer()
    yield s
    s.close()


def png(path: Path, color: str) -> Path:
    image = QImage(24, 24, QImage.Format_RGB32)
    image.fill(QColor(color))
    assert image.save(str(path))
    return path


PASSAGE = ("The relief valve is tested every spring by lifting its lever for five seconds while the "
           "boiler is hot. If no water comes out, the valve is replaced before the heating season.")


def write_page(tmp_path: Path, server_url: str) -> tuple[Path, Path, Path]:
    outside = png(tmp_path / "private.png", "red")
    folder = tmp_path / "manual"
    folder.mkdir()
    inside = png(folder / "diagram.png", "blue")
    page = folder / "boiler.html"
    filler = "".join(f"<p>Filler paragraph {i} about nothing in particular.</p>" for i in range(60))
    page.write_text(
        f"<html><head><link rel='stylesheet' href='{server_url}/style.css'>"
        f"<script>document.write('INJECTED')</script></head><body>"
        f"<h1>Boiler notes</h1>"
        f"<p><img src='{server_url}/pixel.png' alt='remote pixel'> <img src='../private.png'>"
        f"<img src='{outside.as_uri()}' alt='private picture'> <img src='diagram.png' alt='diagram'></p>"
        f"<ul><li>First item</li><li>Second item</li></ul>"
        f"<p><a href='#later'>Jump to later</a> and <a href='{server_url}/manual'>the online manual</a>.</p>"
        f"<pre>for n in range(3):\n    if n == 1:\n        continue\n    print(n)</pre>"
        f"<table><tr><th>Part</th><th>Interval</th></tr><tr><td>Valve</td><td>yearly</td></tr></table>"
        f"{filler}<p>The relief valve is tested every spring by lifting its lever for five&nbsp;seconds "
        f"while the boiler is <em>hot</em>. If no water comes out, the valve is replaced before the "
        f"heating season.</p>{filler}<h2 id='later'>Later</h2><p>The end.</p></body></html>",
        encoding="utf-8")
    return page, inside, outside


class OpenedUrls(QObject):
    """Stands in for the desktop's browser and file manager: records what
    QDesktopServices would have opened."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_a_page_loads_nothing_from_the_network_or_outside_its_folder(qtbot, viewer, tmp_path, server):
    page, inside, outside = write_page(tmp_path, server.url)
    opened = OpenedUrls()
    for scheme in ("http", "https", "file"):
        QDesktopServices.setUrlHandler(scheme, opened, "open")
    try:
        show(qtbot, viewer, {"path": str(page), "text": PASSAGE}, page)
        view = viewer.text_view
        qtbot.waitUntil(lambda: view.served != [], timeout=5000)   # images load when laid out
        assert viewer.shown_as == "html"
        # The image in the document's folder is shown; the remote one and the
        # one outside the folder are not, and their alt text stands instead.
        assert view.served == [QUrl.fromLocalFile(str(inside)).toString()]
        text = view.toPlainText()
        assert "[remote pixel]" in text and "[private picture]" in text and "INJECTED" not in text
        # Even asked directly, the loader refuses them.
        image = QTextDocument.ResourceType.ImageResource.value
        assert view.loadResource(image, QUrl(f"{server.url}/pixel.png")) is None
        assert view.loadResource(image, QUrl.fromLocalFile(str(outside))) is None
        assert view.loadResource(QTextDocument.ResourceType.StyleSheetResource.value,
                                 QUrl.fromLocalFile(str(page.parent / "style.css"))) is None
        assert view.served == [QUrl.fromLocalFile(str(inside)).toString()]

        # Structure: heading, list, table, code with its lines in monospace.
        document = view.document()
        assert block_with(document, "Boiler notes").blockFormat().headingLevel() == 1
        assert block_with(document, "Second item").textList() is not None
        assert QTextCursor(block_with(document, "yearly")).currentTable() is not None
        assert "for n in range(3):\n    if n == 1:\n        continue\n    print(n)" in text
        assert monospaced(block_with(document, "continue").charFormat().font())

        # The passage (entities and markup differ from the extracted text) is
        # marked and in view.
        start, end = viewer.highlighted
        assert Keyed(text[start:end]).key == Keyed(PASSAGE).key
        assert in_view(view, start)

        # An internal link scrolls; an external one is shown, not opened.
        view.verticalScrollBar().setValue(0)
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=anchor_point(view, "Jump to later"))
        qtbot.waitUntil(lambda: in_view(view, block_with(document, "Later").position()), timeout=3000)
        view.verticalScrollBar().setValue(0)
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=anchor_point(view, "the online manual"))
        qtbot.waitUntil(lambda: viewer.link_label.isVisible(), timeout=3000)
        assert f"{server.url}/manual" in viewer.link_label.text()
        qtbot.wait(200)
        assert opened.urls == []
    finally:
        for scheme in ("http", "https", "file"):
            QDesktopServices.unsetUrlHandler(scheme)
    assert server.hits == []


def anchor_point(view, text: str):
    position = view.toPlainText().index(text) + 2
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    point = view.cursorRect(cursor).center()
    point.setX(point.x() + 2)
    assert view.anchorAt(point), f"no link at {text!r}"
    return point


def test_a_hostile_page_is_shown_as_text_with_a_note(qtbot, viewer, tmp_path):
    page = tmp_path / "nested.html"
    # 50,000 nested <b>: Qt's layout takes minutes over this.
    page.write_text("<p>Start. " + "<b>" * 50_000 + PASSAGE + "</p>", encoding="utf-8")
    show(qtbot, viewer, {"path": str(page), "text": PASSAGE}, page)
    assert viewer.shown_as == "text"
    assert viewer.banner.text().startswith("Shown as plain text: the page is nested more than")
    start, end = viewer.highlighted
    assert viewer.text_view.toPlainText()[start:end] == PASSAGE


def test_a_passage_that_is_not_in_the_page_says_so(qtbot, viewer, tmp_path, server):
    page, _inside, _outside = write_page(tmp_path, server.url)
    show(qtbot, viewer, {"path": str(page), "text": "Words that appear nowhere in this page at all."}, page)
    assert viewer.shown_as == "html" and viewer.highlighted is None
    assert viewer.text_view.extraSelections() == []
    assert "could not be located" in viewer.banner.text()
