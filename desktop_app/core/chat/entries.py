"""Where a passage sentence stands: the table header row it is read under,
the heading line above it, and the entry it belongs to.

A sentence further down a page often does not say what it is about: a
table row ("WARNING | 30") means something only under its header row, and
"The default is five minutes." or "This option turns that off." only under
the heading of their entry ("checkpoint_timeout (integer)", "-quiet_start").
``support.py`` reads sentences under these (for ranking) and shows them
before a quote.
"""

from __future__ import annotations

import re
from typing import Optional

from desktop_app.core.chat.citations import Source
from desktop_app.core.chat.names import code_names, names_match
from desktop_app.core.chat.sentences import sentence_spans, terms

# A line of at most this many words without end punctuation is a heading.
HEADING_WORDS = 8
# A sentence that only sends the reader elsewhere ("See git-repack(1) for more details.").
POINTER = re.compile(r"\W*(?:see|refer to|for (?:more|further) (?:details|information))\b", re.I)


def is_heading(text: str) -> bool:
    return " | " not in text and len(text.split()) <= HEADING_WORDS and not text.rstrip().endswith((".", "!", "?", ":", ";", ","))


def wrapped(text: str, line_start: int) -> bool:
    """Whether the line at ``text[line_start:]`` goes on with the sentence
    of the line before it (hard-wrapped text: "... a number of
    connections\nwill not allocate ..."), rather than starting a block:
    the line before is not blank, not a heading, and does not end a
    sentence."""
    if line_start <= 0:
        return False
    before = text[:line_start - 1]
    previous = before[before.rfind("\n") + 1:].strip()
    return bool(previous) and not is_heading(previous) and not previous.endswith((".", "!", "?", ":", ";"))


def heading_above(text: str, start: int) -> Optional[tuple[int, int]]:
    """Offsets of the nearest heading line above ``text[start:]`` (its
    words, without the line's indent), or None when there is none."""
    end = text.rfind("\n", 0, start)
    while end > 0:
        begin = text.rfind("\n", 0, end) + 1
        line = text[begin:end].strip()
        if line and is_heading(line):
            lead = begin + (len(text[begin:end]) - len(text[begin:end].lstrip()))
            return lead, lead + len(line)
        end = begin - 1
    return None


def with_header(source: Source, start: int, end: int) -> str:
    """``source.text[start:end]``, after its table's header row when it is
    a row of a table (lines of cells separated by " | ") below that header."""
    text = source.text[start:end]
    if " | " not in text:
        return text
    lines = [line for line in source.text[:start].split("\n") if line.strip()]
    header = None
    for line in reversed(lines):
        if " | " not in line:
            break
        header = line
    return f"{header.strip()}\n{text}" if header else text


def lead_of(source: Source, start: int, asked: set[str], named: set[str]) -> Optional[tuple[int, int]]:
    """What the sentence at ``source.text[start:]`` is said of, as offsets:
    the first sentence of its paragraph or list item when that one names,
    in code form, what the question names (``named``: "maxKeys {number}
    Specifies ... Default: 1000."); else the nearest heading line above it
    in its passage, when that shares a word with the question (``asked``)
    and names something the sentence does not. None otherwise, and for a
    table row, which reads under its header row instead."""
    text = source.text
    line_end = text.find("\n", start)
    sentence = text[start:line_end if line_end >= 0 else len(text)]
    if " | " in sentence or is_heading(sentence):
        return None
    block = text.rfind("\n", 0, start) + 1
    if named and block < start and not wrapped(text, block):
        first = (sentence_spans(text[block:start]) or [None])[0]
        lead = text[block + first[0]:block + first[1]] if first else ""
        if lead and names_match(lead, named) and not POINTER.match(lead):
            return block + first[0], block + first[1]
    above = heading_above(text, start)
    if above is not None:
        said = terms(text[above[0]:above[1]])
        if said & asked and said - terms(sentence):
            return above
    return None


def entry_name(source: Source, start: int, end: int) -> Optional[tuple[int, int]]:
    """The heading of the entry ``source.text[start:end]`` stands in, as
    offsets, when it names in code form what the quote does not: the
    nearest heading line above the quote in its passage ("-max_size" above
    "Stops reading once the buffer is full."). Which option, variable or
    function a sentence describes is part of what it says, whatever the
    question asked. None when the quote starts with a heading of its own,
    or the nearest heading above names nothing in code form."""
    text = source.text
    first_line = text[start:end].split("\n", 1)[0]
    if is_heading(first_line.strip()):
        return None
    above = heading_above(text, start)
    if above is not None and code_names(text[above[0]:above[1]]) - code_names(text[start:end]):
        return above
    return None
