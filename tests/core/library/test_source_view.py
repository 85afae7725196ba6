"""What the source viewer is given to render: an HTML page cleaned so that
nothing outside the document's folder is referenced, and a plain-text
fallback (with its reason) for a page Qt could choke on. Real files; no Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.source_view import (MAX_DEPTH, MAX_LIST_ITEMS, MAX_TABLE_CELLS, MAX_TABLE_NESTING,
                                                  HtmlViewError, load_source, resource_path, view_html)

PYDOCS = Path("/usr/share/doc/python3.11/html")
needs_pydocs = pytest.mark.skipif(not (PYDOCS / "library" / "shutil.html").exists(),
                                  reason="real HTML comes from Debian's python3.11-doc, not installed")


def test_only_files_inside_the_documents_folder_are_resources(tmp_path):
    folder = tmp_path / "docs"
    (folder / "img").mkdir(parents=True)
    page = folder / "page.html"
    (folder / "img" / "a.png").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", folder / "img" / "link.png")
    assert resource_path("img/a.png", page) == (folder / "img" / "a.png").resolve()
    assert resource_path((folder / "img" / "a.png").as_uri(), page) == (folder / "img" / "a.png").resolve()
    for outside in ("http://example.com/a.png", "https://example.com/a.png", "//example.com/a.png",
                    "ftp://example.com/a.png", "data:image/png;base64,iVBORw0KGgo=", "../secret.png",
                    (tmp_path / "secret.png").as_uri(), "img/link.png", "file://host/share/a.png", ""):
        assert resource_path(outside, page) is None, outside


def test_a_page_keeps_its_structure_and_loses_scripts_styles_and_outside_references(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "inside.png").write_bytes(b"x")
    page = folder / "page.html"
    page.write_text(
        "<html><head><title>T</title><link rel=stylesheet href='http://cdn.example.com/s.css'>"
        "<style>body { display: none }</style><script>document.write('INJECTED')</script></head><body>"
        "<nav>Site menu</nav><main><h1 style='color:#000'>Heading</h1><p onclick='x()'>Text "
        "<img src='http://tracker.example.com/pixel.gif' alt='remote logo'> "
        "<img src='../outside.png' alt='outside picture'> <img src='inside.png' alt='kept'></p>"
        "<a href='page.html#later'>to later</a> <a href='javascript:alert(1)'>js</a>"
        "<pre>for n in range(3):\n    print(n)</pre><iframe src='http://example.com'></iframe>"
        "<p id='later'>Later</p></main></body></html>", encoding="utf-8")
    view = view_html(page)
    html = view.html
    for gone in ("INJECTED", "display: none", "cdn.example.com", "tracker.example.com", "outside.png",
                 "Site menu", "onclick", "javascript:", "iframe", "color:#000"):
        assert gone not in html, gone
    assert "[remote logo]" in html and "[outside picture]" in html
    assert 'src="inside.png"' in html
    assert set(view.blocked) == {"http://tracker.example.com/pixel.gif", "../outside.png"}
    assert "<h1>Heading</h1>" in html and 'href="#later"' in html
    assert "for n in range(3):\n    print(n)" in html


def test_a_page_too_deep_or_too_large_is_shown_as_text_with_the_reason(tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text("<p>" + "<b>" * (MAX_DEPTH + 50) + "the words at the bottom</p>", encoding="utf-8")
    with pytest.raises(HtmlViewError):
        view_html(deep)
    content = load_source(deep)
    assert content.kind == "text" and "the words at the bottom" in content.content
    assert content.note.startswith("Shown as plain text: the page is nested more than")

    huge = tmp_path / "huge.html"
    huge.write_text("<p>" + "many words here " * 200_000 + "</p>", encoding="utf-8")
    content = load_source(huge)
    assert content.kind == "text" and "too large" in content.note

    with pytest.raises(ParseError):
        load_source(tmp_path / "vanished.html")


@pytest.mark.parametrize("shape, reason", [
    ("<ul>" + "<li>item</li>" * (MAX_LIST_ITEMS + 1) + "</ul>", "a list on the page has more than"),
    ("<table><tr><td>" * (MAX_TABLE_NESTING + 1) + "x" + "</td></tr></table>" * (MAX_TABLE_NESTING + 1),
     "the page nests tables more than"),
    ("<table>" + "<tr><td>a</td><td>b</td></tr>" * (MAX_TABLE_CELLS // 2 + 1) + "</table>",
     "the page's tables have more than"),
])
def test_shapes_that_qt_lays_out_for_minutes_are_refused(tmp_path, shape, reason):
    page = tmp_path / "shape.html"
    page.write_text(f"<p>Before.</p>{shape}", encoding="utf-8")
    with pytest.raises(HtmlViewError) as info:
        view_html(page)
    assert info.value.reason.startswith(reason)
    # One less of each is rendered.
    smaller = (shape.replace("<li>item</li>", "", 1).replace("<table><tr><td>", "", 1)
               .replace("</td></tr></table>", "", 1).replace("<tr><td>a</td><td>b</td></tr>", "", 1))
    page.write_text(f"<p>Before.</p>{smaller}", encoding="utf-8")
    assert "Before." in view_html(page).html


@needs_pydocs
def test_a_real_sphinx_page_keeps_its_content_and_drops_the_furniture():
    view = view_html(PYDOCS / "library" / "shutil.html")
    assert "copytree" in view.html and "<pre>" in view.html and "<dl" in view.html and "<h2>" in view.html
    for furniture in ("Table of Contents", "Previous topic", "Quick search", "¶", "<script", "<link"):
        assert furniture not in view.html, furniture
