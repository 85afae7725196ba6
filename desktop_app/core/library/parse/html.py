"""HTML (Sphinx, MkDocs, CMS pages): main content only, headings as sections."""

from __future__ import annotations

import re
from typing import Optional

from desktop_app.core.library.parse.common import _Sections, normalize_space

# Which output this parser gives (``parser_upgrade``): bump it whenever a change
# alters the blocks of some file, and libraries parse those files again.
# 2: DocBook navigation tables (div.navheader/navfooter) dropped.
# 3: permalink pilcrows after headings (a.permalink) dropped.
# 4: LaTeX2HTML navigation panels and child-link tables dropped.
# 5: XHTML's self-closed elements ("<iframe .../>") are empty, as XHTML says;
#    a "main" element holding little of the page's text is not its content;
#    a table of contents that holds headings is the document (Sphinx singlehtml).
PARSER_VERSION = 5

# ---------------------------------------------------------------- HTML

# Navigation and page furniture, including what Sphinx, MkDocs and common CMS themes add.
_HTML_DROP = ", ".join([
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
    "input", "select", "textarea", "svg", "iframe", "object", "head",
    "[role=navigation]", "[role=search]", "[role=banner]", "[role=contentinfo]", "[aria-hidden=true]",
    "div.sphinxsidebar", "div.related", "div.footer", "div.mobile-nav", "div.menu-wrapper",
    "div.inline-search", "a.headerlink", "div.breadcrumbs", "div.breadcrumb", "ul.breadcrumb",
    "ol.breadcrumb", ".breadcrumbs", ".breadcrumb", "div.sidebar", "#sidebar", ".sidebar-nav",
    "nav.contents", "div.rst-footer-buttons",
    ".skip-link", ".cookie-banner", "#cookie-banner", ".related-posts", ".share-buttons",
    # DocBook XSL (the PostgreSQL manual and many others): the Prev / Up / Home / Next
    # tables above and below every page, which repeat the page's and the chapter's titles.
    "div.navheader", "div.navfooter",
    # The pilcrow link after a heading (the Apache manual and others): "Enable ¶".
    "a.permalink",
    # LaTeX2HTML (the gnuplot manual and many papers and course notes): the
    # "Next: Isosamples Up: Set-show Previous: Historysize" panel above and
    # below every page, and the table of the subsections' links.
    "div.navigation",
])
# Tables of contents: lists of links to the page's or the site's sections,
# dropped as furniture unless they hold headings, that is the sections
# themselves: Sphinx's single-page output (the Debian Python Policy, for
# one) puts the whole document inside its toctree-wrapper.
_HTML_CONTENTS = "div.toctree-wrapper, div.contents.topic, ul.ChildLinks"
_HEADING_SELECTOR = "h1, h2, h3, h4, h5, h6"
_HTML_MAIN = ("[role=main]", "main", "article", "div.body", "div#content", "div.content")
_HTML_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "figure", "figcaption", "caption", "table", "thead", "tbody", "tfoot", "address", "details",
    "summary", "hr", "body", "center", "fieldset", "legend",
})
_HTML_HEADINGS = {f"h{i}": i for i in range(1, 7)}


# XHTML (an XML prolog, an XHTML doctype or namespace near the top) writes an
# empty element as "<iframe ... />". An HTML parser ignores that slash and
# leaves the element open, so everything after it becomes the element's
# content: after a self-closed <iframe> (raw text to an HTML parser) or an
# element dropped as furniture, the whole rest of the page is lost. The ImageMagick
# manual's pages as Debian ships them are like that.
_XHTML = re.compile(r"<\?xml|<!DOCTYPE[^>]*XHTML|xmlns=[\"']http://www\.w3\.org/1999/xhtml", re.I)
_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
         "track", "wbr")
_SELF_CLOSED = re.compile(r"<(?!(?:%s)\b)([A-Za-z][\w:-]{0,40})(\s[^<>]{0,4000}?)?/>" % "|".join(_VOID), re.I)


def _xhtml_as_html(html: str) -> str:
    """``html`` with XHTML's self-closed non-void elements written as an
    open and a close tag, when the document says it is XHTML."""
    if not _XHTML.search(html[:2000]):
        return html
    return _SELF_CLOSED.sub(lambda m: f"<{m[1]}{m[2] or ''}></{m[1]}>", html)


def _parse_html(html: str):
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_xhtml_as_html(html))
    for node in tree.css(_HTML_DROP):
        node.decompose()
    for node in tree.css(_HTML_CONTENTS):
        if node.css_first(_HEADING_SELECTOR) is None:
            node.decompose()
    page = tree.body or tree.root
    if page is None:
        return
    yield from _html_walk(_main_of(tree, page))


MAIN_SHARE = 0.25   # of the page's text, at least, for a "main" element to be the page's content


def _main_of(tree, page):
    """The element holding the page's content: the first ``_HTML_MAIN``
    match that holds at least MAIN_SHARE of the page's text (a small
    element marked role=main, a banner or a sponsor box, is not the
    content), else the whole page."""
    least = MAIN_SHARE * len(page.text(deep=True))
    for selector in _HTML_MAIN:
        for node in tree.css(selector):
            if len(node.text(deep=True)) >= least:
                return node
    return page


_DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*$")


def _api_name(dt) -> Optional[str]:
    """"shutil.copytree" from its anchor; the entry's own text ("-O", "PYTHONPATH")
    when the anchor is not a dotted name ("cmdoption-O")."""
    anchor = dt.attributes.get("id") or ""
    if _DOTTED_NAME.match(anchor):
        return anchor
    text = normalize_space(dt.text(deep=True, separator=""))
    return text[:80] or None


def _html_walk(root):
    sections = _Sections()
    inline: list[str] = []
    # API entries (Sphinx/Doxygen-like <dl><dt id="shutil.copytree" class="sig ...">) are
    # sub-sections: a citation names the function, and chunks split between entries.
    api: list[Optional[str]] = []

    def where() -> Optional[str]:
        name = next((a for a in reversed(api) if a), None)
        if name is None:
            return sections.path
        return f"{sections.path} > {name}" if sections.path else name

    def flush():
        text = normalize_space("".join(inline))
        inline.clear()
        return text

    # Iterative walk: ("enter", node) / ("leave", tag); deep pages must not hit the recursion limit.
    stack: list = [("enter", root)]
    while stack:
        action, node = stack.pop()
        if action == "leave":
            text = flush()
            if text:
                yield text, None, where()
            if node == "dl":
                api.pop()
            continue
        tag = node.tag
        if tag == "-text":
            inline.append(node.text_content or "")
            continue
        if tag in ("-comment", "-doctype") or tag is None:
            continue
        if tag in _HTML_HEADINGS:
            text = flush()
            if text:
                yield text, None, where()
            title = normalize_space(node.text(deep=True, separator=" "))
            if title:
                sections.set(_HTML_HEADINGS[tag], title)
                yield title, None, where()
            continue
        if tag == "pre":
            text = flush()
            if text:
                yield text, None, where()
            code = node.text(deep=True, separator="").strip("\n")
            if code.strip():
                yield "\n".join(l.rstrip() for l in code.split("\n")), None, where()
            continue
        if tag == "tr":
            text = flush()
            if text:
                yield text, None, where()
            cells = [normalize_space(c.text(deep=True, separator=" ")) for c in node.iter() if c.tag in ("td", "th")]
            row = " | ".join(c for c in cells if c)
            if row:
                yield row, None, where()
            continue
        if tag == "br":
            inline.append(" ")
            continue
        if tag == "img":
            alt = node.attributes.get("alt")
            if alt:
                inline.append(f" {alt} ")
            continue
        block = tag in _HTML_BLOCK
        if block:
            text = flush()
            if text:
                yield text, None, where()
            stack.append(("leave", tag))
            if tag == "dl":
                api.append(None)
            elif tag == "dt" and api and "sig" in (node.attributes.get("class") or "").split():
                api[-1] = _api_name(node) or api[-1]
        children = list(node.iter(include_text=True))
        for child in reversed(children):
            stack.append(("enter", child))
        if not block and tag not in ("span", "a", "code", "em", "strong", "b", "i", "sub", "sup", "tt",
                                     "kbd", "var", "samp", "abbr", "cite", "q", "small", "mark", "u", "s"):
            # unknown inline-ish elements: keep words apart
            inline.append(" ")
    text = flush()
    if text:
        yield text, None, where()
