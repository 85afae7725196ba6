"""What the source viewer shows of a document: for an HTML file its own page,
made safe to render offline; for every other file (and for a page that
cannot be rendered) the text the index extracted, at the parser's offsets.

Qt's rich text renders the page (headings, lists, tables, ``<pre>`` code
with its lines); this module decides what it is given:

- the main content, chosen and cleaned with the indexer's own selectors
  (``parse/html.py``): navigation, sidebars, scripts, styles, forms and
  embedded frames are dropped, so what surrounds a cited passage is what
  the index read;
- no reference that leaves the document's folder: an ``<img>`` whose source
  is remote (http, https, protocol-relative, ``data:``, any other scheme) or
  a local file outside the document's folder is replaced by its alt text;
  ``<link>``, ``<base>``, ``<meta>``, style sheets and inline styles go (they
  would also fight the app's theme). The viewer's resource loader applies
  the same rule (``resource_path``) to everything Qt asks for, so nothing
  missed here is fetched either;
- a page Qt's layout could choke on is refused with a reason
  (``HtmlViewError``): larger than ``MAX_BYTES``, more than
  ``MAX_ELEMENTS`` elements or ``MAX_TEXT_CHARS`` of text, nested deeper
  than ``MAX_DEPTH`` (50,000 nested ``<b>`` hang Qt for minutes), tables
  nested deeper than ``MAX_TABLE_NESTING`` or with more than
  ``MAX_TABLE_CELLS`` cells, a list longer than ``MAX_LIST_ITEMS`` (see
  ``_check_shape``). The viewer then shows the extracted text instead; the
  caps keep the largest page that is rendered to about a second of layout
  on the window's thread.

Qt-free; ``load_source`` runs on a worker thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from desktop_app.core.library.parse.formats import HTML_SUFFIXES
from desktop_app.core.library.parse.html import _HTML_DROP, _HTML_MAIN

MAX_BYTES = 2_000_000
# The extracted text shown of any one document.
MAX_VIEW_CHARS = 2_000_000
MAX_ELEMENTS = 60_000
MAX_DEPTH = 256
MAX_TABLE_NESTING = 10
MAX_TABLE_CELLS = 6_000
MAX_LIST_ITEMS = 2_500
MAX_TEXT_CHARS = 400_000
# An attribute like width="90000" would make Qt lay out a huge page.
_MAX_LENGTH_ATTR = 4000

_UNSAFE = ", ".join([
    "script", "style", "link", "meta", "base", "noscript", "template", "iframe", "frame", "frameset",
    "object", "embed", "applet", "audio", "video", "source", "track", "canvas", "svg", "form",
    "input", "button", "select", "textarea", "title",
])
_STYLE_ATTRS = ("style", "bgcolor", "background", "color", "face")
_LENGTH_ATTRS = ("width", "height", "size")


class HtmlViewError(Exception):
    """Why a page is not rendered; ``reason`` completes "shown as plain text: …"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ViewHtml:
    """Cleaned HTML and what was kept from loading."""

    html: str
    blocked: tuple[str, ...] = ()   # image sources replaced by their alt text


@dataclass(frozen=True)
class SourceContent:
    """What the viewer shows: ``kind`` "html" (a page from ``view_html``) or
    "text" (the extracted text); ``note`` says why a page is shown as text."""

    kind: str
    content: str
    note: str = ""
    blocked: tuple[str, ...] = ()


def load_source(path: Path) -> SourceContent:
    """The page or the text of ``path``; raises ParseError when neither can be read."""
    path = Path(path)
    if path.suffix.lower() in HTML_SUFFIXES:
        try:
            page = view_html(path)
            return SourceContent("html", page.html, blocked=page.blocked)
        except HtmlViewError as exc:
            return SourceContent("text", document_text(path), note=f"Shown as plain text: {exc.reason}.")
    return SourceContent("text", document_text(path))


def document_text(path: Path) -> str:
    """The document's extracted text, laid out at the parser's offsets (so a
    chunk's start/end point at the same characters the index saw)."""
    from desktop_app.core.library.parse import parse_file

    parts: list[str] = []
    length = 0
    for block in parse_file(path):
        gap = block.start - length
        if gap > 0:  # the separator the parser counted between blocks
            newlines = min(gap, 2)
            parts.append("\n" * newlines + " " * (gap - newlines))
            length = block.start
        parts.append(block.text)
        length += len(block.text)
        if length > MAX_VIEW_CHARS:
            break
    return "".join(parts)


def resource_path(url: str, document: Path) -> Optional[Path]:
    """The local file ``url`` (relative to ``document``, or a file: URL)
    names, when it is inside the document's folder; None for anything
    remote, any other scheme, or a file outside that folder (symbolic links
    resolved)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("", "file") or parts.netloc not in ("", "localhost"):
        return None
    if not parts.path:
        return None
    folder = document.resolve().parent
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        path = folder / path
    try:
        path = path.resolve()
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(folder) else None


def _load_text(path: Path) -> str:
    from desktop_app.core.library.parse.common import _checked_size, _read_small_text

    size = _checked_size(path)
    if size > MAX_BYTES:
        raise HtmlViewError(f"the page is too large to lay out ({size / 1e6:.1f} MB)")
    return _read_small_text(path, size)


def view_html(path: Path, raw: Optional[str] = None) -> ViewHtml:
    """The page at ``path`` (or its text ``raw``) made safe to render."""
    from selectolax.lexbor import LexborHTMLParser

    path = Path(path)
    text = _load_text(path) if raw is None else raw
    if len(text) > MAX_BYTES:
        raise HtmlViewError("the page is too large to lay out")
    try:
        return _clean(LexborHTMLParser(text), path)
    except HtmlViewError:
        raise
    except Exception as exc:  # untrusted input into a native parser: never the window's problem
        raise HtmlViewError(f"the page could not be read as HTML ({type(exc).__name__})") from None


def _clean(tree, path: Path) -> ViewHtml:
    for node in tree.css(_HTML_DROP):
        node.decompose()
    for node in tree.css(_UNSAFE):
        node.decompose()
    root = next((tree.css_first(s) for s in _HTML_MAIN if tree.css_first(s) is not None), None)
    root = root or tree.body or tree.root
    if root is None:
        raise HtmlViewError("the page has no content")
    _check_shape(root)
    blocked: list[str] = []
    same_file = path.resolve()
    for node in list(_elements(root)):  # listed first: the loop replaces images
        attrs = node.attrs
        for name in list(attrs.keys()):
            lower = name.lower()
            if lower.startswith("on") or lower in _STYLE_ATTRS:
                del attrs[name]
            elif lower in _LENGTH_ATTRS and _too_long(attrs[name]):
                del attrs[name]
        if node.tag == "img":
            src = node.attributes.get("src") or ""
            if resource_path(src, path) is None:
                blocked.append(src)
                alt = (node.attributes.get("alt") or "").strip()
                if alt:
                    node.replace_with(f"[{alt}]")
                else:
                    node.decompose()
        elif node.tag == "a":
            _fix_link(node, path, same_file)
    body = root.inner_html if root.tag in ("html", "body") else root.html
    return ViewHtml(html=f"<html><body>{body}</body></html>", blocked=tuple(blocked))


def _fix_link(node, path: Path, same_file: Path) -> None:
    """A link into this page becomes "#fragment" (the viewer scrolls); a
    script link loses its target."""
    href = (node.attributes.get("href") or "").strip()
    if not href:
        return
    parts = urlsplit(href)
    if parts.scheme.lower() == "javascript":
        del node.attrs["href"]
        return
    if parts.fragment and not parts.scheme and not parts.netloc:
        target = resource_path(parts.path, path) if parts.path else same_file
        if target is not None and target == same_file:
            node.attrs["href"] = "#" + parts.fragment


def _too_long(value: Optional[str]) -> bool:
    match = re.match(r"\s*(\d+)", value or "")
    return bool(match) and int(match.group(1)) > _MAX_LENGTH_ATTR


def _elements(root):
    """Every element under ``root``, without recursion (pages nest deeply)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        child = node.child
        while child is not None:
            if child.is_element_node:
                stack.append(child)
            child = child.next


def _check_shape(root) -> None:
    """Refuse what Qt's rich-text layout takes seconds or minutes over (its
    cost grows with the square of a list's length and exponentially with
    nested tables: 15,000 items in one list took 23 s, 20 nested tables
    26 s, 2,000 items and 12 nested tables well under a second)."""
    count, cells = 0, 0
    stack = [(root, 0, 0)]
    while stack:
        node, depth, tables = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise HtmlViewError(f"the page has more than {MAX_ELEMENTS:,} elements")
        if depth > MAX_DEPTH:
            raise HtmlViewError(f"the page is nested more than {MAX_DEPTH} levels deep")
        tag = node.tag
        if tag == "table":
            tables += 1
            if tables > MAX_TABLE_NESTING:
                raise HtmlViewError(f"the page nests tables more than {MAX_TABLE_NESTING} deep")
        elif tag in ("td", "th"):
            cells += 1
            if cells > MAX_TABLE_CELLS:
                raise HtmlViewError(f"the page's tables have more than {MAX_TABLE_CELLS:,} cells")
        items = 0
        child = node.child
        while child is not None:
            if child.is_element_node:
                stack.append((child, depth + 1, tables))
                items += child.tag == "li"
            child = child.next
        if items > MAX_LIST_ITEMS:
            raise HtmlViewError(f"a list on the page has more than {MAX_LIST_ITEMS:,} items")
    text = len(root.text(deep=True))
    if text > MAX_TEXT_CHARS:
        raise HtmlViewError(f"the page has more than {MAX_TEXT_CHARS:,} characters of text")
