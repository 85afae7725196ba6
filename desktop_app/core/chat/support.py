"""Document answers that answer: keep a supported sentence, else quote the page.

A small model's one-line answer over passages is often no answer at all
("Yes, you can.", "No.", the question repeated) or a wrong fact next to a
page that states the right one. So the engine shows exactly one of:

* ``statement``: the model's sentence(s), when a given passage supports
  them and they answer the question, with that passage's citation;
* ``quote``: the passage's own sentence(s) that best answer the question
  (``best_quote``), quoted and cited, the citation narrowed to the quoted
  span so the viewer highlights exactly those sentences;
* ``not_covered``: the best sentence does not state the kind of thing
  the question asks for (a number for "how many", an exception for "what
  does X raise", a default for "by default": ``ANSWER_KINDS``); or the
  question names something in code form (``code_names``: a dotted or
  snake_case name, a camelCase word, a flag) and the quote does not, or the quote stands
  under the heading of another such name (``names_other``: "autovacuum_work_mem
  (integer) ... It defaults to -1" is no answer about maintenance_work_mem);
  or Hearth is not sure enough that the best sentence answers
  (``confidence``: one logistic score over what the ranking knows of it,
  fitted on the development records by ``bench/fit_confidence.py``).

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
else does not answer. They are shown only when they also say what the best
quote says (``_agreeing_prefix``: what each adds is in the quote, and
together they carry ``STATEMENT_COVERAGE`` of what the quote adds);
otherwise the quote, the document's own words, is shown: a paraphrase
that drops the point ("the items are discarded" for "discarded from the
opposite end") is not the answer.

Quote selection scores every sentence of the given passages, and every
pair of adjacent sentences within one block ("The epoch is the point where
the time starts ... It is January 1, 1970"), by the embedder's cosine to
the question plus a term-overlap share (the question's stemmed content
words the sentence contains, weighted by how rare each is among the
candidate sentences, like BM25's idf). A table row is read under its
table's header row, and a sentence further down an entry under the
entry's heading when that heading shares a word with the question and
names what the sentence does not ("checkpoint_timeout (integer)" above
"The default is five minutes."); the quote then shows that heading before
the sentence with an ellipsis. So does a quote further down an entry
whose heading names in code form what it does not ("-quiet_start … This
option turns that text off.": ``entries.py``). A sentence that adds
nothing to the question (a heading restating it), or only sends the
reader elsewhere ("See ... for more details"), cannot win. The ranking
adds ``KIND_WEIGHT`` when the sentence states what the question asks for
(``ANSWER_KINDS``: a number for "how many/how long/what size", an
exception name for "what does X raise") and ``DRAFT_WEIGHT`` times the share of what the model's draft adds that
the sentence contains. The best is quoted, with its neighbour when it is
too short to stand alone, or else the heading line right above it and a
short sentence right after it.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np

from desktop_app.core.chat.citations import Source
from desktop_app.core.chat.entries import POINTER, entry_name, is_heading, lead_of, with_header
from desktop_app.core.chat.names import code_names, names_one, names_other
from desktop_app.core.chat.sentences import (  # noqa: F401  (answer_kinds, quantities: used through support)
    _SOFT_WRAP, ANSWER_KINDS, answer_kinds, numbers, quantities, sentence_spans, stem, strip_markers, terms)
from desktop_app.core.logs import user_text

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], "np.ndarray"]

# Content words of a sentence the passage may lack and the sentence still
# count as supported: the model's connecting words ("provides", "allows").
MAX_UNSUPPORTED_WORDS = 1
# What a sentence adds must stand within this many adjacent passage sentences.
WINDOW_SENTENCES = 2
# How sure Hearth is that the best sentence answers (``confidence``): a
# logistic score, shown when >= 0, over what the ranking knows of the quote:
# "relevance", the best sentence score for the question alone (cosine +
# OVERLAP_WEIGHT * idf-weighted overlap share); "score", the quote's ranking
# score; "margin", how far it leads the best sentence saying something else;
# "passage", the retrieval rank of the first passage stating it (1 first).
# Fitted by bench/fit_confidence.py on the nine development records in
# bench/data/records/ (dev, dev2, blind3-9; each set held out in turn for
# the estimate, all nine for these weights), with the quotes as shown (an
# entry's name before its sentence: ``entries.entry_name``). It replaced
# two score thresholds and the model's reading (query likelihood); whether the
# model's draft points at the quote carried no weight once seven sets were
# fitted (bench/data/README.md).
CONFIDENCE = {"relevance": 1.969, "score": 3.655, "margin": 3.983, "passage": -0.111}
CONFIDENCE_BIAS = -6.565
OVERLAP_WEIGHT = 0.5
# A quoted sentence shorter than this (in words) takes a neighbour too.
MIN_QUOTE_WORDS = 5
# A supported sentence answers the question when where it is supported
# scores within this of the best passage sentence (see ground).
RELEVANCE_MARGIN = 0.25
# How much a sentence containing all the draft adds gains in the ranking.
DRAFT_WEIGHT = 0.3
# Share of what the quote adds to the question that a supported statement
# must carry to be shown instead of the quote.
STATEMENT_COVERAGE = 0.75
# What a pair of adjacent sentences gives up against a single sentence, so
# that two are quoted only when together they answer clearly better.
PAIR_PENALTY = 0.05
MAX_QUOTE_CHARS = 400
# How much a sentence that states what kind of thing the question asks for
# (ANSWER_KINDS) gains in the ranking of quotable sentences. Not part of the
# "not covered" score: what a sentence states does not make it on topic.
KIND_WEIGHT = 0.2
# How far below its lead (``entries.lead_of``) a sentence of an entry ranks at most.
LEAD_GAP = 0.1

# Names written as code (WARNING, os.urandom, dirs_exist_ok, FileExistsError):
# they cannot be paraphrased, so a window supports a sentence only with them.
_NAME = re.compile(r"\b(?:[A-Z][A-Z0-9_]{2,}|[A-Za-z]\w*[._]\w[\w.]*|[A-Z][a-z]+[A-Z]\w*)\b")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|can't|won't|doesn't|don't|isn't|aren't|"
                       r"neither|nor|without|n't)\b", re.I)
STATEMENT, QUOTE, NOT_COVERED = "statement", "quote", "not_covered"
NOT_FOUND = "I could not find a sentence in your documents that answers this, so I won't guess."


@dataclass(frozen=True)
class Grounded:
    """What the engine shows: ``kind`` is statement, quote or not_covered."""

    kind: str
    text: str
    citations: list


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
    # The heading the quoted sentence stands under, further up its passage
    # (offsets in source.text), shown before it with an ellipsis:
    # "checkpoint_timeout (integer) … The default is five minutes (5min)."
    lead: Optional[tuple[int, int]] = None

    @property
    def text(self) -> str:
        body = self._body()
        if self.lead is None:
            return body
        return f"{' '.join(self.source.text[self.lead[0]:self.lead[1]].split())} … {body}"

    @property
    def heading(self) -> str:
        """The heading the quote stands under: its lead, or its own first
        line when that is a heading; empty when neither."""
        if self.lead is not None:
            return self.source.text[self.lead[0]:self.lead[1]]
        first = self.source.text[self.start:self.end].split("\n", 1)
        return first[0] if len(first) > 1 and is_heading(first[0]) else ""

    def _body(self) -> str:
        # A heading line of the quote ("exception KeyError") runs into its
        # sentence with a dash, not as one run-on sentence.
        # A hard wrap inside a sentence is a space.
        text = self.source.text[self.start:self.end]
        text = _SOFT_WRAP.sub(" ", text) if "\n" in text else text
        lines = [" ".join(line.split()) for line in text.split("\n")]
        return " — ".join(line for line in lines if line)


@dataclass(frozen=True)
class Ranked:
    """Every sentence of the given passages, and every pair of adjacent
    ones, scored against the question. ``spans[:singles]`` are the single
    sentences in passage order; the pairs follow."""

    spans: list            # (source, start, end)
    scores: np.ndarray     # for the question, raised where the model's draft points
    by_question: np.ndarray  # for the question alone
    singles: int = 0
    # The heading each was read under (``entries.lead_of``), or None.
    leads: Optional[list] = None

    def best(self) -> int:
        return int(np.argmax(self.scores))

    def score_of(self, source: Source, start: int, end: int, by_question: bool = False) -> float:
        """The best score of the sentences overlapping ``source.text[start:end]``
        (and of the pairs inside it)."""
        scores = self.by_question if by_question else self.scores
        inside = [scores[i] for i, (s, a, b) in enumerate(self.spans)
                  if s is source and (a < end and b > start if i < self.singles else start <= a and b <= end)]
        return float(max(inside)) if inside else 0.0


def candidate_spans(sources: Sequence[Source]) -> tuple[list, int]:
    """The (source, start, end) spans ``rank_sentences`` scores, and how
    many of them are single sentences: every sentence of the passages with
    two or more words or numbers, in passage order, then every pair of
    adjacent ones within one block of text (no blank line between),
    headings aside. Two sentences read together ("The epoch is the point
    where the time starts ... It is January 1, 1970") answer what neither
    does alone."""
    singles = [(s, a, b) for s in sources for a, b in sentence_spans(s.text)
               if len(terms(s.text[a:b])) + len(numbers(s.text[a:b])) >= 2]
    pairs = [(s, a, d) for (s, a, b), (t, c, d) in zip(singles, singles[1:])
             if s is t and d - a <= MAX_QUOTE_CHARS and not re.search(r"\n\s*\n", s.text[b:c])
             and not is_heading(s.text[a:b]) and not is_heading(s.text[c:d])]
    return singles + pairs, len(singles)


def rank_sentences(question: str, sources: Sequence[Source], embed: Optional[Embed],
                   draft: str = "") -> Optional[Ranked]:
    """Scores of the passages' sentences for ``question`` (module docstring).
    What the model's ``draft`` adds to the question (its words and numbers)
    raises the sentences that contain it: the draft often points at the
    right sentence even when its own wording is off."""
    spans, n = candidate_spans(sources)
    if not n:
        return None
    asked = terms(question)
    # A table row ("WARNING | 30") is read under its table's header row
    # ("Level | Numeric value"), as a reader would; the quote stays the row.
    # A sentence further down an entry ("The default is five minutes.")
    # is read under the heading of its entry ("checkpoint_timeout
    # (integer)") when that heading says something the question asks about
    # that the sentence does not repeat: which entry it belongs to is part
    # of what it says.
    named = code_names(question)
    leads = [lead_of(s, a, asked, named) for s, a, b in spans]
    readings = [with_header(s, a, b) if lead is None
                else f"{s.text[lead[0]:lead[1]].strip()}\n{s.text[a:b]}" for (s, a, b), lead in zip(spans, leads)]
    sentence_terms = [terms(r) for r in readings]
    # idf over the candidate sentences: a word every sentence has says little.
    idf = {w: math.log(1 + n / (1 + sum(w in t for t in sentence_terms[:n]))) for w in asked}
    total = sum(idf.values()) or 1.0
    overlap = np.array([sum(idf[w] for w in asked & t) / total for t in sentence_terms])
    if embed is not None:
        vectors = np.asarray(embed([question] + [" ".join(r.split()) for r in readings]), dtype=np.float32)
        cosine = vectors[1:] @ vectors[0]
    else:
        cosine = np.zeros(len(spans), dtype=np.float32)
    by_question = cosine + OVERLAP_WEIGHT * overlap
    by_question[n:] -= PAIR_PENALTY
    # A sentence that adds nothing to the question (a heading restating it,
    # "The pass statement") cannot answer it, however close it reads.
    # Nor can a sentence that only sends the reader elsewhere ("See git-repack(1)
    # for more details.").
    said = numbers(question)
    barred = np.array([0.0 if (t - asked or numbers(s.text[a:b]) - said)
                       and not POINTER.match(s.text[a:b]) else 1.0
                       for t, (s, a, b) in zip(sentence_terms, spans)])
    # A sentence of an entry is as close to the question as its lead, but
    # LEAD_GAP: of an entry that answers, the sentence stating the kind of
    # thing asked for ("Default: 64.") then outranks the entry's first line.
    where = {(id(s), a): i for i, (s, a, _) in enumerate(spans[:n])}
    for i, ((s, _, _), lead) in enumerate(zip(spans, leads)):
        j = where.get((id(s), lead[0])) if lead else None
        if j is not None and not barred[i]:
            by_question[i] = max(by_question[i], by_question[j] - barred[j] - LEAD_GAP)
    by_question -= barred
    kinds = answer_kinds(question)
    scores = by_question.copy()
    if kinds:
        stated = np.array([sum(states(s.text[a:b], question) for _, states in kinds) / len(kinds)
                           for s, a, b in spans])
        scores = scores + KIND_WEIGHT * stated
    added = _additions(draft, question)
    if added:
        found = np.array([len(added & (t | {f"#{x}" for x in numbers(s.text[a:b])})) / len(added)
                          for t, (s, a, b) in zip(sentence_terms, spans)])
        scores = scores + DRAFT_WEIGHT * found
    return Ranked(spans, scores, by_question, n, leads)


def best_quote(question: str, sources: Sequence[Source], embed: Optional[Embed],
               ranked: Optional[Ranked] = None) -> Optional[Quote]:
    """The passage sentence(s) that best answer ``question`` (module docstring)."""
    ranked = ranked or rank_sentences(question, sources, embed)
    if ranked is None:
        return None
    singles, scores = ranked.spans[: ranked.singles], ranked.scores
    best = ranked.best()
    source, start, end = ranked.spans[best]
    first = next(i for i, (s, a, _) in enumerate(singles) if s is source and a == start)
    last = next(i for i, (s, _, b) in enumerate(singles) if s is source and b == end)
    # Neighbours with nothing else (a skipped line) between.
    before = first - 1 if first > 0 and singles[first - 1][0] is source \
        and not source.text[singles[first - 1][2]:start].strip() else None
    after = last + 1 if last + 1 < len(singles) and singles[last + 1][0] is source \
        and not source.text[end:singles[last + 1][1]].strip() else None
    text_of = lambda i: source.text[singles[i][1]:singles[i][2]]
    if " | " in source.text[start:end]:
        before = after = None    # a table row is complete under its header; its neighbours are other rows
    if first == last and len(text_of(first).split()) < MIN_QUOTE_WORDS and (before, after) != (None, None):
        # A fragment ("Default five seconds.") reads with the neighbour closer to the question.
        other = max((i for i in (before, after) if i is not None), key=lambda i: scores[i])
        start, end = min(start, singles[other][1]), max(end, singles[other][2])
    elif before is not None and is_heading(text_of(before)):
        # The heading right above names what the sentence is about ("exception KeyError").
        start = singles[before][1]
    if after is not None and singles[after][2] > end and len(text_of(after).split()) < MIN_QUOTE_WORDS \
            and not is_heading(text_of(after)):
        # A short sentence right after finishes the thought ("... wait? Default five seconds.").
        end = singles[after][2]
    if end - start > MAX_QUOTE_CHARS:
        cut = source.text.rfind(" ", start, start + MAX_QUOTE_CHARS)
        end = cut if cut > start else start + MAX_QUOTE_CHARS
    lead = ranked.leads[best] if ranked.leads else None
    if lead is None:
        lead = entry_name(source, start, end)
    if lead is not None and lead[0] >= start:
        lead = None              # the heading is part of the quote already
    elif lead is not None and not source.text[lead[1]:start].strip():
        start, lead = lead[0], None   # right above: quoted with it
    return Quote(source, start, end, float(scores[best]), lead)


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


def confidence_features(question: str, ranked: Ranked, quote: Quote) -> dict[str, float]:
    """What ``confidence`` weighs (see CONFIDENCE) for ``quote``, the best
    of ``ranked`` (whose scores count what the model's draft points at)."""
    best = ranked.best()
    source, start, end = ranked.spans[best]
    # The margin is over sentences that say something else: not overlapping
    # the best, nor repeating it or a piece of it (the same sentence in
    # another passage, or cut by a passage's edge, agrees with it).
    said = " ".join(source.text[start:end].split())
    texts = [" ".join(s.text[a:b].split()) for s, a, b in ranked.spans]
    others = [score for (s, a, b), text, score in zip(ranked.spans, texts, ranked.scores)
              if not (s is source and a < end and b > start) and not (said in text or text in said)]
    # Its passage: the first given that states it.
    first = min([s.n for (s, _, _), text in zip(ranked.spans, texts) if said in text] + [quote.source.n])
    return {"relevance": float(ranked.by_question.max()), "score": float(ranked.scores[best]),
            "margin": float(ranked.scores[best] - max(others)) if others else 1.0,
            "passage": float(first)}


def confidence(features: dict[str, float]) -> float:
    """How sure the best sentence answers: >= 0 to show it (CONFIDENCE)."""
    return CONFIDENCE_BIAS + sum(w * features[k] for k, w in CONFIDENCE.items())


def rule_out(question: str, quote: Quote) -> str:
    """Why ``quote`` cannot answer ``question`` whatever its score (it states
    no kind of thing asked for, or not the name asked about), or ""."""
    names = code_names(question)
    missing = [name for name, states in answer_kinds(question) if not states(quote.text, question)]
    if missing:
        return f"the best sentence states no {missing[0]}, which the question asks for"
    if names and not names_one(replace(quote.source, text=quote.text), names):
        return "the best sentence does not name what the question names in code form"
    if names and names_other(quote.heading, names):
        return "the best sentence stands under the heading of another name"
    return ""


def candidate(question: str, text: str, sources: Sequence[Source],
              embed: Optional[Embed]) -> Optional[tuple[Ranked, Quote]]:
    """The ranking and its best quote, when no rule rules the quote out
    (``rule_out``, or no passage naming what the question names in code
    form); whether it is shown is then ``confidence``'s call. ``text`` is
    the model's draft. Shared with bench/fit_confidence.py, which fits the
    score on exactly these candidates."""
    names = code_names(question)
    if names and not any(names_one(s, names) for s in sources):
        log.info("no passage names what the question names in code form")
        return None
    ranked = rank_sentences(question, sources, embed, text)
    quote = best_quote(question, sources, embed, ranked)
    if quote is None:
        return None
    log.info("best sentence score %.3f for %r: %r", float(ranked.by_question.max()), user_text(question),
             user_text(quote.text[:160]))
    why = rule_out(question, quote)
    if why:
        log.info(why)
        return None
    return ranked, quote


def ground(question: str, answer: str, citations: Sequence[dict], sources: Sequence[Source],
           embed: Optional[Embed]) -> Grounded:
    """The answer to show for a document question (module docstring).

    ``answer`` and ``citations`` are the model's text and its resolved
    citations; ``sources`` are the passages given to the model (full text)."""
    text = answer.strip()
    found = candidate(question, text, sources, embed)
    if found is None:
        return Grounded(NOT_COVERED, "", [])
    ranked, quote = found
    sure = confidence(confidence_features(question, ranked, quote))
    if sure < 0:
        log.info("not sure enough that the best sentence answers (confidence %.2f)", sure)
        return Grounded(NOT_COVERED, "", [])
    return shown(question, text, citations, sources, ranked, quote)


def shown(question: str, text: str, citations: Sequence[dict], sources: Sequence[Source],
          ranked: Ranked, quote: Quote) -> Grounded:
    """The answer shown once the best sentence stands: the model's supported
    statement when it says what the quote says, else the quote."""
    by_n = {s.n: s for s in sources}
    cited = [by_n[c["n"]] for c in citations if c.get("n") in by_n]
    # The cited passages first; another given passage that supports the
    # sentence is cited instead (small models often write [1] for any source).
    for source in cited + [s for s in sources if s not in cited]:
        stated = _supported_prefix(text, source, question, ranked) if text else ""
        stated = _agreeing_prefix(stated, question, quote) if stated else ""
        if stated:
            marked = stated[:-1] + f" [{source.n}]." if stated.endswith(".") else f"{stated} [{source.n}]"
            model_cited = {c["n"]: c for c in citations}
            return Grounded(STATEMENT, marked, [model_cited.get(source.n) or source.citation(inferred=True)])
    log.info("answer %r does not answer from its passages; quoting instead", user_text(text))
    return Grounded(QUOTE, quote_text(quote), [quote_citation(quote)])


def _facts(text: str) -> set[str]:
    """Content words and "#"-marked numbers of ``text``."""
    return terms(text) | {f"#{x}" for x in numbers(text)}


def _agreeing_prefix(stated: str, question: str, quote: Quote) -> str:
    """The leading sentences of a supported statement that say what the
    best-ranked quote says (what each adds to the question is in the quote,
    but a third), provided together they carry at least STATEMENT_COVERAGE
    of what the quote adds: a true sentence about something else, or a
    paraphrase that drops the quote's point ("items are discarded" for
    "discarded from the opposite end"), gives way to the quote. Empty when
    the quote should be shown."""
    quoted = _facts(quote.text)
    kept = 0
    for a, b in sentence_spans(stated):
        adds = _additions(stated[a:b], question)
        if len(adds - quoted) > len(adds) // 3:
            break
        kept = b
    point = _additions(quote.text, question)
    if not kept or len(point & _facts(stated[:kept])) < STATEMENT_COVERAGE * len(point):
        log.info("statement %r gives way to the quote", user_text(stated))
        return ""
    return stated[:kept].strip()


def _additions(draft: str, question: str) -> set[str]:
    """What ``draft`` adds to ``question``: its new content words, and its
    new numbers marked with "#"."""
    draft = strip_markers(draft)
    return (terms(draft) - terms(question)) | {f"#{x}" for x in numbers(draft) - numbers(question)}
