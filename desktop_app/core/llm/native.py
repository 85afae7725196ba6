"""What the installed llama.cpp can do, asked through llama-cpp-python's
public C API only (``llama_cpp.llama_*`` functions, no ``_internals``): GPU
offload support and a bare load-and-decode used to measure memory.

New code that needs llama.cpp goes here, so that an upgrade of
llama-cpp-python touches one file.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    gpu_offload: bool          # llama_supports_gpu_offload(): built with CUDA, Metal, Vulkan, ...
    mmap: bool
    mlock: bool
    system_info: str           # llama.cpp's own one-line description of the build

    @property
    def description(self) -> str:
        if self.gpu_offload:
            return "This llama.cpp build can put model layers on the GPU."
        return ("This llama.cpp build runs on the CPU only; GPU layers have no effect "
                "(a GPU build of llama-cpp-python is needed).")


_BACKEND: Optional[Backend] = None


def backend() -> Backend:
    """The installed build's abilities (asked once: they cannot change while running)."""
    global _BACKEND  # a fact about the installed library, not state
    if _BACKEND is None:
        import llama_cpp

        llama_cpp.llama_backend_init()
        info = llama_cpp.llama_print_system_info()
        _BACKEND = Backend(
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
            mmap=bool(llama_cpp.llama_supports_mmap()),
            mlock=bool(llama_cpp.llama_supports_mlock()),
            system_info=info.decode("utf-8", "replace").strip() if isinstance(info, bytes) else str(info))
    return _BACKEND


def gpu_layers_for_load(setting: int) -> int:
    """The n_gpu_layers to give llama.cpp for the user's setting: passed as
    chosen (a CPU build ignores it), so what the user set is what llama.cpp
    is asked for; 1000 means every layer, llama.cpp's 'all' (INT32_MAX)."""
    return 0x7FFFFFFF if setting >= 1000 else max(0, int(setting))


def peak_rss() -> int:
    """This process's peak resident memory (VmHWM on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.Process().memory_info().rss)


def current_rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def load_and_decode(model_path: os.PathLike | str, *, n_ctx: int, text: str, n_tokens: int,
                    n_batch: int = 512, threads: int = 2, swa_full: bool = True, repack: bool = True,
                    gpu_layers: int = 0) -> dict:
    """Load a model, decode ``n_tokens`` of ``text`` in batches, and report
    memory: RSS before loading, after loading, and the peak. Meant to run in
    a child process of its own (bench/fit.py), so the peak is this model's.
    ``repack=False`` turns off llama.cpp's extra weight buffers (AMX/ARM
    repacking), which some virtual machines cannot run."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    _silence(llama_cpp)
    before = current_rss()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = gpu_layers_for_load(gpu_layers)
    mparams.use_extra_bufts = repack
    model = llama_cpp.llama_model_load_from_file(str(Path(model_path)).encode("utf-8"), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {model_path}")
    ctx = None
    try:
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = n_ctx, n_batch, n_batch
        cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = 1, threads, threads
        cparams.swa_full = swa_full
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            raise RuntimeError("llama.cpp could not create a context")
        loaded = current_rss()
        vocab = llama_cpp.llama_model_get_vocab(model)
        raw = text.encode("utf-8")
        buf = (llama_cpp.llama_token * (len(raw) + 8))()
        n = llama_cpp.llama_tokenize(vocab, raw, len(raw), buf, len(buf), True, False)
        tokens = list(buf[:max(0, n)])[:min(n_tokens, n_ctx - 1)]
        for start in range(0, len(tokens), n_batch):
            chunk = tokens[start:start + n_batch]
            arr = (llama_cpp.llama_token * len(chunk))(*chunk)
            if llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(chunk))) != 0:
                raise RuntimeError("llama_decode failed")
        return {"rss_before": before, "rss_loaded": loaded, "peak": peak_rss(), "tokens": len(tokens),
                "n_ctx": int(llama_cpp.llama_n_ctx(ctx))}
    finally:
        if ctx:
            llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


def _quiet(level, text, user_data):  # pragma: no cover - called from C
    return None


_KEPT_CALLBACKS: list = []   # llama.cpp keeps the pointer: the ctypes object must outlive it


def _silence(llama_cpp) -> None:
    """Drop llama.cpp's log in a measuring child (the GUI's session owns the
    log sink in the app's own process; this is only for load_and_decode)."""
    if not _KEPT_CALLBACKS:
        _KEPT_CALLBACKS.append(llama_cpp.llama_log_callback(_quiet))
    llama_cpp.llama_log_set(_KEPT_CALLBACKS[0], ctypes.c_void_p())


__all__ = ["Backend", "backend", "gpu_layers_for_load", "load_and_decode", "peak_rss", "current_rss"]
