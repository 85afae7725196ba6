"""The loaded language model: one owner thread, streaming, stop within a token.

``LlmSession`` is the only place that touches a ``llama_cpp.Llama``. Every
call that uses the model (load, tokenize, generate, close) is queued to one
owner thread, so the GUI and the CLI never use the native object from two
threads. Callers block on the result; ``generate`` streams its text through
``on_token`` (called on the owner thread: keep it quick, e.g. emit a signal).

A file is loaded here only once a child process has loaded it (``probe``):
a file that makes llama.cpp abort kills the child, not Hearth, and a failed
load puts the previous model back.

A stop request is ``token.cancel()`` from any thread: the token loop looks at
the token after every generated token, so generation ends within one token.
A cancelled ``generate`` returns what was produced so far with
``stopped == "cancelled"`` rather than raising, because a partial answer is
what the user wants to keep on screen.
"""

from __future__ import annotations

import codecs
import collections
import concurrent.futures
import ctypes
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from desktop_app.core.jobs import CancelToken, Cancelled, Progress, Report, ignore_progress
from desktop_app.core.llm.chat_format import (
    Messages, PromptOrMessages, chat_formatter, render_messages, tokenize_prompt)
from desktop_app.core.llm.probe import ProbeFailed, VerifiedModels, probe_model
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings

log = logging.getLogger(__name__)

# Sampling shared by Hearth and the raw baseline in bench/chat.py.
TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05
REPEAT_PENALTY = 1.1


class ModelLoadError(RuntimeError):
    """A model file that cannot be used: corrupt, truncated, not GGUF, or
    refused by llama.cpp. The message is meant for the user."""


class GenerationError(RuntimeError):
    """A generation request that cannot run (no model, bad grammar, prompt
    longer than the context)."""


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    architecture: str
    size_bytes: int
    quantization: str
    n_ctx: int              # the context this session runs with
    n_ctx_train: int        # what the model was trained for
    chat_template: Optional[str]
    load_ms: float
    gpu_layers: int = 0     # n_gpu_layers llama.cpp was given (a CPU build ignores it)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def supports_tools(self) -> bool:
        """The template renders a ``tools`` list (native tool calling)."""
        return bool(self.chat_template) and "tools" in self.chat_template

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "name": self.name, "architecture": self.architecture,
            "size_bytes": self.size_bytes, "quantization": self.quantization,
            "n_ctx": self.n_ctx, "n_ctx_train": self.n_ctx_train,
            "chat_template": self.has_chat_template, "supports_tools": self.supports_tools,
            "load_ms": round(self.load_ms, 1), "gpu_layers": self.gpu_layers,
        }


@dataclass(frozen=True)
class GenerationResult:
    text: str
    tokens: int              # generated tokens
    prompt_tokens: int
    first_token_ms: float    # from the request to the first generated token (prompt eval included)
    tokens_per_s: float      # decode rate after the first token
    stopped: str             # "eos", "stop" (a stop string), "length", "context", "cancelled"

    @property
    def cancelled(self) -> bool:
        return self.stopped == "cancelled"


# --- llama.cpp's own log -----------------------------------------------------
#
# llama.cpp has one process-wide log sink. We route it into Python logging
# and keep its last lines, so a refused model file can be explained with
# llama.cpp's own words instead of its output going to the terminal.

_native_lines: "collections.deque[str]" = collections.deque(maxlen=64)
_native_log = logging.getLogger("llama_cpp.native")
_native_callback = None  # the ctypes callback must stay referenced while installed


def _install_native_log() -> None:
    global _native_callback  # process-wide native sink, installed once
    if _native_callback is not None:
        return
    import llama_cpp

    # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5.
    levels = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.WARNING}
    last = [logging.DEBUG]

    @llama_cpp.llama_log_callback
    def callback(level, text, user_data):  # pragma: no cover - called from C
        try:
            line = text.decode("utf-8", errors="replace").rstrip()
        except Exception:
            return
        if level != 5:
            last[0] = levels.get(level, logging.DEBUG)
        if line:
            _native_lines.append(line)
            _native_log.log(last[0], "%s", line)

    _native_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _native_errors_since(mark: int) -> str:
    lines = list(_native_lines)[mark:] if mark >= 0 else list(_native_lines)
    errors = [l for l in lines if "error" in l.lower() or "failed" in l.lower()]
    return "; ".join((errors or lines)[-3:])


# --- the owner thread --------------------------------------------------------

_STOP = object()


class _Owner:
    """One thread that runs submitted callables in order.

    Not a daemon (the test suite checks that nothing is left running), but it
    also ends by itself once the main thread has finished, so a forgotten
    ``close()`` never keeps the process alive.
    """

    def __init__(self, name: str, on_exit: Callable[[], None] = lambda: None) -> None:
        self._on_exit = on_exit
        self._queue: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=False)
        self._thread.start()

    @property
    def ident(self) -> Optional[int]:
        return self._thread.ident

    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not self._thread.is_alive():
            raise GenerationError("the model session is closed")
        self._queue.put((fn, future))
        return future

    def stop(self, timeout: Optional[float] = None) -> None:
        self._queue.put(_STOP)
        if threading.get_ident() != self._thread.ident:
            self._thread.join(timeout)

    def _run(self) -> None:
        main = threading.main_thread()
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if not main.is_alive():
                    # Free native memory here, not in a destructor at interpreter teardown.
                    try:
                        self._on_exit()
                    except Exception:
                        log.exception("unloading the model at exit failed")
                    return
                continue
            if item is _STOP:
                return
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never lost
                future.set_exception(exc)


# --- text helpers --------------------------------------------------------------

def _holdback(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of ``text`` could start a stop string
    (they are held back from the stream until we know)."""
    keep = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                keep = max(keep, n)
                break
    return keep


# --- the session ---------------------------------------------------------------

class LlmSession:
    """The one owner of the loaded model. See the module docstring."""

    def __init__(self, paths: AppPaths, settings: Settings) -> None:
        self.paths = paths
        self.settings = settings
        self._owner: Optional[_Owner] = None
        self._owner_lock = threading.Lock()
        self._llm = None              # touched only on the owner thread
        self._info: Optional[ModelInfo] = None
        self._formatter = None        # Jinja2ChatFormatter for the model's template
        self._checked_grammars: set[str] = set()
        self._closed = False
        self._verified = VerifiedModels(paths.data_dir / "verified-models.json")

    # -- plumbing --

    def _ensure_owner(self) -> _Owner:
        with self._owner_lock:
            if self._closed:
                raise GenerationError("the model session is closed")
            if self._owner is None or not self._owner.alive():
                self._owner = _Owner("hearth-llm", on_exit=self._unload_on_owner)
            return self._owner

    def _call(self, fn: Callable[[], Any]) -> Any:
        owner = self._ensure_owner()
        if threading.get_ident() == owner.ident:
            return fn()  # re-entrant: a callback on the owner thread
        return owner.submit(fn).result()

    # -- loading --

    @property
    def loaded(self) -> Optional[ModelInfo]:
        return self._info

    @property
    def n_ctx(self) -> int:
        return self._info.n_ctx if self._info else 0

    @property
    def chat_template(self) -> Optional[str]:
        return self._info.chat_template if self._info else None

    def _guard_native(self) -> None:
        """Whoever builds the session (the app, the CLI, a bench), weight
        repacking that crashes on this CPU is found and turned off before any
        load: otherwise the probe child would crash on it and a good file
        would be blamed (native.ensure_safe_loading, cached per build)."""
        from desktop_app.core.defaults import default_llm_path
        from desktop_app.core.llm.native import checked_here, ensure_safe_loading

        try:
            if not checked_here():
                ensure_safe_loading(self.paths.data_dir, default_llm_path(self.paths.models_dir))
        except Exception as exc:  # noqa: BLE001 - the guard never stops a load by itself
            log.warning("could not check llama.cpp weight repacking: %s", exc)

    def load(self, model_path: Optional[Path] = None, *, token: Optional[CancelToken] = None,
             report: Report = ignore_progress) -> ModelInfo:
        """Load ``model_path`` (None: the packaged default, assembled on first
        use). The file is checked (signature, header, tensor data present)
        before llama.cpp sees it; anything unusable raises ModelLoadError."""
        token = token or CancelToken()
        if model_path is None:
            from desktop_app.core.defaults import DefaultModelError, default_llm_path

            try:
                model_path = default_llm_path(self.paths.models_dir, token=token, report=report)
            except DefaultModelError as exc:
                raise ModelLoadError(str(exc)) from exc
        model_path = Path(model_path)
        token.check()
        report(Progress("checking model", 0, 1, model_path.name))
        header = check_model_file(model_path)
        n_ctx = self._context_for(header)
        self._guard_native()
        if not self._verified.is_verified(model_path):
            # First meeting with this file: a child loads it first, so a
            # native assert in llama.cpp ends the child, not Hearth, and the
            # model loaded now stays loaded (see probe.py).
            try:
                seconds = probe_model(model_path, n_ctx, token=token)
            except ProbeFailed as exc:
                raise ModelLoadError(str(exc)) from None
            log.info("%s loads in a child process (checked in %.1f s)", model_path.name, seconds)
            self._verified.remember(model_path)
        report(Progress("checking model", 1, 1, model_path.name))
        token.check()
        return self._call(lambda: self._load_on_owner(model_path, header, n_ctx, token, report))

    def _load_on_owner(self, path: Path, header, n_ctx: int, token: CancelToken, report: Report) -> ModelInfo:
        import llama_cpp

        _install_native_log()
        previous = self._info.path if self._info is not None else None
        self._unload_on_owner()  # two models at once may not fit in memory
        report(Progress("loading model", 0, 1, path.name))
        started = time.perf_counter()
        mark = len(_native_lines)
        threads = resolve_threads(self.settings.threads)
        from desktop_app.core.llm.native import gpu_layers_for_load

        try:
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False, seed=0,
                n_gpu_layers=gpu_layers_for_load(self.settings.gpu_layers),
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = _native_errors_since(mark)
            self._restore(previous)
            raise ModelLoadError(
                f"{path.name}: llama.cpp could not load this model"
                + (f" ({detail})" if detail else f" ({exc})")) from exc
        if token.cancelled:
            llm.close()
            self._restore(previous)
            raise Cancelled()
        return self._adopt(llm, path, header, threads, started, report)

    def _context_for(self, header) -> int:
        if header.context_length:
            return min(self.settings.context_length, header.context_length)
        return self.settings.context_length

    def _restore(self, previous: Optional[Path]) -> None:
        """After a failed or cancelled load: the model that was loaded
        before is loaded again (it loaded once, so it is verified)."""
        if previous is None:
            return
        try:
            header = check_model_file(previous)
            self._load_on_owner(previous, header, self._context_for(header), CancelToken(), ignore_progress)
        except Exception:  # noqa: BLE001 - the first failure is what the user needs to hear
            log.exception("could not reload the previous model %s", previous)

    def _adopt(self, llm, path: Path, header, threads: int, started: float, report: Report) -> ModelInfo:
        template, formatter = chat_formatter(llm, path.name)
        self._llm = llm
        self._formatter = formatter
        self._checked_grammars = set()
        self._info = ModelInfo(
            path=path, name=header.name or path.stem, architecture=header.architecture,
            size_bytes=header.file_size, quantization=header.quantization,
            n_ctx=llm.n_ctx(), n_ctx_train=header.context_length or llm.n_ctx(),
            chat_template=template, load_ms=(time.perf_counter() - started) * 1000,
            gpu_layers=int(llm.model_params.n_gpu_layers),
        )
        report(Progress("loading model", 1, 1, path.name))
        log.info("loaded %s (n_ctx %d, %d threads, template %s) in %.0f ms", path.name,
                 self._info.n_ctx, threads, bool(template), self._info.load_ms)
        return self._info

    def _unload_on_owner(self) -> None:
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self._info = None
        self._formatter = None

    def unload(self) -> None:
        if self._owner is not None and self._owner.alive():
            self._call(self._unload_on_owner)

    def close(self) -> None:
        """Free the model and stop the owner thread (idempotent)."""
        with self._owner_lock:
            owner, self._owner = self._owner, None
            self._closed = True
        if owner is not None and owner.alive():
            try:
                owner.submit(self._unload_on_owner).result()
            except Exception:
                log.exception("unloading the model failed")
            owner.stop()

    # -- tokens --

    def _require(self):
        if self._llm is None:
            raise GenerationError("no model is loaded")
        return self._llm

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        return self._call(lambda: self._require().tokenize(
            text.encode("utf-8", errors="replace"), add_bos=add_bos, special=special))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._call(lambda: self._require().detokenize(list(tokens)).decode("utf-8", errors="replace"))

    # -- prompts --

    def format_messages(self, messages: Messages, *, tools: Optional[list[dict]] = None) -> str:
        """The prompt text for ``messages``: the model's own chat template
        when it has one (with ``tools`` rendered for native tool calling),
        else Hearth's plain completion prompt (chat_format.py)."""
        return self._call(lambda: render_messages(self._formatter, messages, tools))

    # -- generation --

    def generate(self, prompt_or_messages: PromptOrMessages, *, token: Optional[CancelToken] = None,
                 on_token: Callable[[str], None] = lambda text: None,
                 max_tokens: Optional[int] = None, grammar: Optional[str] = None,
                 stop: Optional[Sequence[str]] = None, tools: Optional[list[dict]] = None,
                 temperature: Optional[float] = None, seed: Optional[int] = None) -> GenerationResult:
        """Generate a continuation of a prompt string, or an answer to chat
        ``messages`` (rendered with the model's template). ``grammar`` is GBNF
        text constraining the output. Blocks until done; streams via
        ``on_token`` from the owner thread."""
        token = token or CancelToken()
        requested = time.perf_counter()
        return self._call(lambda: self._generate_on_owner(
            prompt_or_messages, token, on_token, max_tokens, grammar, tuple(stop or ()),
            tools, temperature, requested, seed))

    def _grammar(self, text: str):
        import llama_cpp
        from llama_cpp.llama_grammar import LlamaGrammar

        if text not in self._checked_grammars:
            # A grammar llama.cpp cannot parse gives a NULL sampler, which
            # would crash inside the sampler chain: try it on its own first.
            sampler = llama_cpp.llama_sampler_init_grammar(
                self._llm._model.vocab, text.encode("utf-8"), b"root")
            if not sampler:
                raise GenerationError("the grammar could not be parsed: " + _native_errors_since(-1))
            llama_cpp.llama_sampler_free(sampler)
            self._checked_grammars.add(text)
        return LlamaGrammar.from_string(text, verbose=False)

    def _generate_on_owner(self, prompt, token: CancelToken, on_token, max_tokens, grammar,
                           stops: tuple, tools, temperature, requested: float,
                           seed: Optional[int] = None) -> GenerationResult:
        import llama_cpp

        llm = self._require()
        llm.set_seed(0 if seed is None else seed)
        n_ctx = llm.n_ctx()
        prompt_tokens = tokenize_prompt(llm, self._formatter, prompt, tools)
        if len(prompt_tokens) >= n_ctx:
            raise GenerationError(
                f"the prompt has {len(prompt_tokens)} tokens; the context holds {n_ctx}")
        limit = max_tokens or self.settings.max_tokens
        limit = min(limit, n_ctx - len(prompt_tokens))
        temp = self.settings.temperature if temperature is None else temperature
        compiled = self._grammar(grammar) if grammar else None
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        streamed = 0
        produced = 0
        first_at: Optional[float] = None
        stopped = "length"
        if token.cancelled:
            return GenerationResult("", 0, len(prompt_tokens), 0.0, 0.0, "cancelled")
        generator = llm.generate(
            prompt_tokens, top_k=TOP_K, top_p=TOP_P, min_p=MIN_P, temp=temp,
            repeat_penalty=REPEAT_PENALTY, grammar=compiled, reset=True)
        try:
            for tok in generator:
                if token.cancelled:
                    stopped = "cancelled"
                    break
                if first_at is None:
                    first_at = time.perf_counter()
                if llama_cpp.llama_vocab_is_eog(vocab, tok):
                    stopped = "eos"
                    break
                produced += 1
                text += decoder.decode(llm.detokenize([tok]))
                if stops:
                    cut = min((i for i in (text.find(s, max(0, streamed - len(s))) for s in stops) if i >= 0),
                              default=-1)
                    if cut >= 0:
                        text = text[:cut]
                        stopped = "stop"
                        break
                    ready = len(text) - _holdback(text, stops)
                else:
                    ready = len(text)
                if ready > streamed:
                    on_token(text[streamed:ready])
                    streamed = ready
                if produced >= limit:
                    stopped = "length" if limit == (max_tokens or self.settings.max_tokens) else "context"
                    break
                if token.cancelled:
                    stopped = "cancelled"
                    break
        finally:
            generator.close()
        if stopped != "stop":
            text += decoder.decode(b"", final=True)
        if len(text) > streamed and stopped != "cancelled":
            on_token(text[streamed:])
        elif stopped == "cancelled":
            text = text[:streamed] if streamed <= len(text) else text
        ended = time.perf_counter()
        first_ms = ((first_at or ended) - requested) * 1000
        rate = (produced - 1) / (ended - first_at) if first_at and produced > 1 and ended > first_at else 0.0
        return GenerationResult(text=text, tokens=produced, prompt_tokens=len(prompt_tokens),
                                first_token_ms=first_ms, tokens_per_s=rate, stopped=stopped)


def resolve_threads(setting: int) -> int:
    """Threads for llama.cpp. 0 means automatic: all cores but one.

    llama.cpp's threads spin-wait at every barrier, so a pool as large as
    the machine collapses when anything else wants a core: measured here on
    2 shared cores, 2 threads gave 1 token/s and 1 thread 20 tokens/s. One
    core stays free for the UI thread and the embedder."""
    if setting > 0:
        return setting
    return max(1, (os.cpu_count() or 1) - 1)


def check_model_file(path: Path):
    """Validate a GGUF file's header before llama.cpp sees it (llama.cpp may
    abort the whole process on some corrupt files). Returns the header info
    from the catalog reader; raises ModelLoadError with a clear message."""
    from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info

    try:
        return read_gguf_info(path, with_lineage=False)
    except GGUFError as exc:
        raise ModelLoadError(str(exc)) from None
