"""PDF through PDFium: pages, bookmarks as sections, running heads and
hyphenation removed."""

from __future__ import annotations

import logging

import re
import threading
from pathlib import Path

from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.parse.common import _Sections, _open, normalize_space

# Which output this parser gives (``parser_upgrade``): bump it whenever a change
# alters the blocks of some file, and libraries parse those files again.
PARSER_VERSION = 1

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- PDF

# PDFium is not thread-safe: every call into it, from any thread, holds this lock.
_PDFIUM_LOCK = threading.Lock()

_SOFT_HYPHENS = re.compile("[\ufffe\x02\xad]")
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n[ \t]*(?=[a-z\u00e0-\u00ff])")
_SENTENCE_END = ("." , "!", "?", ":", "\u201d", '"')


def _parse_pdf(path: Path):
    """Open eagerly (so encrypted/corrupt fail at the call), then one page at a time."""
    import pypdfium2 as pdfium

    with _open(path) as handle:
        magic = handle.read(1024)
    if b"%PDF" not in magic:
        raise ParseError("corrupt PDF")
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
            n_pages = len(pdf)
            toc = _pdf_toc(pdf)
        except pdfium.PdfiumError as exc:
            message = str(exc).lower()
            if "password" in message or "security" in message:
                raise ParseError("encrypted PDF") from None
            if "file access" in message or "not found" in message:
                raise ParseError("file vanished") from None
            raise ParseError("corrupt PDF") from None
    return _pdf_pages(pdf, n_pages, toc)


def _pdf_toc(pdf) -> list[tuple[int, int, str]]:
    """(page_index, level, title) of the bookmarks, in order; [] when there are none."""
    entries = []
    try:
        for item in pdf.get_toc(max_depth=6):
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = normalize_space(item.get_title() or "")
            if index is not None and title:
                entries.append((index, item.level, title))
    except Exception:  # a broken outline must not cost the text
        log.debug("ignoring unreadable PDF outline", exc_info=True)
        return []
    return entries


def _pdf_pages(pdf, n_pages: int, toc):
    sections = _Sections()
    recent_edges: list[tuple[str, str]] = []   # (first, last) line shapes of the previous pages
    yielded = False
    toc_i = 0
    try:
        for index in range(n_pages):
            with _PDFIUM_LOCK:
                try:
                    page = pdf[index]
                    textpage = page.get_textpage()
                    raw = textpage.get_text_range()
                    textpage.close()
                    page.close()
                except Exception:
                    log.warning("PDF page %d unreadable; skipped", index + 1, exc_info=True)
                    continue
            lines = _pdf_lines(raw)
            lines = _drop_running_heads(lines, recent_edges)
            # Bookmarks pointing at this page switch the section at their heading line.
            starts: dict[int, list[tuple[int, str]]] = {}
            line_at = 0
            while toc_i < len(toc) and toc[toc_i][0] <= index:
                _, level, title = toc[toc_i]
                line_at = _find_heading(lines, title, line_at)
                starts.setdefault(line_at, []).append((level, title))
                toc_i += 1
            para: list[str] = []
            typical = _typical_width(lines)
            for i, line in enumerate(lines):
                if i in starts:
                    if para:
                        yielded = True
                        yield normalize_space(" ".join(para)), index + 1, sections.path
                        para = []
                    for level, title in starts[i]:
                        sections.set(level, title)
                para.append(line)
                if _ends_paragraph(line, typical):
                    yielded = True
                    yield normalize_space(" ".join(para)), index + 1, sections.path
                    para = []
            if para:
                yielded = True
                yield normalize_space(" ".join(para)), index + 1, sections.path
    finally:
        with _PDFIUM_LOCK:
            pdf.close()
    if not yielded:
        raise ParseError("no text (scanned PDF?)")


def _pdf_lines(raw: str) -> list[str]:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _SOFT_HYPHENS.sub("", text)   # PDFium marks a soft hyphen it already joined
    text = _HYPHEN_BREAK.sub(r"\1", text)
    return [line.strip() for line in text.split("\n") if line.strip()]


def _shape(line: str) -> str:
    return re.sub(r"[\d\s]+", "", line.lower())


def _drop_running_heads(lines: list[str], recent: list[tuple[str, str]]) -> list[str]:
    """Drop a first/last line that repeats (digits aside) on one of the two previous pages."""
    if not lines:
        return lines
    first, last = _shape(lines[0]), _shape(lines[-1])
    seen_first = {f for f, _ in recent} | {l for _, l in recent}
    recent.append((first, last))
    del recent[:-2]
    out = lines
    if len(out) > 1 and first in seen_first:
        out = out[1:]
    if len(out) > 1 and last in seen_first:
        out = out[:-1]
    # A bare page number is never content.
    return [l for l in out if not re.fullmatch(r"[-\u2013 ]*\d{1,4}[-\u2013 ]*", l)]


def _find_heading(lines: list[str], title: str, after: int) -> int:
    """Index (>= after) of the line where a bookmark's heading is; ``after`` when not found."""
    want = title.lower()
    number = re.match(r"^(\d+(?:\.\d+)*\.?)\s", title)
    for i in range(after, len(lines)):
        low = lines[i].lower()
        if low == want or (len(low) < len(want) + 40 and low.startswith(want)):
            return i
        if number and low.startswith(number.group(1) + " ") and len(low) < 120:
            return i
    return after


def _typical_width(lines: list[str]) -> int:
    widths = sorted(len(l) for l in lines)
    return widths[int(len(widths) * 0.75)] if widths else 0


def _ends_paragraph(line: str, typical: int) -> bool:
    if len(line) < typical * 0.5:
        return True   # a short line: heading, list item, last line of a paragraph
    return line.endswith(_SENTENCE_END) and len(line) < typical * 0.85
