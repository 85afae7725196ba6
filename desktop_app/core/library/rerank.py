"""Second pass over the fused candidates: the first places for the files
the evidence points to, and for different evidence rather than the same
passage again.

``rank.fuse`` scores each passage on its own. Over its first ``pool``
candidates this pass adds what a passage alone cannot show:

- **document evidence**: several good candidates from one file are
  evidence that the file is about the question, so each passage gets a small
  share (``file_evidence``) of the summed scores of its file's other
  candidates among the first ``evidence_pool``; a page earns it by matching
  in several places among the strongest candidates, not by being long (a
  long page with many middling passages further down the pool gets none);
- **the same text twice**: a document kept in two forms (a page and its
  source, an exported copy, a revised version) gives two passages that say
  the same thing in nearly the same words, and both score alike;
- **one file many times**: a file that matches in many places would fill
  the first five places, above the one page elsewhere that answers a little
  less well by the scores.

The first ``k`` places are then chosen greedily (maximal marginal relevance,
Carbonell & Goldstein 1998): each place goes to the candidate with the best
score less a penalty for its nearest already-placed passage (cosine of the
stored vectors, counted only above ``duplicate_floor``, so passages on the
same topic in different words are not penalized) and a penalty for each
passage of its file already placed. A passage clearly better than the rest
keeps its place; passages only change places within the pool.

Chosen with bench/retrieval.py on the Python, LaTeX and git-doc sets
(bench/data/README.md has the figures and what else was tried: re-scoring
by sentence-level embedding similarity and a second, content-words query
vector both cost an encoder call or many and did not help on every set).
Evidence from the first five candidates rather than the whole pool was
chosen later with bench/fusion_variants.py on those three sets and the
PostgreSQL and SQLite ones: counted over the whole pool, a page with five
middling passages moved one of the Python set's answers to second place,
so hybrid fell below vector alone on that set.
It costs well under a millisecond a query: one read of the pool's vectors
(30 x 384 floats) and a few small numpy operations per place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class RerankWeights:
    # Fused scores lie in about [0, 1.3] (the vector side normalized to
    # [0, 1] at weight 1, BM25 at 0.3), so the penalties are on that scale.
    file_evidence: float = 0.05   # bonus: share of the file's other pool passages' scores (summed)
    same_file: float = 0.3        # per passage of the same file already placed
    near_duplicate: float = 0.5   # at cosine 1 with a placed passage, 0 at the floor
    duplicate_floor: float = 0.7  # cosine below which two passages are not "the same text"
    pool: int = 30                # how many of the fused candidates may move up
    evidence_pool: int = 5        # how many of the first candidates count as document evidence


DEFAULT_RERANK = RerankWeights()
POOL = DEFAULT_RERANK.pool
DUPLICATE_FLOOR = DEFAULT_RERANK.duplicate_floor


def rerank(ranked: Sequence[tuple[int, float]], file_of: Mapping[int, Hashable], k: int,
              vectors: Optional[Mapping[int, np.ndarray]] = None,
              params: RerankWeights = DEFAULT_RERANK) -> list[tuple[int, float]]:
    """The first ``k`` of ``ranked`` (chunk id, fused score, best first),
    chosen greedily from its first ``params.pool`` with document evidence,
    so that near-copies of a placed passage and further passages of a placed
    file yield to other evidence. Each score returned is the one the passage
    was placed by (fused score plus its file's evidence less its penalties),
    so the list stays sorted.

    ``vectors`` maps chunk ids to their unit vectors; a chunk without one is
    never taken for a near-copy. A chunk missing from ``file_of`` is its own
    file."""
    pool = list(ranked[:max(params.pool, k)])
    if k <= 0 or not pool:
        return []
    n = len(pool)
    scores = np.array([s for _, s in pool], dtype=np.float64)
    files = [file_of.get(c, ("chunk", c)) for c, _ in pool]
    if params.file_evidence > 0:
        strongest = min(n, params.evidence_pool)
        total: dict[Hashable, float] = {}
        for f, s in zip(files[:strongest], scores[:strongest]):
            total[f] = total.get(f, 0.0) + max(0.0, float(s))
        scores = scores + params.file_evidence * np.array(
            [total.get(f, 0.0) - (max(0.0, float(s)) if i < strongest else 0.0)
             for i, (f, s) in enumerate(zip(files, scores))])
    dim = next((len(v) for v in (vectors or {}).values()), 0)
    has_vec = np.zeros(n, dtype=bool)
    mat = np.zeros((n, max(dim, 1)), dtype=np.float32)
    if vectors and params.near_duplicate > 0:
        for i, (c, _) in enumerate(pool):
            v = vectors.get(c)
            if v is not None and len(v) == dim:
                mat[i] = v
                has_vec[i] = True
    nearest = np.full(n, -1.0)        # cosine to the nearest placed passage
    same_file = np.zeros(n)           # passages of the same file placed
    free = np.ones(n, dtype=bool)
    span = max(1e-9, 1.0 - params.duplicate_floor)
    out: list[tuple[int, float]] = []
    for _ in range(min(k, n)):
        copy = np.clip((nearest - params.duplicate_floor) / span, 0.0, 1.0)
        adjusted = scores - params.near_duplicate * copy - params.same_file * same_file
        adjusted[~free] = -np.inf
        i = int(np.argmax(adjusted))
        free[i] = False
        out.append((pool[i][0], float(adjusted[i])))
        if has_vec[i]:
            sims = mat @ mat[i]
            sims[~has_vec] = -1.0
            np.maximum(nearest, sims, out=nearest)
        for j in range(n):
            if files[j] == files[i]:
                same_file[j] += 1
    return out
