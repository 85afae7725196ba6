"""What every parser shares: checked file access, streamed decoding, block
numbering, paragraphs and section paths."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional

from desktop_app.core.library.documents import Block, ParseError
from desktop_app.core.library.parse.formats import BLOCK_SEP, _MAX_PARAGRAPH, _READ_PIECE, _SAMPLE

# ---------------------------------------------------------------- file access

def _checked_size(path: Path) -> int:
    try:
        st = path.stat()
        if not path.is_file():
            raise ParseError("unsupported format")
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise ParseError("file vanished") from None
    except PermissionError:
        raise ParseError("unreadable: permission denied") from None
    except IsADirectoryError:
        raise ParseError("unsupported format") from None
    except OSError as exc:
        raise ParseError(f"unreadable: {exc.strerror or exc}") from None
    if st.st_size == 0:
        raise ParseError("empty file")
    return st.st_size


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ParseError("file vanished") from None
    except PermissionError:
        raise ParseError("unreadable: permission denied") from None
    except OSError as exc:
        raise ParseError(f"unreadable: {exc.strerror or exc}") from None


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text sample; raises ParseError("binary file")."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    try:
        # A cut at the sample's end may split a multibyte character.
        sample.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError as exc:
        utf8 = exc.start >= len(sample) - 3 and exc.reason.startswith(("unexpected end", "invalid continuation"))
    if utf8 and b"\x00" not in sample:
        return "utf-8"
    from charset_normalizer import from_bytes

    results = from_bytes(sample)
    best = results.best()
    if best is None:
        raise ParseError("binary file")
    # On short Western samples the detector often ranks a Nordic or Baltic
    # code page first by a hair; cp1252 is by far the likelier legacy encoding.
    western = next((m for m in results if m.encoding == "cp1252"), None)
    if western is not None and best.encoding != "cp1252" and western.chaos <= best.chaos + 0.1 \
            and not best.encoding.startswith(("utf", "big5", "gb", "euc", "shift", "cp932", "cp949")):
        best = western
    encoding = best.encoding
    if b"\x00" in sample and not encoding.startswith(("utf_16", "utf_32")):
        raise ParseError("binary file")
    text = str(best)
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f\v")
    if controls > max(8, len(text) // 100):
        raise ParseError("binary file")
    return encoding


def _text_lines(path: Path) -> Iterator[str]:
    """Decoded lines of a text file, read in pieces (bounded memory).

    Checks the sample eagerly so that binary files fail at the call."""
    handle = _open(path)
    try:
        sample = handle.read(_SAMPLE)
        encoding = detect_encoding(sample)
    except BaseException:
        handle.close()
        raise
    return _decoded_lines(handle, sample, encoding)


def _decoded_lines(handle, first: bytes, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""
    with handle:
        piece = first
        while True:
            final = not piece
            text = decoder.decode(piece, final=final)
            if text:
                pending += text.replace("\r\n", "\n").replace("\r", "\n")
                lines = pending.split("\n")
                pending = lines.pop()
                yield from lines
                while len(pending) > _MAX_PARAGRAPH:  # an endless line: hand it out in pieces
                    cut = pending.rfind(" ", _MAX_PARAGRAPH // 2, _MAX_PARAGRAPH)
                    cut = cut if cut > 0 else _MAX_PARAGRAPH
                    yield pending[:cut]
                    pending = pending[cut:]
            if final:
                break
            try:
                piece = handle.read(_READ_PIECE)
            except OSError as exc:
                raise ParseError(f"unreadable: {exc.strerror or exc}") from None
    if pending:
        yield pending


def _read_small_text(path: Path, size: int) -> str:
    with _open(path) as handle:
        data = handle.read()
    encoding = detect_encoding(data[:_SAMPLE])
    head = data[:2048].lower()
    match = re.search(rb"<meta[^>]+charset=[\"']?([a-z0-9_\-]+)", head)
    if match and not encoding.startswith(("utf_16", "utf-16", "utf_32", "utf-32", "utf-8-sig")):
        declared = match.group(1).decode("ascii")
        try:
            codecs.lookup(declared)
            encoding = declared
        except LookupError:
            pass
    return data.decode(encoding, errors="replace")


# ---------------------------------------------------------------- numbering

def _numbered(items: Iterable[tuple[str, Optional[int], Optional[str]]]) -> Iterator[Block]:
    """(text, page, section) -> Blocks with consecutive offsets; nothing -> "empty file"."""
    start = 0
    any_text = False
    for text, page, section in items:
        text = text.rstrip().lstrip("\n")   # keep a code block's first indentation
        if not text.strip():
            continue
        any_text = True
        yield Block(text=text, page=page, section=section, start=start)
        start += len(text) + len(BLOCK_SEP)
    if not any_text:
        raise ParseError("empty file")


def normalize_space(text: str) -> str:
    return " ".join(text.replace("\xad", "").split())


class _Sections:
    """A heading path: set(level, title) -> "A > B > C"."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def set(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    @property
    def path(self) -> Optional[str]:
        return " > ".join(t for _, t in self._stack) or None


def _paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line separated paragraphs, each cut at _MAX_PARAGRAPH chars."""
    buf: list[str] = []
    size = 0
    for line in lines:
        if line.strip():
            buf.append(line)
            size += len(line) + 1
            if size > _MAX_PARAGRAPH:
                yield "\n".join(buf)
                buf, size = [], 0
        elif buf:
            yield "\n".join(buf)
            buf, size = [], 0
    if buf:
        yield "\n".join(buf)
