"""Follow-up questions: search the library the way a person reads a
conversation.

"And what about continue?" means nothing on its own to a search engine, and
glued to whatever was asked just before ("Who won the World Cup? And what
about continue?") it finds neither topic. A person reads it two ways at once:
as it stands (``continue`` is a word the library knows), and against the
earlier turn it plainly refers to (the one about ``break``, not the football
question in between). So:

1. The question alone is searched.
2. The earlier turn it refers to is chosen by meaning: the turn whose
   question and answer are most similar to the new question (recent turns
   win ties), not merely the previous turn.
3. The question together with that turn's question is searched.
4. The better-covered result list is kept (its best passages are more
   similar to what was searched); passages of the other list that are at
   least as similar as the kept list's weakest are merged in, so a short
   question that is both a follow-up and a topic of its own loses neither.

The chosen turn is returned too, so the prompt can show the model the answer
it is following up on. Qt-free and model-free: it needs only the library's
``search`` and the embedder's ``encode``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from desktop_app.core.chat.conversations import Turn
from desktop_app.core.library.documents import Hit
from desktop_app.core.logs import user_text

log = logging.getLogger(__name__)

# How many of a list's best passages decide its coverage (their mean
# similarity): one lucky passage should not outweigh a list of good ones.
COVERAGE_TOP = 3
# An earlier turn's similarity is reduced by this much per turn of distance,
# so between two equally related turns the more recent one is chosen.
RECENCY_PENALTY = 0.02
# Characters of an earlier answer used to judge what that turn was about.
ANSWER_CHARS = 400


@dataclass(frozen=True)
class FollowupSearch:
    hits: list[Hit]                 # ranked, best first
    query: str                      # the query whose list was kept
    referred: Optional[Turn]        # the earlier turn the question refers to


def coverage(hits: Sequence[Hit]) -> float:
    """Mean similarity of a list's best passages (0 when it has none)."""
    sims = sorted((h.similarity for h in hits if h.similarity is not None), reverse=True)
    top = sims[:COVERAGE_TOP]
    return float(sum(top) / len(top)) if top else 0.0


def referred_turn(question: str, history: Sequence[Turn],
                  encode: Optional[Callable[[list[str]], np.ndarray]]) -> Optional[Turn]:
    """The earlier turn ``question`` most likely follows up on."""
    turns = [t for t in history if t.question.strip()]
    if not turns:
        return None
    if encode is None or len(turns) == 1:
        return turns[-1]
    texts = [question] + [f"{t.question} {t.answer[:ANSWER_CHARS]}" for t in turns]
    vectors = np.asarray(encode(texts), dtype=np.float32)
    sims = vectors[1:] @ vectors[0]
    distance = np.arange(len(turns))[::-1]          # 0 for the latest turn
    scores = sims - RECENCY_PENALTY * distance
    best = int(np.argmax(scores))
    log.debug("follow-up of turn %d of %d (similarities %s)", best + 1, len(turns),
              np.round(sims, 3).tolist())
    return turns[best]


def _key(hit: Hit):
    return hit.chunk_id if hit.chunk_id is not None else (hit.path, hit.start, hit.text[:80])


def search_with_context(question: str, history: Sequence[Turn], search: Callable[[str, int], list[Hit]],
                        k: int, encode: Optional[Callable[[list[str]], np.ndarray]] = None
                        ) -> FollowupSearch:
    """Search for ``question`` alone and in the context of the earlier turn
    it refers to; keep the better-covered results (see the module doc)."""
    alone = list(search(question, k))
    turn = referred_turn(question, history, encode)
    if turn is None:
        return FollowupSearch(alone, question, None)
    query = f"{turn.question} {question}"
    contextual = list(search(query, k))
    if coverage(contextual) > coverage(alone):
        kept, other, kept_query = contextual, alone, query
    else:
        kept, other, kept_query = alone, contextual, question
    floor = min((h.similarity for h in kept if h.similarity is not None), default=0.0)
    seen = {_key(h) for h in kept}
    extra = [h for h in other if _key(h) not in seen and h.similarity is not None and h.similarity >= floor]
    merged = sorted(kept + extra, key=lambda h: -(h.similarity if h.similarity is not None else 0.0))
    log.info("follow-up search: alone %.3f, with context %.3f; kept %r (+%d)",
             coverage(alone), coverage(contextual), user_text(kept_query), len(extra))
    return FollowupSearch(merged[:k], kept_query, turn)


def prompt_history(history: Sequence[Turn], referred: Optional[Turn]) -> list[Turn]:
    """The prompt's history with the referred turn moved last: nearest the
    question, and the last one dropped when the context is short."""
    turns = list(history)
    if referred is None or not turns or turns[-1] is referred:
        return turns
    return [t for t in turns if t is not referred] + [referred]
