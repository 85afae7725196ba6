"""Sentence embeddings for the library, offline, from the packaged model.

Two backends of the same all-MiniLM-L6-v2:

- ``torch``: sentence-transformers on PyTorch, fp32, CPU.
- ``onnx-int8``: the model exported to ONNX with optimum's int8 dynamic
  quantization, run by ``onnx_encoder`` with onnxruntime + tokenizers only
  (no torch, transformers or sentence-transformers imported: the packaged app
  leaves them out). The packaged app ships the export; elsewhere it is made
  once per user with sentence-transformers into a shared cache (under a file
  lock, into a temporary folder renamed into place: two processes export
  once, and an interrupted export never leaves a half model; its leftover is
  removed by the next export) and loaded from there after.

Vectors are float32 and L2-normalized, so inner product is cosine.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import platformdirs

from desktop_app.core.defaults import DEFAULT_EMBEDDER_NAME, default_embedder_dir
from desktop_app.core.library.onnx_encoder import EncoderConfigError, OnnxSentenceEncoder, cpu_cores

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock; the rename below still keeps one export
    fcntl = None

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx-int8")


def available_backends() -> tuple[str, ...]:
    """The backends this installation can run: the packaged app ships
    onnxruntime only (no torch), a source checkout has both. Looks the
    packages up without importing them."""
    import importlib.util

    def present(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    torch = present("torch") and present("sentence_transformers")
    return tuple(b for b in BACKENDS if b != "torch" or torch)


class EmbedderError(RuntimeError):
    pass


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def quantization_config_name(flags: Optional[set[str]] = None) -> str:
    """The optimum dynamic-int8 config that matches this CPU's instructions."""
    import platform

    flags = cpu_flags() if flags is None else flags
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags or "avx512bw" in flags:
        return "avx512"
    return "avx2"


class _SentenceTransformerEncoder:
    """The torch backend behind the encoder interface ``Embedder`` uses
    (the one ``OnnxSentenceEncoder`` has): dim, max_seq_length,
    counting_tokenizer(), encode(texts, batch_size)."""

    def __init__(self, model) -> None:
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_seq_length = int(model.max_seq_length)

    def counting_tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self.model.tokenizer.backend_tokenizer.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def encode(self, texts: list[str], batch_size: int = 32, check=None) -> np.ndarray:
        if check is None:
            return self._encode(texts, batch_size)
        # sentence-transformers has no hook between its batches: slices.
        step = batch_size * 4
        parts = []
        for start in range(0, len(texts), step):
            check()
            parts.append(self._encode(texts[start:start + step], batch_size))
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)


class Embedder:
    """A loaded embedding model: ``encode`` is thread-safe."""

    def __init__(self, encoder, name: str, backend: str, source_dir: Path) -> None:
        self._encoder = encoder
        self.source_dir = Path(source_dir)  # the folder the model was loaded from
        self._lock = threading.Lock()
        # Encodes without a ``check`` (a search's query) waiting for the
        # lock: a long job's encode lets them go first between its batches.
        self._urgent = 0
        self._urgent_lock = threading.Lock()
        self.name = name
        self.backend = backend
        self.dim = int(encoder.dim)
        self.max_tokens = int(encoder.max_seq_length)
        # Chunking counts tokens on the ingest's parser thread while encode
        # tokenizes on another: a private copy of the fast (Rust) tokenizer
        # with truncation and padding off, because encoding sets those on its
        # own and a shared Rust tokenizer fails with "Already borrowed".
        self._counter = encoder.counting_tokenizer()

    def encode(self, texts: list[str], batch_size: int = 32, check=None) -> np.ndarray:
        """Unit vectors of ``texts``. ``check`` (e.g. a CancelToken's) is
        called between batches, so cancelling a big encode takes one batch."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One encode at a time: each already uses every core.
        if check is None:
            with self._urgent_lock:
                self._urgent += 1
            try:
                self._lock.acquire()
            finally:
                with self._urgent_lock:
                    self._urgent -= 1
            try:
                vectors = self._encoder.encode(list(texts), batch_size=batch_size)
            finally:
                self._lock.release()
        else:
            with self._lock:
                vectors = self._encoder.encode(list(texts), batch_size=batch_size, check=self._between_batches(check))
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _between_batches(self, check):
        """``check`` called without the encode lock (a paused job waits in
        it), after letting waiting queries through: a search during an
        ingest waits for one batch, not for the ingest's whole encode."""
        def call() -> None:
            self._lock.release()
            try:
                check()
                while self._urgent:
                    time.sleep(0.001)
            finally:
                self._lock.acquire()
        return call

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    @property
    def model(self):
        """The raw encoder, without this class's lock and copies (benchmarks
        compare against it): ``model.encode(texts, batch_size=32)`` gives the
        same vectors as ``encode``."""
        return self._encoder

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, backend={self.backend!r}, dim={self.dim})"


def _set_torch_threads() -> None:
    import torch

    # All cores for the matrix work; inter-op parallelism only adds contention
    # on the small machines Hearth targets (the ONNX runtime is set the same).
    cores = cpu_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass


def _load_torch(model_dir: Path):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # the packaged app embeds with onnxruntime only
        raise EmbedderError(f"the torch embedder backend needs sentence-transformers and torch, which this "
                            f"installation does not include; use the onnx-int8 backend ({exc})") from exc

    _set_torch_threads()
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    return model_dir, _SentenceTransformerEncoder(model)


def _onnx_file_name(config_name: str) -> str:
    # sentence-transformers names the file after the config's weight type:
    # optimum's avx2 config quantizes weights to unsigned int8 (QUInt8), the
    # others to signed (QInt8). A wrong name fails every AVX2-only CPU.
    weights = "quint8" if config_name == "avx2" else "qint8"
    return f"onnx/model_{weights}_{config_name}.onnx"


def _export_onnx_int8(model_dir: Path, target: Path, config_name: str) -> None:
    """Export the fp32 model to ONNX, quantize it to int8, and move the
    folder into ``target`` in one rename. The only step of the onnx-int8
    backend that needs sentence-transformers (and torch, optimum). Call with
    the cache's export lock held."""
    try:
        from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    except ImportError as exc:  # the packaged app ships the export and not the exporter
        raise EmbedderError(
            f"no ONNX int8 export of {model_dir.name} ({config_name}) was found, and making one needs "
            f"sentence-transformers, which is not installed ({exc})") from exc

    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        log.info("exporting %s to ONNX int8 (%s) into %s", model_dir.name, config_name, target)
        # torch's tracer and optimum warn at length (TracerWarning...): that
        # belongs in the log file, not on the user's terminal.
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(_LogWriter()), contextlib.redirect_stderr(_LogWriter()):
            warnings.simplefilter("always")
            model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx",
                                        local_files_only=True)
            model.save(str(tmp))
            export_dynamic_quantized_onnx_model(model, config_name, str(tmp))
        for warning in caught:
            log.debug("export warning: %s: %s", warning.category.__name__, warning.message)
        if not (tmp / _onnx_file_name(config_name)).exists():
            raise EmbedderError("the ONNX int8 export produced no model file")
        # Only the int8 model is loaded; the 90 MB fp32 intermediate goes.
        (tmp / "onnx" / "model.onnx").unlink(missing_ok=True)
        _make_private(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same export first (possible only
            # where there is no file lock): keep theirs.
            if not (target / _onnx_file_name(config_name)).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _LogWriter(io.TextIOBase):
    """A text stream whose lines go to the log (for libraries that print)."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.debug("export: %s", line.rstrip())
        return len(text)


def shared_cache_dir() -> Path:
    """The per-user cache of derived models (the embedder's ONNX int8
    export): made once per user and shared by every data dir, instead of
    once per library. ``HEARTH_CACHE_DIR`` moves it (portable installs,
    tests). It is a cache: deleting it only costs one export."""
    from desktop_app.core.paths import APP_DIR_NAME

    override = os.environ.get("HEARTH_CACHE_DIR")
    root = Path(override) if override else Path(platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False))
    return root / "embedder"


@contextlib.contextmanager
def _export_lock(cache_dir: Path, *, wait: bool = True):
    """One export at a time per cache, across processes: the second process
    waits, then finds the first one's export. The kernel drops the lock when
    its holder dies (kill -9 included). Yields whether the lock is held
    (always, when ``wait``)."""
    if fcntl is None:
        yield True
        return
    fd = os.open(cache_dir / ".export.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log.info("another Hearth process is preparing the embedder in %s; waiting for it", cache_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)


def _make_private(root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)


def _prebuilt_onnx_dir(model_dir: Path, name: str, config_name: str) -> Optional[Path]:
    """The packaged app ships the default embedder's int8 exports (one per CPU
    config, made by installer/prebuild_embedder.py) under
    ``resources/embedder/``, read-only: a fresh install needs no export."""
    from desktop_app.core.paths import RESOURCES_DIR

    if Path(model_dir) != default_embedder_dir():
        return None
    folder = RESOURCES_DIR / "embedder" / name
    return folder if (folder / _onnx_file_name(config_name)).is_file() else None


def _remove_abandoned_exports(cache_dir: Path) -> None:
    """Temporary export folders left by a process killed mid-export. Called
    with the export lock held: no export is running, so every one is
    abandoned."""
    for leftover in cache_dir.glob(".*.part"):
        if leftover.is_dir() and not leftover.is_symlink():
            log.info("removing an abandoned embedder export %s", leftover.name)
            shutil.rmtree(leftover, ignore_errors=True)


def _load_onnx_int8(model_dir: Path, cache_dir: Path):
    config_name = quantization_config_name()
    target = Path(cache_dir) / f"{model_dir.name}-onnx-qint8-{config_name}"
    ready = lambda: (target / _onnx_file_name(config_name)).exists()  # noqa: E731
    prebuilt = _prebuilt_onnx_dir(model_dir, target.name, config_name)
    if prebuilt is not None and not ready():
        target = prebuilt
    elif ready():
        with _export_lock(Path(cache_dir), wait=False) as held:
            if held:  # nobody is exporting: leftovers are abandoned
                _remove_abandoned_exports(Path(cache_dir))
    else:
        with _export_lock(Path(cache_dir)):
            _remove_abandoned_exports(Path(cache_dir))
            if not ready():  # another process may have made it while we waited
                if target.exists():  # a folder from an older, broken layout
                    shutil.rmtree(target, ignore_errors=True)
                _export_onnx_int8(model_dir, target, config_name)
    try:
        return target, OnnxSentenceEncoder(target, _onnx_file_name(config_name))
    except EncoderConfigError as exc:
        raise EmbedderError(f"cannot load the ONNX int8 embedder: {exc}") from exc


def load_embedder(backend: str, cache_dir: Optional[Path] = None, model_dir: Optional[Path] = None) -> Embedder:
    """Load the embedder (the packaged all-MiniLM-L6-v2 unless ``model_dir``).

    ``cache_dir`` holds derived models (the ONNX int8 export; default: the
    per-user ``shared_cache_dir()``); it is created user-only.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else shared_cache_dir()
    if backend not in BACKENDS:
        raise EmbedderError(f"unknown embedder backend {backend!r} (choose {', '.join(BACKENDS)})")
    model_dir = Path(model_dir) if model_dir is not None else default_embedder_dir()
    name = DEFAULT_EMBEDDER_NAME if model_dir == default_embedder_dir() else model_dir.name
    if backend == "torch":
        source, encoder = _load_torch(model_dir)
    else:
        Path(cache_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        source, encoder = _load_onnx_int8(model_dir, Path(cache_dir))
    return Embedder(encoder, name=name, backend=backend, source_dir=source)
