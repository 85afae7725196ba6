"""Where a passage is in a text laid out differently from the one it was cut from.

A passage was extracted by the library's parsers; the viewer finds it again
in another rendering of the same document: Qt's rendering of an HTML page
(entities decoded differently, table cells on their own lines instead of
joined by " | ", list bullets gone), a PDF page's text layer (lines broken
and words hyphenated where the parser joined them), or a text file that
changed a little since it was indexed.

Both sides are compared by their letters and digits only, case-folded: the
*key* of a text. Whitespace, punctuation, hyphenation and entity
differences then vanish, and a position in the key maps back to a character
of the text. When the whole passage is not there, the search falls back, in
this order, to its beginning and end (the span between them), its
beginning alone (as long as the passage), and the first of its sentences
found; each result says which, so the viewer never claims more than it
found. Qt-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_WORD_CHAR = re.compile(r"[^\W_]", re.UNICODE)
# A piece of passage shorter than this (in key characters) is too common to
# stand for the passage (think "the value is").
MIN_ANCHOR = 24
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n\s*\n")
_LEAD = re.compile(r"[^\w\s]*")
_TRAIL = re.compile(r"[^\w\s]*$")


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of the searched text. ``found`` says how much
    of the passage was found there: "whole", "ends" (its beginning and its
    end, the span between them), "start" (its beginning; the end estimated
    from its length), or "part" (one of its sentences)."""

    start: int
    end: int
    found: str

    @property
    def exact(self) -> bool:
        return self.found in ("whole", "ends")


class Keyed:
    """A text's key (letters and digits, case-folded) and where each key
    character is in the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: list[int] = []
        chars: list[str] = []
        for match in _WORD_CHAR.finditer(text):
            self.positions.append(match.start())
            chars.append(match.group())
        key = "".join(chars)
        folded = key.lower()
        # A few characters change length when lowered ("İ"); keep the map exact.
        self.key = folded if len(folded) == len(key) else key

    def span(self, lo: int, hi: int, found: str, passage: str = "",
             widen: tuple[bool, bool] = (True, True)) -> Span:
        """The text span of key characters ``lo:hi``; widened over the
        punctuation ``passage`` begins and ends with ("(", ".") where the
        text has it too."""
        start, end = self.positions[lo], self.positions[hi - 1] + 1
        lead = _LEAD.match(passage).group() if widen[0] else ""
        while lead and start > 0 and self.text[start - 1] == lead[-1]:
            start, lead = start - 1, lead[:-1]
        trail = _TRAIL.search(passage).group() if widen[1] else ""
        while trail and end < len(self.text) and self.text[end] == trail[0]:
            end, trail = end + 1, trail[1:]
        return Span(start, end, found)


def key_of(text: str) -> str:
    return Keyed(text).key


def longest_prefix(haystack: str, needle: str, start: int = 0) -> tuple[int, int]:
    """(position, length) of the longest prefix of ``needle`` found in
    ``haystack`` from ``start``; (-1, 0) when not even its first character is.
    A prefix that occurs implies all shorter ones do, so this is a binary
    search of ``str.find``."""
    lo, hi, at = 0, len(needle), -1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = haystack.find(needle[:mid], start)
        if found >= 0:
            lo, at = mid, found
        else:
            hi = mid - 1
    if lo and at < 0:
        at = haystack.find(needle[:lo], start)
    return (at, lo) if lo else (-1, 0)


def longest_suffix(haystack: str, needle: str, start: int = 0, stop: Optional[int] = None) -> tuple[int, int]:
    """(end position, length) of the longest suffix of ``needle`` found in
    ``haystack[start:stop]`` (the last occurrence); (-1, 0) when none is."""
    stop = len(haystack) if stop is None else stop
    lo, hi, end = 0, len(needle), -1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = haystack.rfind(needle[len(needle) - mid:], start, stop)
        if found >= 0:
            lo, end = mid, found + mid
        else:
            hi = mid - 1
    return (end, lo) if lo else (-1, 0)


def find_passage(text: "str | Keyed", passage: str) -> Optional[Span]:
    """Where ``passage`` is in ``text`` (see the module doc), or None."""
    doc = text if isinstance(text, Keyed) else Keyed(text)
    want = Keyed(passage)
    key = want.key
    if not key or not doc.key:
        return None
    at = doc.key.find(key)
    if at >= 0:
        return doc.span(at, at + len(key), "whole", passage)
    anchor = min(MIN_ANCHOR, len(key))
    head_at, head_len = longest_prefix(doc.key, key)
    if head_len >= anchor:
        # The end: the longest suffix after the beginning, no further than
        # the passage is long plus what the two renderings may differ by.
        stop = min(len(doc.key), head_at + len(key) * 3 // 2 + 200)
        tail_end, tail_len = longest_suffix(doc.key, key, head_at + head_len, stop)
        if tail_len >= anchor:
            return doc.span(head_at, tail_end, "ends", passage)
        return doc.span(head_at, min(len(doc.key), head_at + len(key)), "start")
    for sentence in _sentences(passage):
        part = key_of(sentence)
        if len(part) < anchor:
            continue
        at = doc.key.find(part)
        if at >= 0:
            return doc.span(at, at + len(part), "part")
    return None


def _sentences(passage: str) -> list[str]:
    return [s for s in _SENTENCE.split(passage) if s.strip()]


def split_across(first: "str | Keyed", second: "str | Keyed", passage: str) -> Optional[tuple[Span, Span]]:
    """A passage that begins in ``first`` and runs on into ``second`` (the
    next page): the span of its beginning in ``first`` and of the rest in
    ``second``; None when it is not split that way."""
    a = first if isinstance(first, Keyed) else Keyed(first)
    b = second if isinstance(second, Keyed) else Keyed(second)
    key = key_of(passage)
    if len(key) < 2 * MIN_ANCHOR or not a.key or not b.key:
        return None
    head_at, head_len = longest_prefix(a.key, key)
    if head_len < MIN_ANCHOR or head_len >= len(key):
        return None
    rest = key[head_len:]
    at = b.key.find(rest)
    if at >= 0:
        return (a.span(head_at, head_at + head_len, "whole", passage, (True, False)),
                b.span(at, at + len(rest), "whole", passage, (False, True)))
    rest_at, rest_len = longest_prefix(b.key, rest)
    if rest_len < min(MIN_ANCHOR, len(rest)):
        return None
    tail_end, tail_len = longest_suffix(b.key, rest, rest_at + rest_len,
                                        min(len(b.key), rest_at + len(rest) * 3 // 2 + 200))
    end = tail_end if tail_len >= min(MIN_ANCHOR, len(rest)) else min(len(b.key), rest_at + len(rest))
    found = "ends" if tail_len >= min(MIN_ANCHOR, len(rest)) else "start"
    return a.span(head_at, head_at + head_len, "whole"), b.span(rest_at, end, found)
