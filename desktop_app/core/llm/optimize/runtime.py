"""A thin, explicit llama.cpp runner for measuring models (evaluate, prune).

``llama_cpp.Llama`` keeps logits for *every* position in a numpy array of
n_ctx x n_vocab floats when asked for all logits (512 MB for Gemma 3's 262k
vocabulary at n_ctx 512). Measuring needs logits only for the scored half of a
window, a few rows at a time, and the graph-evaluation callback (``cb_eval``)
for hidden states, which ``Llama`` does not expose. So this module drives
llama-cpp-python's own ``_internals`` wrappers (pinned version 0.3.36)
directly: one model, one context, one batch, logits requested per position.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)


def default_threads() -> int:
    # Half the logical CPUs (about the physical cores), as llama_cpp.Llama does:
    # llama.cpp threads spin-wait, so oversubscribing a busy machine is slow.
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class ModelRunner:
    """One loaded GGUF with a context of ``n_ctx`` tokens.

    ``cb_eval`` is an optional ``(tensor_ptr, ask, user_data) -> bool`` graph callback
    (see ``llama_cpp.ggml_backend_sched_eval_callback``).
    """

    def __init__(self, path: os.PathLike | str, *, n_ctx: int = 512, n_batch: Optional[int] = None,
                 n_threads: Optional[int] = None,
                 cb_eval: Optional[Callable[[ctypes.c_void_p, bool, ctypes.c_void_p], bool]] = None) -> None:
        from llama_cpp import _internals, llama_cpp
        from llama_cpp._logger import set_verbose

        # llama.cpp logs every graph build at debug level through a Python
        # callback: thousands of lines per window, and slow. Errors only.
        set_verbose(False)
        self._llama_cpp = llama_cpp
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no model file at {self.path}")
        llama_cpp.llama_backend_init()
        n_batch = n_batch or n_ctx
        threads = n_threads or default_threads()
        mparams = llama_cpp.llama_model_default_params()
        self.model = _internals.LlamaModel(path_model=str(self.path), params=mparams, verbose=False)
        try:
            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = n_ctx
            cparams.n_batch = n_batch
            cparams.n_ubatch = n_batch
            cparams.n_seq_max = 1
            cparams.n_threads = threads
            cparams.n_threads_batch = threads
            # Keep the C callback object alive as long as the context.
            self._cb = None
            if cb_eval is not None:
                self._cb = llama_cpp.ggml_backend_sched_eval_callback(cb_eval)
                cparams.cb_eval = self._cb
                cparams.cb_eval_user_data = None
            self.ctx = _internals.LlamaContext(model=self.model, params=cparams, verbose=False)
            self.batch = _internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        except BaseException:
            self.model.close()
            raise
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_vocab = self.model.n_vocab()
        self.bos = self.model.token_bos()
        self.add_bos = bool(self.model.add_bos_token())

    def close(self) -> None:
        self.batch.close()
        self.ctx.close()
        self.model.close()

    def __enter__(self) -> "ModelRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def tokenize(self, text: str) -> list[int]:
        """As llama.cpp's perplexity tool: BOS added if the vocab wants it,
        special-token text not parsed."""
        return self.model.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=False)

    def clear(self) -> None:
        self.ctx.kv_cache_clear()

    def decode(self, tokens: Sequence[int], start_pos: int, want_logits: Sequence[bool]) -> Optional[np.ndarray]:
        """Decode ``tokens`` at positions ``start_pos...`` (sequence 0) and
        return the logits rows of the positions flagged in ``want_logits``, in
        order, as a float32 view into llama.cpp's buffer (valid until the next
        decode), or None if none was wanted."""
        n = len(tokens)
        if n > self.n_batch:
            raise ValueError(f"batch of {n} tokens exceeds n_batch {self.n_batch}")
        b = self.batch.batch
        b.n_tokens = n
        n_out = 0
        for i, tok in enumerate(tokens):
            b.token[i] = tok
            b.pos[i] = start_pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = bool(want_logits[i])
            n_out += bool(want_logits[i])
        self.ctx.decode(self.batch)
        if not n_out:
            return None
        ptr = self.ctx.get_logits()
        return np.ctypeslib.as_array(ptr, shape=(n_out * self.n_vocab,)).reshape(n_out, self.n_vocab)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float32 with a float64 normaliser."""
    logits = np.asarray(logits, dtype=np.float32)
    top = logits.max(axis=1, keepdims=True)
    shifted = logits - top
    norm = np.log(np.exp(shifted).sum(axis=1, dtype=np.float64, keepdims=True)).astype(np.float32)
    return shifted - norm
