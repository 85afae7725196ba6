"""Second pass over the fused candidates: the first places for different
evidence, not for the same passage again.

``rank.fuse`` scores each passage on its own. Two things then crowd the
first places with what the reader has already seen:

- **the same text twice**: a document kept in two forms (a page and its
  source, an exported copy, a revised version) gives two passages that say
  the same thing in nearly the same words, and both score alike;
- **one file many times**: a long page that matches the question in many
  places fills the first five places, above the one page elsewhere that
  answers it a little less well by the scores.

So the first ``k`` places are chosen greedily (maximal marginal relevance,
Carbonell & Goldstein 1998): each place goes to the candidate with the best
fused score less a penalty for its nearest already-placed passage (cosine of
the stored vectors, counted only above ``DUPLICATE_FLOOR``, so passages on
the same topic in different words are not penalized) and a penalty for
each passage of its file already placed. A passage that is clearly better
than the rest keeps its place anyway; nothing is dropped, passages only
change places within the first ``POOL`` candidates.

Chosen with bench/retrieval.py on the Python, LaTeX and git-doc sets
(bench/data/README.md has the figures and what else was tried). It costs a
fraction of a millisecond: one read of the pool's vectors (``POOL`` x 384
floats) and a few small numpy operations per place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Diversity:
    # Fused scores lie in about [0, 1.3] (the vector side normalized to
    # [0, 1] at weight 1, BM25 at 0.3), so the penalties are on that scale.
    same_file: float = 0.3        # per passage of the same file already placed
    near_duplicate: float = 0.5   # at cosine 1 with a placed passage, 0 at the floor
    duplicate_floor: float = 0.7  # cosine below which two passages are not "the same text"
    pool: int = 30                # how many of the fused candidates may move up


DEFAULT_DIVERSITY = Diversity()
POOL = DEFAULT_DIVERSITY.pool
DUPLICATE_FLOOR = DEFAULT_DIVERSITY.duplicate_floor


def diversify(ranked: Sequence[tuple[int, float]], file_of: Mapping[int, Hashable], k: int,
              vectors: Optional[Mapping[int, np.ndarray]] = None,
              params: Diversity = DEFAULT_DIVERSITY) -> list[tuple[int, float]]:
    """The first ``k`` of ``ranked`` (chunk id, fused score, best first),
    chosen greedily from its first ``params.pool`` so that near-copies of a
    placed passage and further passages of a placed file yield to other
    evidence. Each score returned is the one the passage was placed by (its
    fused score less its penalties), so the list stays sorted.

    ``vectors`` maps chunk ids to their unit vectors; a chunk without one is
    never taken for a near-copy. A chunk missing from ``file_of`` is its own
    file."""
    pool = list(ranked[:max(params.pool, k)])
    if k <= 0 or not pool:
        return []
    n = len(pool)
    scores = np.array([s for _, s in pool], dtype=np.float64)
    files = [file_of.get(c, ("chunk", c)) for c, _ in pool]
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
