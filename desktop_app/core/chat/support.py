"""Document answers that answer: keep a supported sentence, else quote the page.

A small model's one-line answer over passages is often no answer at all
("Yes, you can.", "No.", the question repeated) or a wrong fact next to a
page that states the right one. So the engine shows exactly one of:

* ``statement``: the model's sentence(s), when a given passage supports
  them and they answer the question, with that passage's citation;
* ``quote``: the passage's own sentence(s) that best answer the question
  (``best_quote``), quoted and cited, the citation narrowed to the quoted
  span so the viewer highlights exactly those sentences;
* ``not_covered``: no passage sentence is close enough to the question, or
  the model's draft adds something and the best sentence has none of it
  (two readings of the passages disagree).

Support is decided by a measurable rule, not per question, sentence by
sentence (``support_window``):

1. The sentence adds something to the question: a content word or number
   the question does not have. "Yes, you can." and a repeated question add
   nothing and are not answers.
2. Every number in the sentence appears in the passage, and every content
   word (stemmed) too, up to ``MAX_UNSUPPORTED_WORDS`` (a model's glue word).
3. What the sentence adds stands together within ``WINDOW_SENTENCES``
   adjacent passage sentences: its new numbers all, its new words but
   ``MAX_UNSUPPORTED_WORDS``, with at least one of them or a number there,
   all its content words but a quarter, and every name written as code
   ("WARNING is 10" is not supported by "such as 10 for DEBUG, 20 for INFO").
4. Negation agrees: the sentence says "not"/"never"/"cannot" exactly when
   that window does.

The leading supported sentences of the answer are kept (a run-on after
them is dropped) when their window is among the passage sentences closest
to the question (``RELEVANCE_MARGIN``): a true sentence about something
else does not answer.

Quote selection scores every sentence of the given passages by the
embedder's cosine to the question plus a term-overlap share (the question's
stemmed content words the sentence contains, weighted by how rare each is
among the candidate sentences, like BM25's idf), plus ``DRAFT_WEIGHT`` times
the share of what the model's draft adds that the sentence contains. The
best sentence is quoted, with its neighbour when it is too short to stand
alone, or else the heading line right above it and a short sentence right
after it. When even the best sentence
scores below ``MIN_QUOTE_SCORE`` for the question, it is "not covered".
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np

from desktop_app.core.chat.citations import STOPWORDS, Source
from desktop_app.core.logs import user_text

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], "np.ndarray"]

# Content words of a sentence the passage may lack and the sentence still
# count as supported: the model's connecting words ("provides", "allows").
MAX_UNSUPPORTED_WORDS = 1
# What a sentence adds must stand within this many adjacent passage sentences.
WINDOW_SENTENCES = 2
# Quote score (cosine + OVERLAP_WEIGHT * idf-weighted overlap share) below
# which no sentence answers the question: the answer is "not covered".
# Calibrated on bench/data/doc_answers_dev.jsonl (bench/doc_answers.py -v):
# the best sentence of answered questions scored 0.91-1.39, of off-topic
# questions that got past retrieval 0.47-0.69.
MIN_QUOTE_SCORE = 0.85
OVERLAP_WEIGHT = 0.5
# A quoted sentence shorter than this (in words) takes a neighbour too.
MIN_QUOTE_WORDS = 5
# A line of at most this many words without end punctuation is a heading.
HEADING_WORDS = 8
# A supported sentence answers the question when where it is supported
# scores within this of the best passage sentence (see ground).
RELEVANCE_MARGIN = 0.25
# How much a sentence containing all the draft adds gains in the ranking.
DRAFT_WEIGHT = 0.3
MAX_QUOTE_CHARS = 400

_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*[A-Za-z0-9_]|[A-Za-z]|\d+(?:[.,]\d+)*")
# Names written as code (WARNING, os.urandom, dirs_exist_ok, FileExistsError):
# they cannot be paraphrased, so a window supports a sentence only with them.
_NAME = re.compile(r"\b(?:[A-Z][A-Z0-9_]{2,}|[A-Za-z]\w*[._]\w[\w.]*|[A-Z][a-z]+[A-Z]\w*)\b")
_NUMBER = re.compile(r"(?<![A-Za-z\d.])\d+(?:[.,]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|can't|won't|doesn't|don't|isn't|aren't|"
                       r"neither|nor|without|n't)\b", re.I)
# Sentence ends: end punctuation then space and an opening character, or a
# line break (docs put list items and headings on lines of their own).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`“‘])|\s*\n\s*")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")
STATEMENT, QUOTE, NOT_COVERED = "statement", "quote", "not_covered"
NOT_FOUND = "I could not find a sentence in your documents that answers this, so I won't guess."


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


def _windows(passage: str) -> list[tuple[int, int]]:
    """Runs of up to WINDOW_SENTENCES adjacent sentences of ``passage``."""
    spans = sentence_spans(passage) or [(0, len(passage))]
    return [(spans[i][0], spans[min(i + size, len(spans)) - 1][1])
            for i in range(len(spans)) for size in range(1, WINDOW_SENTENCES + 1)
            if i + size <= len(spans) or size == 1]


def support_window(sentence: str, passage: str, question: str = "") -> Optional[tuple[int, int]]:
    """Where in ``passage`` one sentence of an answer is supported (the rule in
    the module docstring), as (start, end); None when it is not."""
    sentence = strip_markers(sentence)
    words, asked = terms(sentence), terms(question)
    new_words = words - asked
    new_numbers = numbers(sentence) - numbers(question)
    if not new_words and not new_numbers:
        return None          # adds nothing to the question: "Yes.", the question repeated
    if not numbers(sentence) <= numbers(passage) or len(words - terms(passage)) > MAX_UNSUPPORTED_WORDS:
        return None
    negated = bool(_NEGATION.search(sentence))
    named = terms(" ".join(_NAME.findall(sentence)))
    best = None
    for a, b in _windows(passage):
        window = passage[a:b]
        have = terms(window)
        if not new_numbers <= numbers(window) or len(new_words - have) > MAX_UNSUPPORTED_WORDS:
            continue
        if not new_words & have and not new_numbers:
            continue         # none of what it adds is here
        if len(words - have) > max(MAX_UNSUPPORTED_WORDS, len(words) // 4) or not named <= have:
            continue         # what it adds is there, but said of something else
        if bool(_NEGATION.search(window)) != negated:
            continue
        if best is None or b - a < best[1] - best[0]:
            best = (a, b)
    return best


def supported(text: str, passage: str, question: str = "") -> bool:
    """Whether every sentence of ``text`` is supported by ``passage``."""
    body = strip_markers(text)
    pieces = [body[a:b] for a, b in sentence_spans(body)] or [body]
    return all(support_window(piece, passage, question) is not None for piece in pieces)


@dataclass(frozen=True)
class Quote:
    source: Source
    start: int          # offsets in source.text
    end: int
    score: float

    @property
    def text(self) -> str:
        # A heading line of the quote ("exception KeyError") runs into its
        # sentence with a dash, not as one run-on sentence.
        lines = [" ".join(line.split()) for line in self.source.text[self.start:self.end].split("\n")]
        return " — ".join(line for line in lines if line)


@dataclass(frozen=True)
class Ranked:
    """Every sentence of the given passages, scored against the question."""

    spans: list            # (source, start, end)
    scores: np.ndarray     # for the question, raised where the model's draft points
    by_question: np.ndarray  # for the question alone

    def best(self) -> int:
        return int(np.argmax(self.scores))

    def score_of(self, source: Source, start: int, end: int, by_question: bool = False) -> float:
        """The best score of the sentences overlapping ``source.text[start:end]``."""
        scores = self.by_question if by_question else self.scores
        inside = [scores[i] for i, (s, a, b) in enumerate(self.spans)
                  if s is source and a < end and b > start]
        return float(max(inside)) if inside else 0.0


def rank_sentences(question: str, sources: Sequence[Source], embed: Optional[Embed],
                   draft: str = "") -> Optional[Ranked]:
    """Scores of the passages' sentences for ``question`` (module docstring).
    What the model's ``draft`` adds to the question (its words and numbers)
    raises the sentences that contain it: the draft often points at the
    right sentence even when its own wording is off."""
    spans = [(s, a, b) for s in sources for a, b in sentence_spans(s.text)
             if len(terms(s.text[a:b])) + len(numbers(s.text[a:b])) >= 2]
    if not spans:
        return None
    asked = terms(question)
    sentence_terms = [terms(s.text[a:b]) for s, a, b in spans]
    # idf over the candidate sentences: a word every sentence has says little.
    n = len(spans)
    idf = {w: math.log(1 + n / (1 + sum(w in t for t in sentence_terms))) for w in asked}
    total = sum(idf.values()) or 1.0
    overlap = np.array([sum(idf[w] for w in asked & t) / total for t in sentence_terms])
    if embed is not None:
        vectors = np.asarray(embed([question] + [" ".join(s.text[a:b].split()) for s, a, b in spans]),
                             dtype=np.float32)
        cosine = vectors[1:] @ vectors[0]
    else:
        cosine = np.zeros(n, dtype=np.float32)
    by_question = cosine + OVERLAP_WEIGHT * overlap
    added = _additions(draft, question)
    if added:
        found = np.array([len(added & (t | {f"#{x}" for x in numbers(s.text[a:b])})) / len(added)
                          for t, (s, a, b) in zip(sentence_terms, spans)])
        return Ranked(spans, by_question + DRAFT_WEIGHT * found, by_question)
    return Ranked(spans, by_question, by_question)


def _is_heading(text: str) -> bool:
    return len(text.split()) <= HEADING_WORDS and not text.rstrip().endswith((".", "!", "?", ":", ";", ","))


def best_quote(question: str, sources: Sequence[Source], embed: Optional[Embed],
               ranked: Optional[Ranked] = None) -> Optional[Quote]:
    """The passage sentence(s) that best answer ``question`` (module docstring)."""
    ranked = ranked or rank_sentences(question, sources, embed)
    if ranked is None:
        return None
    spans, scores = ranked.spans, ranked.scores
    best = ranked.best()
    source, start, end = spans[best]
    neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(spans) and spans[i][0] is source]
    if len(source.text[start:end].split()) < MIN_QUOTE_WORDS and neighbours:
        # A fragment ("Default five seconds.") reads with the neighbour closer to the question.
        other = max(neighbours, key=lambda i: scores[i])
        start, end = min(start, spans[other][1]), max(end, spans[other][2])
    elif best - 1 in neighbours and _is_heading(source.text[spans[best - 1][1]:spans[best - 1][2]]):
        # The heading right above names what the sentence is about ("exception KeyError").
        start = spans[best - 1][1]
    following = best + 1
    if following < len(spans) and spans[following][0] is source and spans[following][2] > end \
            and len(source.text[spans[following][1]:spans[following][2]].split()) < MIN_QUOTE_WORDS \
            and not _is_heading(source.text[spans[following][1]:spans[following][2]]):
        # A short sentence right after finishes the thought ("... wait? Default five seconds.").
        end = spans[following][2]
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
    if not text.endswith((".", "!", "?", ")")) and quote.end < len(quote.source.text.rstrip()):
        text += " …"
    return f"The documents say: “{text}” [{quote.source.n}]"


def _supported_prefix(text: str, source: Source, question: str, ranked: Ranked) -> str:
    """The leading sentences of ``text`` that ``source`` supports (the
    model's run-on after a good first sentence is dropped), provided where
    they are supported is among the passages' sentences closest to the
    question (within RELEVANCE_MARGIN of the best): a true sentence about
    something else does not answer. Empty when nothing qualifies."""
    body = strip_markers(text)
    spans = sentence_spans(body) or [(0, len(body))]
    top = float(ranked.by_question.max())
    kept_end, relevant = 0, False
    for a, b in spans:
        window = support_window(body[a:b], source.text, question)
        if window is None:
            break
        kept_end = b
        gap = top - ranked.score_of(source, *window, by_question=True)
        log.info("sentence %r supported by [%d], %.3f below the best sentence", user_text(body[a:b][:60]), source.n,
                 gap)
        relevant |= gap <= RELEVANCE_MARGIN
    return body[:kept_end].strip() if relevant else ""


def ground(question: str, answer: str, citations: Sequence[dict], sources: Sequence[Source],
           embed: Optional[Embed]) -> Grounded:
    """The answer to show for a document question (module docstring).

    ``answer`` and ``citations`` are the model's text and its resolved
    citations; ``sources`` are the passages given to the model (full text)."""
    by_n = {s.n: s for s in sources}
    text = answer.strip()
    ranked = rank_sentences(question, sources, embed, text)
    quote = best_quote(question, sources, embed, ranked)
    relevance = float(ranked.by_question.max()) if ranked else float("nan")
    log.info("best sentence score %.3f for %r", relevance, user_text(question))
    if quote is None or relevance < MIN_QUOTE_SCORE:
        return Grounded(NOT_COVERED, "", [])
    cited = [by_n[c["n"]] for c in citations if c.get("n") in by_n]
    # The cited passages first; another given passage that supports the
    # sentence is cited instead (small models often write [1] for any source).
    for source in cited + [s for s in sources if s not in cited]:
        stated = _supported_prefix(text, source, question, ranked) if text else ""
        if stated:
            marked = stated[:-1] + f" [{source.n}]." if stated.endswith(".") else f"{stated} [{source.n}]"
            model_cited = {c["n"]: c for c in citations}
            return Grounded(STATEMENT, marked, [model_cited.get(source.n) or source.citation(inferred=True)])
    # The model's draft and the ranking are two readings of the passages: when
    # the draft adds something and the quote has none of it, they disagree on
    # what the answer is, and neither is shown.
    added = _additions(text, question)
    quoted = terms(quote.text) | {f"#{x}" for x in numbers(quote.text)}
    if added and not added & quoted:
        log.info("draft %r and quote %r disagree; not answering", user_text(text), user_text(quote.text[:80]))
        return Grounded(NOT_COVERED, NOT_FOUND, [])
    log.info("answer %r does not answer from its passages; quoting instead", user_text(text))
    return Grounded(QUOTE, quote_text(quote), [quote_citation(quote)])


def _additions(draft: str, question: str) -> set[str]:
    """What ``draft`` adds to ``question``: its new content words, and its
    new numbers marked with "#"."""
    draft = strip_markers(draft)
    return (terms(draft) - terms(question)) | {f"#{x}" for x in numbers(draft) - numbers(question)}
