"""File names that are not valid UTF-8, kept exactly.

On Linux a file name is bytes; Python hands an undecodable byte to us as a
lone surrogate (U+DC80..U+DCFF, "surrogateescape"), which SQLite, JSON, Qt
and the tokenizers all refuse. Old drives and archives are full of such
names (Latin-1, CP437), so the library keeps every path in a *text form*
that is valid Unicode and maps back to the exact bytes: each undecodable
byte 0x80..0xFF becomes one code point of a private-use block
(U+10FE80..U+10FEFF) that no encoding produces. The rest of Hearth (store,
citations, CLI, window) sees only the text form; ``to_fs`` turns it back
into the name the operating system knows just before a file is touched.

A real name that already contains a code point of that block cannot be
told apart, so it is refused (``ReservedName``) rather than misread.
"""

from __future__ import annotations

_SURROGATE_LO, _SURROGATE_HI = 0xDC80, 0xDCFF
_BASE = 0x10FE00          # + byte value (0x80..0xFF)
_RESERVED_LO, _RESERVED_HI = _BASE + 0x80, _BASE + 0xFF


class ReservedName(ValueError):
    """A file name with code points the text form reserves for raw bytes."""


def _is_plain(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(_RESERVED_LO <= ord(c) <= _RESERVED_HI for c in path if ord(c) > 0xFFFF)


def to_text(path: str) -> str:
    """The text form of a file-system path (identity for valid UTF-8)."""
    if _is_plain(path):
        return path
    out = []
    for c in path:
        code = ord(c)
        if _SURROGATE_LO <= code <= _SURROGATE_HI:
            out.append(chr(_BASE + (code - 0xDC00)))
        elif _RESERVED_LO <= code <= _RESERVED_HI:
            raise ReservedName(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        elif 0xD800 <= code <= 0xDFFF:
            # Not produced by surrogateescape: no byte sequence to return to.
            raise ReservedName(path.encode("utf-8", "replace").decode("utf-8"))
        else:
            out.append(c)
    return "".join(out)


def to_fs(text: str) -> str:
    """The file-system path (surrogateescape str) of a text-form path."""
    if not any(ord(c) > 0xFFFF for c in text):
        return text
    return "".join(chr(0xDC00 + ord(c) - _BASE) if _RESERVED_LO <= ord(c) <= _RESERVED_HI else c
                   for c in text)


def display(path: str) -> str:
    """A file-system path as text for messages, even when it is refused."""
    try:
        return to_text(path)
    except ReservedName:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
