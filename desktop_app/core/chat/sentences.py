"""Sentences and words of a passage, and what kind of answer a question asks for.

The text primitives of ``support.py``: sentence boundaries (hard-wrapped
lines of Markdown and text files are not boundaries), stemmed content words,
numbers and the amounts among them, and ``ANSWER_KINDS``: a number for "how
many", an exception for "what does X raise", a default for "by default".
"""

from __future__ import annotations

import re

from desktop_app.core.chat.citations import STOPWORDS

# What kind of answer a question asks for, read from its wording, and how a
# sentence shows it states one. Scope: English questions; the cue is the
# question word with the noun or verb it asks about. A sentence that states
# that kind of thing (beyond what the question itself says) answers better
# than one that only shares its words ("How long ... wait?" is answered by
# "Default five seconds.", not by the sentence naming the parameter).
ANSWER_KINDS = (
    # a number: amounts, sizes, durations, limits, levels, ports, versions
    ("number",
     re.compile(r"\bhow (?:many|much|long|often|old|large|big|far|high|wide|deep|small|fast)\b|"
                r"\b(?:what|which)(?: is| are| was)?(?: the)?(?: \w+){0,2}? (?:size|number|value|level|port|"
                r"width|length|height|limit|count|percentage|amount|version|year|depth|timeout|scale|"
                r"ratio|duration|age)s?\b", re.I),
     lambda sentence, question: bool(quantities(sentence) - numbers(question))),
    # a default: what holds when the user sets nothing
    ("default",
     re.compile(r"\bdefaults?\b|"
                r"\bif (?:i|you|we|one) (?:don't|do not|never) (?:set|give|specify|pass|provide|choose)\b", re.I),
     lambda sentence, question: bool(_DEFAULT.search(sentence))),
    # an exception or error a call raises
    ("exception",
     re.compile(r"\braise[sd]?\b|\b(?:which|what)(?: \w+){0,2}? (?:exception|error)s?\b", re.I),
     lambda sentence, question: bool(set(_EXCEPTION.findall(sentence)) - set(_EXCEPTION.findall(question)))),
)
_DEFAULT = re.compile(r"\bdefault(?:s|ed)?\b|\bnot (?:given|specified|set|supplied|provided)\b|\bomitted\b|"
                      r"\bunless\b|\bassumed\b", re.I)
_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)\b")


# The question's own interrogative: what it asks for is read there, not in a
# clause further on ("Which knob decides how many workers start?" asks
# for a knob, not a number).
_ASKING = re.compile(r"\b(?:which|what|how|where|when|who|whose|why)\b", re.I)
# Kinds a question asks for wherever its cue stands ("What does copytree
# raise ...", "... by default?").
_ANYWHERE = {"default", "exception"}


def answer_kinds(question: str) -> list:
    """The ANSWER_KINDS entries ``question`` asks for."""
    asking = _ASKING.search(question)
    at = asking.start() if asking else None
    return [(name, states) for name, cue, states in ANSWER_KINDS
            if (found := cue.search(question)) and (name in _ANYWHERE or at is None or found.start() == at)]


_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*[A-Za-z0-9_]|[A-Za-z]|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:[.,]\d+)*")
# Sentence ends: end punctuation then space and an opening character, or a
# line break (docs put list items and headings on lines of their own).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`“‘]|[*_]+[A-Z0-9])|\s*\n\s*")
# A line break inside a paragraph of a hard-wrapped text file (Markdown,
# plain text, e-mail): the line does not end a sentence and the next one
# carries on in lower case or with a number ("... visible for\n23 nautical
# miles"). Not after a heading, a table row or before a numbered item.
_SOFT_WRAP = re.compile(r"(?<![.!?:;])[ \t]*\n[ \t]*(?=[a-z]|\d+(?![.)]\s)[\w%,.])")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    word = word.lower().strip("'.-_")
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # "pickle" and "pickling" meet at "pickl".
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def terms(text: str) -> set[str]:
    """Stemmed content words (words of 3+ characters that are not stop words)."""
    found = set()
    for token in _TOKEN.findall(text):
        if token[0].isdigit():
            continue
        word = token.lower()
        if len(word) < 3 or word in STOPWORDS:
            continue
        found.add(stem(word))
        # "os.path.join" also counts as its parts, as the passage may spell them apart.
        for part in re.split(r"[._-]", word):
            if len(part) >= 3 and part not in STOPWORDS:
                found.add(stem(part))
    return found


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


def numbers(text: str) -> set[str]:
    """Numbers in ``text``, normalized ("5.0" and "five" are "5", "1,000" is "1000")."""
    found = set()
    for n in _NUMBER.findall(text):
        n = n.replace(",", "")
        found.add(n[:-2] if n.endswith(".0") else n)
    found |= {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    return found


# Digits that are part of a name, not an amount: a manual section
# ("git-gc(1)") or a spelled-out date ("1.month.ago").
_NAME_DIGITS = re.compile(r"(?<=[\w-])\(\d[a-z]?\)|\b\d+(?=\.[A-Za-z])")


def quantities(text: str) -> set[str]:
    """``numbers`` of ``text`` that state an amount (``_NAME_DIGITS`` left out)."""
    return numbers(_NAME_DIGITS.sub(" ", text))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``text`` cut into sentences as (start, end), whitespace trimmed."""
    spans, start = [], 0
    ends = [m for m in _SENTENCE_END.finditer(text) if not _soft_wrap(text, m)]
    for end_match in ends + [None]:
        end = end_match.start() if end_match else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if end_match:
            start = end_match.end()
    return spans


def _soft_wrap(text: str, match) -> bool:
    """Whether the line break ``match`` is a hard wrap inside a sentence."""
    if "\n" not in match.group() or match.group().count("\n") > 1:
        return False
    line_start = text.rfind("\n", 0, match.start()) + 1
    line = text[line_start:match.start()]
    if line.lstrip().startswith("#") or " | " in line:
        return False
    return bool(_SOFT_WRAP.match(text, match.start()))


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()
