"""Plain text (with column-aligned tables), Markdown and reStructuredText."""

from __future__ import annotations

import re
from typing import Iterable, Optional

from desktop_app.core.library.parse.common import _Sections, _paragraphs, normalize_space
from desktop_app.core.library.parse.formats import _MAX_PARAGRAPH

# Which output this parser gives (``parser_upgrade``): bump it whenever a change
# alters the blocks of some file, and libraries parse those files again.
# 2: Markdown list items and table rows are blocks of their own; HTML
#    comments (a "<!-- YAML ... -->" change history) are dropped.
PARSER_VERSION = 2

# ---------------------------------------------------------------- plain text

_COLUMN_GAP = re.compile(r"\s{2,}|\t+")


def _aligned_table(para: str) -> Optional[str]:
    """A paragraph laid out as columns (every line splits on runs of 2+
    spaces or tabs into the same 3+ cells, some of them numbers) as a pipe
    table, "| a | b | c | | d | e | f |": collapsing its whitespace would
    lose which number sits under which heading."""
    lines = para.split("\n")
    if len(lines) < 2:
        return None
    rows = [[c for c in _COLUMN_GAP.split(line.strip())] for line in lines]
    width = len(rows[0])
    if width < 3 or any(len(row) != width for row in rows):
        return None
    if not any(re.fullmatch(r"[-+$€£]?[\d,]*\.?\d+%?", cell) for row in rows[1:] for cell in row):
        return None
    return " ".join("| " + " | ".join(normalize_space(c) for c in row) + " |" for row in rows)


def _parse_plain(lines: Iterable[str]):
    for para in _paragraphs(lines):
        yield _aligned_table(para) or normalize_space(para), None, None


# ---------------------------------------------------------------- markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_MD_EMPH = re.compile(r"(\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w))")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# A list item ("* name ...", "- ...", "1. ...", "2) ..."): a block of its
# own, as an <li> of HTML is; a list's items are not one run-on paragraph.
_MD_ITEM = re.compile(r"^\s{0,12}(?:[*+-]|\d{1,9}[.)])\s+(?=\S)")


def _md_inline(text: str) -> str:
    text = _HTML_COMMENT.sub(" ", text)
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_EMPH.sub("", text).replace("`", "")
    return normalize_space(text)


def _parse_markdown(lines: Iterable[str]):
    sections = _Sections()
    para: list[str] = []
    fence: Optional[str] = None
    code: list[str] = []
    comment = False

    def flush():
        if para:
            text = _md_inline(" ".join(para))
            para.clear()
            return text
        return None

    for line in lines:
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                yield "\n".join(code), None, sections.path
                code.clear()
            else:
                code.append(line.rstrip())
                if sum(len(c) for c in code) > _MAX_PARAGRAPH:
                    yield "\n".join(code), None, sections.path
                    code.clear()
            continue
        if comment or line.lstrip().startswith("<!--") and "-->" not in line:
            # An HTML comment over several lines (metadata such as a "<!-- YAML
            # ... -->" change history) is not text a reader sees.
            comment = "-->" not in line
            continue
        m = _FENCE.match(line)
        if m:
            text = flush()
            if text:
                yield text, None, sections.path
            fence = m.group(1)[0] * 3
            continue
        m = _ATX.match(line)
        if m:
            text = flush()
            if text:
                yield text, None, sections.path
            title = _md_inline(m.group(2) or "")
            if title:
                sections.set(len(m.group(1)), title)
                yield title, None, sections.path
            continue
        m = _SETEXT.match(line)
        if m and para:
            title = flush()
            if title:
                sections.set(1 if m.group(1)[0] == "=" else 2, title)
                yield title, None, sections.path
            continue
        if not line.strip():
            text = flush()
            if text:
                yield text, None, sections.path
            continue
        if _MD_REF_DEF.match(line):
            continue
        stripped = line.strip()
        if re.fullmatch(r"\|?[\s:|-]+\|?", stripped) and "-" in stripped and "|" in stripped:
            continue  # table separator row
        if _MD_ITEM.match(line) or stripped.startswith("|") and stripped.count("|") >= 2:
            # A list item, and a table row, starts a block of its own.
            text = flush()
            if text:
                yield text, None, sections.path
            if stripped.startswith("|"):
                stripped = " | ".join(cell.strip() for cell in stripped.strip("|").split("|"))
            else:
                stripped = _MD_ITEM.sub("", line).strip()
        para.append(stripped.lstrip(">").strip() if stripped.startswith(">") else stripped)
        if sum(len(p) for p in para) > _MAX_PARAGRAPH:
            yield flush(), None, sections.path
    if code:
        yield "\n".join(code), None, sections.path
    text = flush()
    if text:
        yield text, None, sections.path


# ---------------------------------------------------------------- reStructuredText

_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")
_RST_ROLE = re.compile(r":[a-zA-Z:+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`__?")
_RST_MARKUP = re.compile(r"``|\*\*|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|`_{0,2}|(?<=\w)_(?!\w)")


def _rst_inline(text: str) -> str:
    text = _RST_ROLE.sub(r"\1", text)
    text = _RST_LINK.sub(r"\1", text)
    text = _RST_MARKUP.sub("", text)
    return normalize_space(text)


def _parse_rst(lines: Iterable[str]):
    sections = _Sections()
    styles: list[tuple[str, bool]] = []   # adornment styles in order of first use = levels
    para: list[str] = []
    overline: Optional[str] = None

    def level_of(style) -> int:
        if style not in styles:
            styles.append(style)
        return styles.index(style) + 1

    for line in lines:
        adorn = _RST_ADORN.match(line)
        if adorn:
            char = adorn.group(1)
            if not para:
                overline = char      # may be the overline of a title; confirmed by the underline
                continue
            is_title = len(para) == 1 and (overline is not None or len(line.rstrip()) >= len(para[0]) - 1)
            if is_title:
                title = _rst_inline(para[-1])
                before = para[:-1]
                para.clear()
                if before:
                    yield _rst_inline(" ".join(before)), None, sections.path
                if title:
                    sections.set(level_of((char, overline is not None)), title)
                    yield title, None, sections.path
                overline = None
                continue
        if not line.strip():
            overline = None
            if para:
                yield _rst_inline(" ".join(para)), None, sections.path
                para.clear()
            continue
        stripped = line.strip()
        if not para and overline is None and stripped.startswith(".. ") and (
                stripped.startswith((".. _", ".. |")) or stripped == ".."):
            continue  # link targets and substitution definitions
        para.append(stripped)
        if sum(len(p) for p in para) > _MAX_PARAGRAPH:
            yield _rst_inline(" ".join(para)), None, sections.path
            para.clear()
    if para:
        yield _rst_inline(" ".join(para)), None, sections.path
