"""Document answers that answer: keep a supported sentence, else quote the page.

A small model's one-line answer over passages is often no answer at all
("Yes, you can.", "No.", the question repeated) or a wrong fact next to a
page that states the right one. So the engine shows exactly one of:

* ``statement``: the model's sentence, when the passage it cites supports it
  (``supported``), with that citation;
* ``quote``: the passage's own sentence(s) that best answer the question
  (``best_quote``), quoted and cited, the citation narrowed to the quoted
  span so the viewer highlights exactly those sentences;
* ``not_covered``: no passage sentence is close enough to the question.

Support is decided by a measurable rule, not per question (``supported``):

1. Every number in the sentence appears in the passage.
2. The sentence adds something to the question: at least one content word
   or number the question does not have. "Yes, you can." and a repeated question add
   nothing and are not answers.
3. Every content word of the sentence (stemmed) appears in the passage, up
   to ``MAX_UNSUPPORTED_WORDS`` that do not (a small model's glue words).
4. Negation agrees: the sentence says "not"/"never"/"cannot" exactly when the
   passage sentence closest to it does.

Quote selection scores every sentence of the given passages by the
embedder's cosine to the question plus a term-overlap share (the question's
stemmed content words the sentence contains, weighted by how rare each is
among the candidate sentences, like BM25's idf). The best sentence is quoted,
with its neighbour when it is too short to stand alone.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np

from desktop_app.core.chat.citations import STOPWORDS, Source

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], "np.ndarray"]

# Content words of a sentence the passage may lack and the sentence still
# count as supported: the model's connecting words ("provides", "allows").
MAX_UNSUPPORTED_WORDS = 1
# Quote score (cosine + OVERLAP_WEIGHT * idf-weighted overlap share) below
# which no sentence answers the question: the answer is "not covered".
# Calibrated on bench/data/doc_answers_dev.jsonl (see bench/doc_answers.py).
MIN_QUOTE_SCORE = 0.45
OVERLAP_WEIGHT = 0.5
# A quoted sentence shorter than this (in words) takes a neighbour too.
MIN_QUOTE_WORDS = 5
MAX_QUOTE_CHARS = 400

_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*[A-Za-z0-9_]|[A-Za-z]|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|can't|won't|doesn't|don't|isn't|aren't|"
                       r"neither|nor|without|n't)\b", re.I)
# Sentence ends: end punctuation then space and an opening character, or a
# line break (docs put list items and headings on lines of their own).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`“‘])|\s*\n\s*")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")
STATEMENT, QUOTE, NOT_COVERED = "statement", "quote", "not_covered"


@dataclass(frozen=True)
class Grounded:
    """What the engine shows: ``kind`` is statement, quote or not_covered."""

    kind: str
    text: str
    citations: list


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


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``text`` cut into sentences as (start, end), whitespace trimmed."""
    spans, start = [], 0
    for end_match in list(_SENTENCE_END.finditer(text)) + [None]:
        end = end_match.start() if end_match else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if end_match:
            start = end_match.end()
    return spans


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def supported(sentence: str, passage: str, question: str = "") -> bool:
    """Whether ``passage`` supports ``sentence`` by the rule in the module docstring."""
    sentence = strip_markers(sentence)
    if not numbers(sentence) <= numbers(passage):
        return False
    words = terms(sentence)
    if not words - terms(question) and not numbers(sentence) - numbers(question):
        return False
    missing = words - terms(passage)
    if len(missing) > MAX_UNSUPPORTED_WORDS or len(missing) * 3 > len(words):
        return False
    closest = max(((terms(passage[a:b]) & words, passage[a:b]) for a, b in sentence_spans(passage)),
                  key=lambda pair: len(pair[0]), default=(set(), passage))[1]
    return bool(_NEGATION.search(sentence)) == bool(_NEGATION.search(closest))


@dataclass(frozen=True)
class Quote:
    source: Source
    start: int          # offsets in source.text
    end: int
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.source.text[self.start:self.end].split())


def best_quote(question: str, sources: Sequence[Source], embed: Optional[Embed]) -> Optional[Quote]:
    """The passage sentence(s) that best answer ``question`` (module docstring)."""
    candidates = [(s, a, b) for s in sources for a, b in sentence_spans(s.text)
                  if len(terms(s.text[a:b])) >= 2]
    if not candidates:
        return None
    asked = terms(question)
    sentence_terms = [terms(s.text[a:b]) for s, a, b in candidates]
    # idf over the candidate sentences: a word every sentence has says little.
    n = len(candidates)
    idf = {w: math.log(1 + n / (1 + sum(w in t for t in sentence_terms))) for w in asked}
    total = sum(idf.values()) or 1.0
    overlap = np.array([sum(idf[w] for w in asked & t) / total for t in sentence_terms])
    if embed is not None:
        vectors = np.asarray(embed([question] + [" ".join(s.text[a:b].split()) for s, a, b in candidates]),
                             dtype=np.float32)
        cosine = vectors[1:] @ vectors[0]
    else:
        cosine = np.zeros(n, dtype=np.float32)
    scores = cosine + OVERLAP_WEIGHT * overlap
    best = int(np.argmax(scores))
    source, start, end = candidates[best]
    # A fragment ("Default five seconds.") or a heading reads with its
    # neighbour in the same passage: the one closer to the question.
    if len(source.text[start:end].split()) < MIN_QUOTE_WORDS:
        near = [i for i in (best - 1, best + 1) if 0 <= i < n and candidates[i][0] is source]
        if near:
            other = max(near, key=lambda i: scores[i])
            start, end = min(start, candidates[other][1]), max(end, candidates[other][2])
    if end - start > MAX_QUOTE_CHARS:
        cut = source.text.rfind(" ", start, start + MAX_QUOTE_CHARS)
        end = cut if cut > start else start + MAX_QUOTE_CHARS
    return Quote(source, start, end, float(scores[best]))


def quote_citation(quote: Quote) -> dict:
    """The citation of a quote: the passage narrowed to the quoted span, so
    the source viewer highlights exactly the quoted sentences."""
    narrowed = replace(quote.source, text=quote.source.text[quote.start:quote.end],
                       start=quote.source.start + quote.start, end=quote.source.start + quote.end)
    return {**narrowed.citation(), "quote": True}


def quote_text(quote: Quote) -> str:
    text = quote.text
    if len(text) < quote.end - quote.start and not text.endswith((".", "!", "?")):
        text += " …"
    return f"The documents say: “{text}” [{quote.source.n}]"


def ground(question: str, answer: str, citations: Sequence[dict], sources: Sequence[Source],
           embed: Optional[Embed]) -> Grounded:
    """The answer to show for a document question (module docstring).

    ``answer`` and ``citations`` are the model's text and its resolved
    citations; ``sources`` are the passages given to the model (full text)."""
    by_n = {s.n: s for s in sources}
    text = answer.strip()
    cited = [by_n[c["n"]] for c in citations if c.get("n") in by_n]
    quote = best_quote(question, sources, embed)
    log.info("best quote score %.3f for %r", quote.score if quote else float("nan"), question)
    if quote is None or quote.score < MIN_QUOTE_SCORE:
        log.info("no passage sentence answers %r (best %.2f)", question,
                 quote.score if quote else float("nan"))
        return Grounded(NOT_COVERED, "", [])
    # The cited passages first; another given passage that supports the
    # sentence is cited instead (small models often write [1] for any source).
    holding = [s for s in cited if supported(text, s.text, question)] or \
        [s for s in sources if s not in cited and supported(text, s.text, question)][:1]
    if text and holding:
        marks = "".join(f"[{s.n}]" for s in holding)
        body = strip_markers(text)
        stated = body[:-1] + f" {marks}." if body.endswith(".") else f"{body} {marks}"
        model_cited = {c["n"]: c for c in citations}
        return Grounded(STATEMENT, stated, [model_cited.get(s.n) or s.citation(inferred=True)
                                            for s in holding])
    log.info("answer %r is not supported by its passages; quoting instead", text)
    return Grounded(QUOTE, quote_text(quote), [quote_citation(quote)])
