"""Will it fit? The memory a GGUF model needs at a context length, from its
header alone, compared with what the machine has free.

The estimate follows what llama.cpp (as llama-cpp-python 0.3.x loads it)
really allocates and touches, term by term:

- weights: the tensor data, memory-mapped from the file; a forward pass
  reads every tensor, so all of it becomes resident.
- KV cache: per layer, cells x kv-heads x (key + value head dims) x the
  cache type's size. Sliding-window layers (Gemma 2/3, ...) get a cache of
  ``pad256(min(n_ctx, window + n_ubatch))`` cells unless the context asks
  for a full-size SWA cache, which is llama.cpp's context default and so
  what Hearth's session gets (``swa_full=True``).
- compute: llama.cpp reserves a worst-case graph buffer (for Gemma 3 mostly
  logits for a whole batch, ~0.5 GB) but only the activations of a real
  batch are ever written, and untouched pages cost no memory on Linux and
  macOS; the estimate counts what a full prompt batch touches.
- output: one row of logits in llama.cpp and one in llama-cpp-python.
- runtime tables: vocabulary and per-token data, measured at about 165
  bytes per vocabulary entry (43 MB for Gemma 3's 262k entries).

``bench/fit.py`` prints this estimate next to the measured peak (VmHWM) of a
child process at several context lengths. What the estimate does not know:
weight repacking by some CPU backends (AMX, ARM repack), which holds a
second copy of the repacked tensors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

from desktop_app.core.llm.gguf_header import ModelInfo

log = logging.getLogger(__name__)

_CACHE_TYPE_BYTES = {"F32": 4.0, "F16": 2.0, "BF16": 2.0, "Q8_0": 34 / 32, "Q5_1": 24 / 32, "Q5_0": 22 / 32,
                     "Q4_1": 20 / 32, "Q4_0": 18 / 32, "IQ4_NL": 18 / 32}
VOCAB_ENTRY_BYTES = 165      # measured: llama.cpp's vocabulary and token tables per entry
SWA_PAD = 256                # llama.cpp pads a sliding-window cache to 256 cells
DEFAULT_UBATCH = 512         # Hearth's session and llama-cpp-python use n_batch = n_ubatch = 512
SAFETY = 0.9                 # keep a tenth of free memory for everything else
CONTEXT_LADDER = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


class MemoryEstimateError(ValueError):
    """A header that lacks what the estimate needs (the message says what)."""


@dataclass(frozen=True)
class Architecture:
    """What the KV cache and activations depend on, read from the header."""
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: tuple[int, ...]      # per layer
    key_length: int
    value_length: int
    swa_layers: Optional[tuple[bool, ...]]
    sliding_window: int
    n_vocab: int


@dataclass(frozen=True)
class MemoryEstimate:
    n_ctx: int
    weights: int
    kv_cache: int
    compute: int
    output: int
    runtime: int
    gpu_layers: int = 0
    on_gpu: int = 0                 # the part of weights and cache held in GPU memory

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute + self.output + self.runtime

    @property
    def in_ram(self) -> int:
        return self.total - self.on_gpu


@dataclass(frozen=True)
class FitCheck:
    estimate: MemoryEstimate
    available: int                  # bytes the OS says are free for a new process
    fits: bool
    suggested_ctx: Optional[int]    # the largest ladder context that fits, when the asked one does not
    message: str                    # one sentence for the user


def architecture(info: ModelInfo) -> Architecture:
    md, arch = info.metadata, info.architecture

    def key(name, default=None):
        return md.get(f"{arch}.{name}", default)

    n_layer = info.layer_count or key("block_count")
    n_embd = info.embedding_length or key("embedding_length")
    n_head = key("attention.head_count")
    if isinstance(n_head, list):
        n_head = max(n_head) if n_head else None
    if not (n_layer and n_embd and n_head):
        raise MemoryEstimateError(f"{info.path.name}: the header does not say how many layers and heads "
                                  "the model has; Hearth cannot estimate its memory")
    kv = key("attention.head_count_kv", n_head)
    n_head_kv = tuple(int(x) for x in kv[:n_layer]) if isinstance(kv, list) else (int(kv),) * n_layer
    n_ff = key("feed_forward_length", 4 * n_embd)
    if isinstance(n_ff, list):
        n_ff = max(n_ff) if n_ff else 4 * n_embd
    swa = None
    window = int(key("attention.sliding_window", 0) or 0)
    if window:
        from desktop_app.core.llm.optimize.prune import PruneError, layer_attention_types

        try:
            _, flags = layer_attention_types(md)
            swa = tuple(flags) if flags is not None else None
        except (PruneError, KeyError, ValueError):
            swa = None   # unknown pattern: count every layer as full (an over-estimate)
    embd = next((t for t in info.tensors if t.name == "token_embd.weight"), None)
    n_vocab = embd.shape[1] if embd is not None and len(embd.shape) > 1 else int(md.get(f"{arch}.vocab_size", 32000))
    return Architecture(
        n_layer=int(n_layer), n_embd=int(n_embd), n_ff=int(n_ff), n_head=int(n_head), n_head_kv=n_head_kv,
        key_length=int(key("attention.key_length", n_embd // n_head)),
        value_length=int(key("attention.value_length", n_embd // n_head)),
        swa_layers=swa, sliding_window=window, n_vocab=int(n_vocab))


def _pad(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def kv_cells(a: Architecture, layer: int, n_ctx: int, *, n_ubatch: int = DEFAULT_UBATCH,
             swa_full: bool = True) -> int:
    """Cells llama.cpp allocates for one layer's cache (see the module docstring)."""
    if a.swa_layers is None or swa_full or not a.swa_layers[layer]:
        return n_ctx
    return _pad(min(n_ctx, a.sliding_window + n_ubatch), SWA_PAD)


def kv_cache_bytes(a: Architecture, n_ctx: int, *, type_k: str = "F16", type_v: str = "F16",
                   n_ubatch: int = DEFAULT_UBATCH, swa_full: bool = True,
                   layers: Optional[Sequence[int]] = None) -> int:
    per_k, per_v = _CACHE_TYPE_BYTES[type_k.upper()], _CACHE_TYPE_BYTES[type_v.upper()]
    total = 0.0
    for il in (range(a.n_layer) if layers is None else layers):
        cells = kv_cells(a, il, n_ctx, n_ubatch=n_ubatch, swa_full=swa_full)
        total += cells * a.n_head_kv[il] * (a.key_length * per_k + a.value_length * per_v)
    return int(total)


def compute_bytes(a: Architecture, n_ctx: int, n_ubatch: int = DEFAULT_UBATCH) -> int:
    """Activations a full prompt batch writes (f32): the feed-forward's
    gate/up/product, a handful of embedding-sized tensors, and one layer's
    attention scores over the cells in use (the allocator reuses memory
    across layers, so one layer's worth is live at a time)."""
    n_tok = min(n_ubatch, n_ctx)
    scores = a.n_head * min(n_ctx, n_ubatch) * n_tok
    return 4 * n_tok * (3 * a.n_ff + 6 * a.n_embd) + 4 * scores


def estimate_memory(info: ModelInfo, n_ctx: int, *, gpu_layers: int = 0, gpu_offload: bool = False,
                    swa_full: bool = True, type_k: str = "F16", type_v: str = "F16",
                    n_ubatch: int = DEFAULT_UBATCH) -> MemoryEstimate:
    """Bytes the model needs at ``n_ctx`` (see the module docstring).
    ``gpu_offload``: the installed llama.cpp can offload (else gpu_layers
    changes nothing)."""
    a = architecture(info)
    if info.context_length:
        n_ctx = min(n_ctx, info.context_length)
    weights = sum(t.n_bytes for t in info.tensors)
    kv = kv_cache_bytes(a, n_ctx, type_k=type_k, type_v=type_v, n_ubatch=n_ubatch, swa_full=swa_full)
    on_gpu = 0
    offloaded = min(gpu_layers, a.n_layer) if gpu_offload else 0
    if offloaded:
        first = a.n_layer - offloaded       # llama.cpp offloads the last layers first
        layer_weights = sum(t.n_bytes for t in info.tensors
                            if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= first)
        on_gpu = layer_weights + kv_cache_bytes(a, n_ctx, type_k=type_k, type_v=type_v, n_ubatch=n_ubatch,
                                                swa_full=swa_full, layers=range(first, a.n_layer))
    return MemoryEstimate(
        n_ctx=n_ctx, weights=weights, kv_cache=kv, compute=compute_bytes(a, n_ctx, n_ubatch),
        output=2 * 4 * a.n_vocab, runtime=VOCAB_ENTRY_BYTES * a.n_vocab, gpu_layers=offloaded, on_gpu=on_gpu)


def file_size_for_memory(info: ModelInfo, memory_bytes: int, n_ctx: int, **options) -> tuple[int, int]:
    """The largest file a variant of ``info`` (same architecture, other
    tensor types) may have to need at most ``memory_bytes`` at ``n_ctx``,
    and the context counted (capped at the model's trained length). The KV
    cache, compute, output and runtime terms do not depend on the tensor
    types; the file's bytes beyond its tensor data (header, vocabulary) are
    counted in the runtime term, not as weights. Negative: not even the
    non-weight terms fit."""
    est = estimate_memory(info, n_ctx, **options)
    header = max(0, info.file_size - est.weights)
    return int(memory_bytes - (est.total - est.weights) + header), est.n_ctx


def available_memory() -> int:
    """Memory a new allocation can get without swapping (psutil's 'available')."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_fit(info: ModelInfo, n_ctx: int, *, available: Optional[int] = None, already_loaded: int = 0,
              **options) -> FitCheck:
    """Does ``info`` fit at ``n_ctx``? ``already_loaded``: bytes of a model
    Hearth would unload first (they come back when it does)."""
    from desktop_app.core.llm.catalog import describe_size

    free = (available_memory() if available is None else available) + already_loaded
    est = estimate_memory(info, n_ctx, **options)
    budget = int(free * SAFETY)
    if est.in_ram <= budget:
        return FitCheck(est, free, True, None,
                        f"Needs about {describe_size(est.in_ram)} at {est.n_ctx:,} tokens of context; "
                        f"{describe_size(free)} is free.")
    suggested = None
    for ctx in CONTEXT_LADDER:
        if ctx >= est.n_ctx:
            break
        if estimate_memory(info, ctx, **options).in_ram <= budget:
            suggested = ctx
    if suggested:
        advice = f"a context of {suggested:,} tokens fits"
    else:
        advice = "no context length fits; choose a smaller variant of this model or close other programs"
    return FitCheck(est, free, False, suggested,
                    f"Needs about {describe_size(est.in_ram)} at {est.n_ctx:,} tokens of context but only "
                    f"{describe_size(free)} is free: {advice}.")


__all__ = ["Architecture", "MemoryEstimate", "FitCheck", "MemoryEstimateError", "architecture", "kv_cells",
           "kv_cache_bytes", "compute_bytes", "estimate_memory", "file_size_for_memory", "available_memory", "check_fit",
           "CONTEXT_LADDER"]
