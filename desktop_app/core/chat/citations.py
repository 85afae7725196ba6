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

With an embedder (``embed``: texts -> unit vectors; the engine passes the
library's), rules 2 and 3 are replaced by attribution by meaning, sentence by
sentence (``attribute_by_similarity``):

* The answer is cut into sentences; a marker written after the full stop
  belongs to the sentence before it, and a fragment of fewer than
  ``MIN_SENTENCE_WORDS`` content words is judged together with its neighbour.
* Each sentence and each given passage is embedded; cosine similarity says
  how well a passage supports a sentence. A ``[n]`` the model wrote is kept
  (``inferred: False``) when passage n supports its sentence at least
  ``SUPPORT_FLOOR``; otherwise the marker is removed from the text and the
  sentence's best passage, if it reaches the floor, is cited instead as
  ``inferred``. A sentence without a marker is attributed to its best passage
  the same way.
* When nothing reaches the floor, or the answer is too short to judge alone
  (``Yes``, ``128``), the model's own valid markers stand; without any, the
  passage most similar to question and answer together is cited (``inferred``)
  if it reaches the floor, else the top-ranked passage, since the answer was
  written from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]{2,}|\d+(?:[.,]\d+)?")
STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have how i if in
into is it its may might more most no not of on or our shall should so such than that the
their them then there these they this those to was we were what when where which who why
will with would you your yes also about after before each other some any all only very just
answer question source sources according use used using one two three""".split())

# Cosine (all-MiniLM-L6-v2, unit vectors) from which a passage counts as
# supporting a sentence. Set from the model's usual range, not from any
# evaluation set: paraphrases score about 0.6-0.9, a sentence and a passage on
# the same specific subject about 0.4-0.6, unrelated text below about 0.2.
SUPPORT_FLOOR = 0.35
# A sentence fragment with fewer content words is too short to judge alone.
MIN_SENTENCE_WORDS = 3
# Sentence boundary: end punctuation (or a line break) followed by whitespace,
# unless a citation marker follows (it belongs to the sentence before).
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?!\[\d)|(?<=\])\s+(?=[A-Z])|\n+")

Embed = Callable[[list[str]], "np.ndarray"]


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


def _judgeable_words(sentence: str) -> int:
    return len(content_words(_MARKER.sub(" ", sentence)))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``text`` cut into sentences that can be judged, as (start, end):
    markers stay with the sentence they follow, short fragments join a
    neighbour."""
    spans: list[tuple[int, int]] = []
    start = 0
    for boundary in list(_BOUNDARY.finditer(text)) + [None]:
        end = boundary.start() if boundary else len(text)
        if text[start:end].strip():
            if spans and (_judgeable_words(text[slice(*spans[-1])]) < MIN_SENTENCE_WORDS
                          or _judgeable_words(text[start:end]) < MIN_SENTENCE_WORDS):
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        if boundary:
            start = boundary.end()
    return spans


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def _fallback(text: str, sources: Sequence[Source], embed: Embed, question: str) -> dict:
    """The answer cannot be judged alone (too short, or like no passage): the
    passage that best matches question and answer together, when one reaches
    the floor; otherwise the passage ranked first."""
    if question:
        vectors = np.asarray(embed([f"{question} {_MARKER.sub(' ', text).strip()}"]
                                   + [s.text for s in sources]), dtype=np.float32)
        row = vectors[1:] @ vectors[0]
        if float(row.max()) >= SUPPORT_FLOOR:
            return sources[int(np.argmax(row))].citation(inferred=True)
    return sources[0].citation(inferred=True)


def attribute_by_similarity(text: str, sources: Sequence[Source], embed: Embed,
                            question: str = "") -> tuple[str, list[dict]]:
    """Citations for ``text`` (valid markers only) by embedding similarity;
    see the module docstring. Unsupported markers are removed from the text."""
    by_n = {s.n: s for s in sources}
    model_cited = cited_numbers(text)
    spans = [span for span in sentence_spans(text) if _judgeable_words(text[slice(*span)]) >= MIN_SENTENCE_WORDS]
    if not spans:
        if model_cited:
            return text, [by_n[n].citation() for n in model_cited]
        return text, [_fallback(text, sources, embed, question)] if text.strip() else []
    judged = [_MARKER.sub(" ", text[a:b]).strip() for a, b in spans]
    vectors = np.asarray(embed(judged + [s.text for s in sources]), dtype=np.float32)
    similarity = vectors[: len(judged)] @ vectors[len(judged):].T  # sentences x sources
    column = {s.n: j for j, s in enumerate(sources)}
    chosen: dict[int, bool] = {}  # source n -> inferred (False wins: the model cited it and it holds)
    supported: list[set[int]] = []  # per judged sentence: its markers that hold
    for i, (a, b) in enumerate(spans):
        row = similarity[i]
        best = sources[int(np.argmax(row))]
        kept = {n for n in cited_numbers(text[a:b]) if row[column[n]] >= SUPPORT_FLOOR}
        supported.append(kept)
        for n in kept:
            chosen[n] = False
        if not kept and row[column[best.n]] >= SUPPORT_FLOOR:
            chosen.setdefault(best.n, True)
    if not chosen:
        # Nothing reaches the floor: this measure cannot judge the answer, so
        # the model's own markers stand; without any, the passage ranked first.
        if model_cited:
            return text, [by_n[n].citation() for n in model_cited]
        return text, [_fallback(text, sources, embed, question)]
    # A marker whose passage does not support its sentence is removed from the text.
    pieces, last = [], len(text)
    for (a, b), kept in reversed(list(zip(spans, supported))):
        pieces.append(text[b:last])
        pieces.append(strip_invalid_markers(text[a:b], kept))
        last = a
    pieces.append(text[:last])
    text = "".join(reversed(pieces))
    return text, [by_n[n].citation(inferred=chosen[n]) for n in sorted(chosen)]


def resolve_citations(answer: str, sources: Sequence[Source], embed: Optional[Embed] = None,
                      question: str = "") -> tuple[str, list[dict]]:
    """The answer text with invalid markers removed, and its citations.
    With ``embed`` (texts -> unit vectors) citations are attributed by meaning
    (``question`` helps judge an answer too short to judge alone)."""
    by_n = {s.n: s for s in sources}
    if not sources:
        return strip_invalid_markers(answer, set()), []
    text = strip_invalid_markers(answer, set(by_n))
    if embed is not None:
        return attribute_by_similarity(text, sources, embed, question)
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
