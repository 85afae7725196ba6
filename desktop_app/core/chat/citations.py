"""Citations: which numbered sources an answer rests on.

Policy (what the user sees under an answer):

1. Markers ``[n]`` (also ``[1, 3]`` and ``[1][2]``) that name a source that
   was given to the model become citations; markers with any other number are
   dropped and removed from the answer text: a citation the user cannot open
   is worse than none.
2. A cited source that shares no content word with the answer while another
   given source shares at least two is re-attributed to the best one: small
   models often write ``[1]`` for whatever they used.
3. An answer that cites nothing although sources were given gets the sources
   whose content words overlap the answer most (at least two shared content
   words, at most two sources); if none qualifies, the top-ranked source,
   since the answer was written from it. These citations carry
   ``inferred: True`` so the UI can show them as "based on" rather than as
   the model's own reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]{2,}|\d+(?:[.,]\d+)?")
STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i if in
into is it its may might more most no not of on or our shall should so such than that the
their them then there these they this those to was we were what when where which who why
will with would you your yes also about after before each other some any all only very just
answer question source sources according use used using one two three""".split())


@dataclass(frozen=True)
class Source:
    """A numbered passage as it was given to the model."""

    n: int
    path: str
    text: str
    page: Optional[int] = None
    section: Optional[str] = None
    start: int = 0
    end: int = 0
    similarity: Optional[float] = None

    def citation(self, inferred: bool = False) -> dict:
        return {"n": self.n, "path": self.path, "page": self.page, "section": self.section,
                "text": self.text, "start": self.start, "end": self.end, "inferred": inferred}


def content_words(text: str) -> set[str]:
    return {w.lower().rstrip("'") for w in _WORD.findall(text)} - STOPWORDS


def overlap(answer: str, source_text: str) -> int:
    return len(content_words(answer) & content_words(source_text))


def cited_numbers(text: str) -> list[int]:
    found: list[int] = []
    for match in _MARKER.finditer(text):
        for part in match.group(1).split(","):
            n = int(part)
            if n not in found:
                found.append(n)
    return found


def strip_invalid_markers(text: str, valid: set[int]) -> str:
    def fix(match: re.Match) -> str:
        keep = [p.strip() for p in match.group(1).split(",") if int(p) in valid]
        return f"[{', '.join(keep)}]" if keep else ""

    cleaned = _MARKER.sub(fix, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned).replace("  ", " ")


def resolve_citations(answer: str, sources: Sequence[Source]) -> tuple[str, list[dict]]:
    """The answer text with invalid markers removed, and its citations."""
    by_n = {s.n: s for s in sources}
    if not sources:
        return strip_invalid_markers(answer, set()), []
    text = strip_invalid_markers(answer, set(by_n))
    scores = {s.n: overlap(text, s.text) for s in sources}
    best = max(sources, key=lambda s: (scores[s.n], -s.n))
    citations: list[dict] = []
    seen: set[int] = set()
    for n in cited_numbers(text):
        source = by_n[n]
        if scores[n] == 0 and scores[best.n] >= 2 and best.n != n:
            source = best
        if source.n not in seen:
            seen.add(source.n)
            citations.append(source.citation(inferred=source.n != n))
    if citations or not text.strip():
        return text, citations
    ranked = sorted(sources, key=lambda s: (-scores[s.n], s.n))
    chosen = [s for s in ranked if scores[s.n] >= 2][:2] or [sources[0]]
    return text, [s.citation(inferred=True) for s in sorted(chosen, key=lambda s: s.n)]
