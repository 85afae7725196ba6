"""Turn a file into clean text blocks: PDF, DOCX, HTML, Markdown, reST, text, code.

``parse_file(path)`` checks the file right away (missing, unreadable, empty,
binary, encrypted, corrupt, unsupported all raise ``ParseError`` from the
call itself) and returns an iterator of ``Block``. A problem found only while
reading (a PDF with no text on any page, a text file that is all blank) raises
``ParseError`` from the iteration, so a consumer keeps a file's blocks
tentative until the iterator is exhausted.

The document's *extracted text* is the blocks' texts joined by ``BLOCK_SEP``:
block ``i + 1`` starts at ``block[i].start + len(block[i].text) + len(BLOCK_SEP)``.
Chunk offsets (``chunk.py``) index that same text.

Text-like formats stream: the file is read in pieces and decoded
incrementally (the encoding is detected on a sample), so memory stays bounded
on a file of any size. PDF, DOCX and HTML are parsed by their libraries, which
hold one document (PDF: one page) at a time.

One module per format (``text``, ``code``, ``pdf``, ``docx``, ``html``), the
suffixes in ``formats`` and what they share in ``common``; this module
dispatches. Each format module has a ``PARSER_VERSION`` (what its output
is; a change to ``common`` bumps those of the formats whose blocks it
changes): ``parser_version(path)`` is the one that parses ``path``, which a
library records per file and parses the file again when it grows
(``parser_upgrade``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from desktop_app.core.library.documents import Block, ParseError
from desktop_app.core.library.parse import code, docx, html, pdf, text
from desktop_app.core.library.parse.code import _parse_code
from desktop_app.core.library.parse.common import _checked_size, _numbered, _read_small_text, _text_lines, \
    detect_encoding, normalize_space
from desktop_app.core.library.parse.docx import _parse_docx
from desktop_app.core.library.parse.formats import (
    BLOCK_SEP, CODE_SUFFIXES, HTML_SUFFIXES, MARKDOWN_SUFFIXES, RST_SUFFIXES, SUPPORTED_SUFFIXES, TEXT_SUFFIXES,
    _TEXT_NAMES)
from desktop_app.core.library.parse.html import _parse_html
from desktop_app.core.library.parse.pdf import _parse_pdf
from desktop_app.core.library.parse.text import _parse_markdown, _parse_plain, _parse_rst

__all__ = ["BLOCK_SEP", "SUPPORTED_SUFFIXES", "TEXT_SUFFIXES", "MARKDOWN_SUFFIXES", "RST_SUFFIXES", "HTML_SUFFIXES",
           "CODE_SUFFIXES", "ParseError", "detect_encoding", "is_supported", "newest_parser_version",
           "normalize_space", "parse_file", "parser_version"]


def is_supported(path) -> bool:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return True
    return suffix == "" and p.name.lower() in _TEXT_NAMES


def parse_file(path: Path) -> Iterator[Block]:
    """Blocks of clean text of ``path``; see the module docstring for errors."""
    path = Path(path)
    if not is_supported(path):
        raise ParseError("unsupported format")
    size = _checked_size(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _numbered(_parse_pdf(path))
    if suffix == ".docx":
        return _numbered(_parse_docx(path))
    if suffix in HTML_SUFFIXES:
        return _numbered(_parse_html(_read_small_text(path, size)))
    lines = _text_lines(path)
    if suffix in MARKDOWN_SUFFIXES:
        return _numbered(_parse_markdown(lines))
    if suffix in RST_SUFFIXES:
        return _numbered(_parse_rst(lines))
    if suffix in CODE_SUFFIXES:
        return _numbered(_parse_code(lines, suffix))
    return _numbered(_parse_plain(lines))


def parser_version(path) -> int:
    """The ``PARSER_VERSION`` of the module that parses ``path`` (read at
    call time: a test may change it)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".pdf":
        return pdf.PARSER_VERSION
    if suffix == ".docx":
        return docx.PARSER_VERSION
    if suffix in HTML_SUFFIXES:
        return html.PARSER_VERSION
    if suffix in CODE_SUFFIXES:
        return code.PARSER_VERSION
    return text.PARSER_VERSION


def newest_parser_version() -> int:
    """The highest ``PARSER_VERSION`` of any format: no file recorded at it
    or above is older than its parser."""
    return max(module.PARSER_VERSION for module in (pdf, docx, html, code, text))
