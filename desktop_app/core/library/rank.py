"""Hybrid ranking: one list from the vector and BM25 candidate lists.

Reciprocal-rank fusion throws the scores away: the vector side's clear
winner (cosine 0.71 against 0.52 for the next) weighs the same as a BM25
list whose first ten are all but tied. What is used here instead:

1. **Scores, normalized per query** (CombSUM). Each side's scores are
   mapped to [0, 1] against its own candidate list: the best candidate gets
   1 and a candidate as weak as the list's ``floor`` quantile gets 0. A
   passage the other side did not return gets 0 from it.
2. **Weights** per side (the vector side counts more: on prose questions it
   is the stronger half, and BM25 adds what it misses: names, numbers, rare
   words).
3. **Document evidence.** Several good passages of one file are evidence
   that the file is about the question: each passage gets a bonus from the
   other good passages of its file (the best of them, with a small share of
   the rest), so the best passage of a file that matches throughout ranks
   above a lone passage elsewhere that matches a few words. It pays when
   the vectors were made from the bare passage text (a library not yet
   re-embedded); vectors of "title > headings: text" already carry most of
   it, and get a lighter form of it over the first candidates only in
   ``rerank.py`` (with the near-copy and same-file penalties).

The constants were chosen on the development sets (bench/retrieval.py,
Python and LaTeX documentation); bench/data/README.md has the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

Scored = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class FusionWeights:
    vector: float = 1.0
    bm25: float = 0.3
    floor: float = 0.0           # quantile of a list's scores that maps to 0 (0: the weakest)
    doc_best: float = 0.0        # bonus: share of the file's best other passage
    doc_rest: float = 0.0        # bonus: share of each further passage of the file
    # Only candidates count (the top MIN_CANDIDATES of each side), so a long
    # page earns the bonus by matching in many places, not by being long.
    doc_rest_max: int = 100


# Vectors made from "title > headings: text" (context.py) already carry what
# document evidence adds: on both dev sets it gained nothing there (hit@1
# 0.966 -> 0.931 on the Python set), while for vectors of the bare text
# (a library from an earlier version, until it is re-embedded) it lifted
# hybrid hit@1 from 0.897 to 0.966 (Python) and 0.844 to 0.875 (LaTeX).
DEFAULT_WEIGHTS = FusionWeights()
BARE_TEXT_WEIGHTS = FusionWeights(bm25=0.45, doc_best=0.15, doc_rest=0.05)


def normalized(hits: Scored, floor: float) -> dict[int, float]:
    """Scores mapped to [0, 1]: the best is 1, the ``floor`` quantile 0."""
    if not hits:
        return {}
    scores = sorted(s for _, s in hits)
    top = scores[-1]
    low = scores[min(len(scores) - 1, int(floor * (len(scores) - 1)))] if len(scores) > 1 else top
    if top - low <= 1e-9:
        return {cid: 1.0 for cid, _ in hits}
    return {cid: max(0.0, (s - low) / (top - low)) for cid, s in hits}


def fuse(vector_hits: Scored, bm25_hits: Scored, file_of: Mapping[int, object],
         weights: FusionWeights = DEFAULT_WEIGHTS) -> list[tuple[int, float]]:
    """All candidates, best first, as (chunk id, fused score).

    ``file_of`` maps each candidate chunk id to its file (any hashable);
    a chunk missing from it is its own document."""
    vec = normalized(vector_hits, weights.floor)
    lex = normalized(bm25_hits, weights.floor)
    base: dict[int, float] = {}
    for cid in list(vec) + [c for c in lex if c not in vec]:
        base[cid] = weights.vector * vec.get(cid, 0.0) + weights.bm25 * lex.get(cid, 0.0)
    by_file: dict[object, list[float]] = {}
    for cid, score in base.items():
        by_file.setdefault(file_of.get(cid, ("chunk", cid)), []).append(score)
    for scores in by_file.values():
        scores.sort(reverse=True)
    fused = {}
    for cid, score in base.items():
        others = list(by_file[file_of.get(cid, ("chunk", cid))])
        others.remove(score)
        bonus = 0.0
        if others:
            bonus = weights.doc_best * others[0] + weights.doc_rest * sum(others[1:1 + weights.doc_rest_max])
        fused[cid] = score + bonus
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
