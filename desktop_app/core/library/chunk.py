"""Cut parsed blocks into chunks sized in the embedder's tokens, with overlap.

Blocks are split into sentences (a giant sentence into word runs), each
sentence is measured once with ``count_tokens`` and sentences are packed
greedily up to ``max_tokens``. Consecutive chunks share about
``overlap_tokens`` of whole sentences. A chunk never spans two PDF pages (so a
citation has one page) and does not run into a new section unless what it
holds so far is too small to stand alone (a lone heading).

Chunk ``start``/``end`` index the document's extracted text (see
``parse.BLOCK_SEP``): ``chunk.text == extracted[chunk.start:chunk.end]``.
Only the current chunk's sentences are held, so memory does not grow with the
document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

from desktop_app.core.library.documents import Block, Chunk
from desktop_app.core.library.parse import BLOCK_SEP

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space, or at a line break.
_BOUNDARY = re.compile(r"([.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*)\s+|\n+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class _Unit:
    block: Block
    lo: int          # offsets into block.text
    hi: int
    tokens: int

    @property
    def start(self) -> int:
        return self.block.start + self.lo

    @property
    def end(self) -> int:
        return self.block.start + self.hi


def chunk_blocks(blocks: Iterable[Block], count_tokens: Callable[[str], int], max_tokens: int = 200,
                 overlap_tokens: int = 40) -> Iterator[Chunk]:
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    # Below this a chunk would rather run on into the next section than stand alone.
    min_tokens = max(1, max_tokens // 4)
    window: list[_Unit] = []
    tokens = 0
    fresh = False    # does the window hold anything not yet emitted?

    for block in blocks:
        for unit in _units(block, count_tokens, max_tokens):
            if window:
                last = window[-1].block
                if unit.block.page != last.page:
                    if fresh:
                        yield _chunk(window)
                    window, tokens, fresh = [], 0, False
                elif unit.block.section != last.section and tokens >= min_tokens:
                    if fresh:
                        yield _chunk(window)
                    window, tokens, fresh = [], 0, False
                elif tokens + unit.tokens > max_tokens:
                    if fresh:
                        yield _chunk(window)
                    window = _tail(window, overlap_tokens)
                    tokens = sum(u.tokens for u in window)
                    while window and tokens + unit.tokens > max_tokens:
                        tokens -= window.pop(0).tokens
                    fresh = False
            window.append(unit)
            tokens += unit.tokens
            fresh = True
    if window and fresh:
        yield _chunk(window)


def _tail(window: list[_Unit], budget: int) -> list[_Unit]:
    """The last whole sentences of ``window`` that fit in ``budget`` tokens."""
    kept: list[_Unit] = []
    total = 0
    for unit in reversed(window):
        if total + unit.tokens > budget:
            break
        kept.append(unit)
        total += unit.tokens
    kept.reverse()
    return kept


def _chunk(window: list[_Unit]) -> Chunk:
    parts: list[str] = []
    i = 0
    while i < len(window):
        block = window[i].block
        j = i
        while j + 1 < len(window) and window[j + 1].block is block:
            j += 1
        parts.append(block.text[window[i].lo:window[j].hi])
        i = j + 1
    first = window[0]
    return Chunk(text=BLOCK_SEP.join(parts), page=first.block.page, section=first.block.section,
                 start=first.start, end=window[-1].end)


def _spans(text: str, pattern: re.Pattern) -> Iterator[tuple[int, int]]:
    """Non-blank pieces of ``text`` between matches of ``pattern``, trimmed."""
    pos = 0
    for m in pattern.finditer(text):
        end = m.end(1) if m.lastindex and m.start(1) >= 0 else m.start()
        yield from _trimmed(text, pos, end)
        pos = m.end()
    yield from _trimmed(text, pos, len(text))


def _trimmed(text: str, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    if lo < hi:
        yield lo, hi


def _units(block: Block, count: Callable[[str], int], max_tokens: int) -> Iterator[_Unit]:
    text = block.text
    # A token is rarely shorter than a character; beyond this many chars a
    # sentence is certainly too long and goes straight to word splitting.
    too_long_chars = max_tokens * 12
    for lo, hi in _spans(text, _BOUNDARY):
        if hi - lo <= too_long_chars:
            n = count(text[lo:hi])
            if n <= max_tokens:
                yield _Unit(block, lo, hi, n)
                continue
        for a, b, n in _split_long(text, lo, hi, count, max_tokens):
            yield _Unit(block, a, b, n)


def _split_long(text: str, lo: int, hi: int, count: Callable[[str], int],
                max_tokens: int) -> Iterator[tuple[int, int, int]]:
    """Cut text[lo:hi] into runs of whole words of at most ``max_tokens``.

    The run length in chars is estimated, checked with one count and shrunk
    when it was too long, so each run costs one or two counts."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, lo, hi)]
    chars_per_token = 3.0
    i = 0
    while i < len(words):
        target = max(1, int(max_tokens * chars_per_token * 0.9))
        j = i
        while j + 1 < len(words) and words[j + 1][1] - words[i][0] <= target:
            j += 1
        while True:
            a, b = words[i][0], words[j][1]
            n = count(text[a:b])
            if n <= max_tokens:
                break
            if j == i:   # one "word" longer than a chunk (a hash, base64): cut it by characters
                yield from _split_chars(text, a, b, count, max_tokens)
                a = None
                break
            chars_per_token = max(0.5, (b - a) / n)
            j = i + max(0, int((j - i) * max_tokens / n * 0.9))
        if a is not None:
            yield a, b, n
            if b - a > 0 and n > 0:
                chars_per_token = max(chars_per_token, 0.9 * (b - a) / n)
        i = j + 1


def _split_chars(text: str, lo: int, hi: int, count: Callable[[str], int],
                 max_tokens: int) -> Iterator[tuple[int, int, int]]:
    step = max(1, max_tokens)
    while lo < hi:
        b = min(hi, lo + step)
        n = count(text[lo:b])
        while n > max_tokens and b - lo > 1:
            b = lo + (b - lo) // 2
            n = count(text[lo:b])
        yield lo, b, n
        lo = b
