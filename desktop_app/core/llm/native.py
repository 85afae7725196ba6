"""What the installed llama.cpp can do, asked through llama-cpp-python's
public C API only (``llama_cpp.llama_*`` functions, no ``_internals``): GPU
offload support, a bare load-and-decode used to measure memory, and a guard
against weight repacking that crashes.

Weight repacking: llama.cpp copies some weights into CPU-specific layouts
(AMX on recent Xeons, ARM repack). On some virtual machines the AMX kernels
crash the process in the first decode (a segmentation fault, seen on this
project's build machine). ``ensure_safe_loading`` finds out once, in a child
process, and if the child dies it turns repacking off for every model this
process and its children load: ``llama_model_default_params`` (which both
llama_cpp.Llama and Hearth's runners start from) is wrapped to clear
``use_extra_bufts``, and HEARTH_LLAMA_NO_REPACK=1 is set for children.

New code that needs llama.cpp goes here, so that an upgrade of
llama-cpp-python touches one file.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
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


def known_backend() -> Optional[Backend]:
    """The build's abilities if already asked (for the GUI thread, which must
    not import llama_cpp itself); None before."""
    return _BACKEND


def gpu_layers_for_load(setting: int) -> int:
    """The n_gpu_layers to give llama.cpp for the user's setting: passed as
    chosen (a CPU build ignores it), so what the user set is what llama.cpp
    is asked for; 1000 means every layer, llama.cpp's 'all' (INT32_MAX)."""
    return 0x7FFFFFFF if setting >= 1000 else max(0, int(setting))


def peak_rss() -> int:
    """This process's peak resident memory. On Linux from VmHWM, the high-water
    mark of this process image: ``ru_maxrss`` survives exec, so a child started
    by a big parent would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except ImportError:  # Windows
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0))


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


REPACK_ENV = "HEARTH_LLAMA_NO_REPACK"
_CHECK_FILE = "llama-repack-check.json"
_CHECKED: dict[str, bool] = {}


def apply_repack_choice() -> bool:
    """Turn weight repacking off in this process when HEARTH_LLAMA_NO_REPACK=1
    (set by ensure_safe_loading, or by hand). Returns whether it is off."""
    if os.environ.get(REPACK_ENV) != "1":
        return False
    import llama_cpp
    import llama_cpp.llama_cpp as ll

    original = ll.llama_model_default_params
    if getattr(original, "hearth_no_repack", False):
        return True

    def params_without_repack():
        params = original()
        params.use_extra_bufts = False
        return params

    params_without_repack.hearth_no_repack = True
    ll.llama_model_default_params = params_without_repack
    llama_cpp.llama_model_default_params = params_without_repack
    log.info("llama.cpp weight repacking is off (%s=1): it crashes on this machine", REPACK_ENV)
    return True


def _repack_key() -> str:
    import llama_cpp

    return f"{getattr(llama_cpp, '__version__', '?')}|{backend().system_info}"


def checked_here() -> bool:
    """Whether this process already knows if repacking is safe (so a caller
    need not find a model file for ``ensure_safe_loading``)."""
    return os.environ.get(REPACK_ENV) == "1" or _repack_key() in _CHECKED


def ensure_safe_loading(state_dir: os.PathLike | str, model_path: os.PathLike | str) -> bool:
    """Check once per llama.cpp build and CPU (cached in ``state_dir``) that
    decoding with weight repacking does not crash; if it does, turn it off.
    Returns True when repacking had to be turned off."""
    import json
    import subprocess
    import sys

    if apply_repack_choice():
        return True
    key = _repack_key()
    if _CHECKED.get(key) is False:
        return False     # checked in this process already (a fact about the build, not the data dir)
    state = Path(state_dir) / _CHECK_FILE
    try:
        cached = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if cached.get("key") != key:
        code = ("import sys; from desktop_app.core.llm.native import load_and_decode; "
                "load_and_decode(sys.argv[1], n_ctx=256, text='Hello there, friend.', n_tokens=8)")
        root = Path(__file__).resolve().parents[3]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        try:
            done = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True,
                                  timeout=300, env=env)
            crashed = done.returncode < 0     # ended by a signal: the native crash
        except subprocess.TimeoutExpired:
            crashed = False                   # slow, not broken: leave llama.cpp's default
        cached = {"key": key, "repack_crashes": crashed}
        try:
            from desktop_app.core.paths import atomic_write

            state.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(state, "w") as handle:
                json.dump(cached, handle)
        except OSError as exc:
            log.warning("cannot remember the repacking check: %s", exc)
    _CHECKED[key] = bool(cached.get("repack_crashes"))
    if cached.get("repack_crashes"):
        os.environ[REPACK_ENV] = "1"
        return apply_repack_choice()
    return False


__all__ = ["REPACK_ENV", "apply_repack_choice", "checked_here", "ensure_safe_loading", "known_backend", "Backend", "backend",
           "gpu_layers_for_load", "load_and_decode", "peak_rss", "current_rss"]
