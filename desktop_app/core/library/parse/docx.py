"""DOCX: headings as sections, paragraphs and tables."""

from __future__ import annotations

import logging

import re
from pathlib import Path
from typing import Iterator

from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.parse.common import _Sections, normalize_space
from desktop_app.core.library.parse.formats import _MAX_PARAGRAPH

# Which output this parser gives (``parser_upgrade``): bump it whenever a change
# alters the blocks of some file, and libraries parse those files again.
PARSER_VERSION = 1

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- DOCX

# A DOCX is a zip whose parts python-docx inflates whole into memory (and
# lxml then expands XML several times over), so the inflated size is capped
# before anything is read. zipfile never yields more than a member's declared
# size (a larger stream fails its CRC), so the declared sizes bound the work.
# The caps sit far above real documents: a 1,000-page DOCX holds ~30 MB of XML.
MAX_XML_BYTES = 128 << 20          # all XML parts together, inflated
MAX_INFLATED_BYTES = 512 << 20     # everything (images included), inflated


def check_archive(path: Path) -> None:
    """Raise ParseError when the archive would inflate beyond the caps."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return   # not a zip: python-docx says what it is (encrypted, corrupt)
    xml = sum(m.file_size for m in members if m.filename.lower().endswith((".xml", ".rels")))
    total = sum(m.file_size for m in members)
    if xml > MAX_XML_BYTES or total > MAX_INFLATED_BYTES:
        raise ParseError(f"DOCX too large when unpacked ({total / 2**20:,.0f} MB; "
                         f"Hearth reads up to {MAX_INFLATED_BYTES >> 20} MB, "
                         f"{MAX_XML_BYTES >> 20} MB of it text): possibly a zip bomb")


def _parse_docx(path: Path):
    import docx

    check_archive(path)
    try:
        document = docx.Document(str(path))
    except Exception as exc:   # zip, XML and package errors all mean the same to the user
        log.debug("DOCX open failed for %s", path, exc_info=True)
        if _is_ole_encrypted(path):
            raise ParseError("encrypted DOCX") from None
        if isinstance(exc, FileNotFoundError):
            raise ParseError("file vanished") from None
        raise ParseError("corrupt DOCX") from None
    return _docx_blocks(document)


def _is_ole_encrypted(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4 << 20)
    except OSError:
        return False
    return head.startswith(b"\xd0\xcf\x11\xe0") and "EncryptedPackage".encode("utf-16-le") in head


_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _docx_blocks(document):
    from docx.table import Table

    sections = _Sections()
    try:
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                yield from ((text, None, sections.path) for text in _docx_table(item))
                continue
            text = normalize_space(item.text)
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            m = _HEADING_STYLE.match(style)
            if m or style.lower() == "title":
                sections.set(int(m.group(1)) if m else 0, text)
            yield text, None, sections.path
    except ParseError:
        raise
    except Exception:
        log.debug("DOCX body unreadable", exc_info=True)
        raise ParseError("corrupt DOCX") from None


def _docx_table(table) -> Iterator[str]:
    """Rows as "cell | cell" lines, grouped into blocks of bounded size."""
    rows: list[str] = []
    size = 0
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = normalize_space(cell.text)
            if text and (not cells or cells[-1] != text):   # merged cells repeat their text
                cells.append(text)
        if cells:
            line = " | ".join(cells)
            rows.append(line)
            size += len(line)
            if size > _MAX_PARAGRAPH // 4:
                yield "\n".join(rows)
                rows, size = [], 0
    if rows:
        yield "\n".join(rows)
