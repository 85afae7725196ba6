"""How likely a loaded model finds a text after another: its mean token log-probability.

Used to let the model read: ``support.ground`` asks how likely the
question is after each candidate sentence of the passages ("query
likelihood"), a reading of the passages that does not depend on the words
a small model happens to generate. Runs on the session's owner thread with
the session's own ``llama_cpp.Llama``: the prefix is evaluated as usual,
the continuation in one batch that asks logits for every position, and the
model's token state is reset afterwards so the next generation starts clean.
"""

from __future__ import annotations

import numpy as np


def continuation_logprob(llm, prefix: str, continuation: str, *, add_bos: bool = True) -> float:
    """Mean natural-log probability per token of ``continuation`` after
    ``prefix`` under ``llm`` (a ``llama_cpp.Llama``). The prefix is cut from
    the left when the two do not fit the context."""
    pre = llm.tokenize(prefix.encode("utf-8", errors="replace"), add_bos=add_bos, special=False)
    cont = llm.tokenize(continuation.encode("utf-8", errors="replace"), add_bos=False, special=False)
    if not cont:
        return 0.0
    n_ctx, n_batch = llm.n_ctx(), llm.n_batch
    cont = cont[: max(1, min(n_batch, n_ctx // 2))]
    room = n_ctx - len(cont)
    if len(pre) > room:
        pre = pre[:1] + pre[len(pre) - room + 1:] if add_bos and pre else pre[len(pre) - room:]
    llm.reset()
    try:
        if pre:
            llm.eval(pre)
            first = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=cont, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(cont) * llm.n_vocab(),))
        rows = rows.reshape(len(cont), llm.n_vocab()).astype(np.float64)
        # Row i predicts token i + 1; the prefix's last row predicts token 0.
        predictors = np.vstack([first[None, :], rows[:-1]]) if pre else rows[:-1]
        targets = cont if pre else cont[1:]
        if not len(targets):
            return 0.0
        top = predictors.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(predictors - top).sum(axis=1))
        picked = predictors[np.arange(len(targets)), targets]
        return float(np.mean(picked - log_norm))
    finally:
        llm.reset()
