"""A model file's first load happens in a child process.

llama.cpp stops the whole process (``GGML_ASSERT`` -> abort) on many kinds
of malformed model files, and no header check can know all of its asserts.
So the first time Hearth meets a file (or the file changed since), a child
process loads it exactly as the session will (same context size), runs one
decode step, and reports. A crash there is the child's, and becomes one
sentence for the user; the file is remembered as verified (path, size,
mtime, llama-cpp-python version) only when the child succeeded, and later
loads of it are direct.

The cost is paid once per file: a Python start, the llama_cpp import and a
second load (the weights are then in the page cache for the real load).
``bench/model_probe.py`` measures it against a direct load.

    python -m desktop_app.core.llm.probe MODEL --n-ctx N

prints ``HEARTH-PROBE: OK`` on success; anything else (an ``ERROR:`` line,
a signal, no line) is a failure, explained by the child's last output.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from desktop_app.core.childproc import child_env, die_with_parent
from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

OK_LINE = "HEARTH-PROBE: OK"
_ASSERT = re.compile(r"(GGML_ASSERT\(.*?\) failed|GGML_ABORT.*|terminate called.*|error[^\n]*)", re.IGNORECASE)


class ProbeFailed(RuntimeError):
    """The child could not load the model; the message is for the user."""


def _runtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama_cpp_python")
    except Exception:  # noqa: BLE001 - a missing dist-info only means "probe again"
        return "unknown"


class VerifiedModels:
    """Files a child already loaded successfully, in one small JSON file.
    Two Hearth processes writing it at once lose at most an entry, which
    only costs a second probe."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = Path(state_file)
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: Path) -> str:
        return str(Path(path).resolve())

    @staticmethod
    def _stamp(path: Path) -> list:
        st = Path(path).stat()
        return [st.st_size, st.st_mtime_ns, _runtime_version()]

    def _read(self) -> dict:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def is_verified(self, path: Path) -> bool:
        try:
            return self._read().get(self._key(path)) == self._stamp(path)
        except OSError:
            return False

    def remember(self, path: Path) -> None:
        with self._lock:
            data = self._read()
            data[self._key(path)] = self._stamp(path)
            # Forget files that are gone, so the list does not grow forever.
            data = {k: v for k, v in data.items() if os.path.exists(k)}
            try:
                self.state_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with atomic_write(self.state_file, "w") as handle:
                    json.dump(data, handle, indent=1)
            except OSError as exc:  # only costs a probe next time
                log.warning("could not remember that %s loads: %s", path.name, exc)


def probe_command(path: Path, n_ctx: int) -> list[str]:
    return [sys.executable, "-m", "desktop_app.core.llm.probe", str(path), "--n-ctx", str(n_ctx)]


def _explain(path: Path, rc: int, output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    # Most telling first: llama.cpp's assert, then its own error line, then
    # the Python exception the child caught.
    fatal = [m.group(1) for ln in lines if (m := _ASSERT.search(ln)) and "GGML_A" in m.group(1)]
    native = [m.group(1) for ln in lines if not ln.startswith("ERROR:") and (m := _ASSERT.search(ln))]
    caught = [ln.removeprefix("ERROR:").strip() for ln in lines if ln.startswith("ERROR:")]
    reason = (fatal or native or caught or [""])[-1].strip()
    if rc < 0:
        try:
            how = f"stopped with {signal.Signals(-rc).name}"
        except ValueError:
            how = f"stopped by signal {-rc}"
    else:
        how = f"failed (exit status {rc})"
    if rc == -signal.SIGKILL and not reason:
        # What the kernel's out-of-memory killer does: not the file's fault.
        return (f"{path.name} could not be checked: the loading process was killed (SIGKILL), most likely "
                f"because the model does not fit in the free memory")
    detail = f"{reason}; " if reason else ""
    return (f"{path.name} cannot be used: llama.cpp {how} while loading it ({detail}the file is damaged "
            f"or was made for a different llama.cpp version)")


def probe_model(path: Path, n_ctx: int, *, token: Optional[CancelToken] = None) -> float:
    """Load ``path`` in a child process; raise ProbeFailed with a sentence for
    the user if that fails in any way, Cancelled if ``token`` is cancelled
    (the child is killed). Returns the seconds it took."""
    token = token or CancelToken()
    started = time.perf_counter()
    env = child_env()
    # On an assert, ggml attaches gdb to print a backtrace (seconds to a
    # minute, hundreds of lines): the message line is all we need.
    env["GGML_NO_BACKTRACE"] = "1"
    proc = subprocess.Popen(probe_command(Path(path), n_ctx), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    chunks: list[bytes] = []
    reasons: list[bytes] = []

    def pump() -> None:  # keeps the pipe drained; keeps the lines that explain
        for line in iter(proc.stdout.readline, b""):
            chunks.append(line)
            del chunks[:-60]
            if _ASSERT.search(line.decode("utf-8", "replace")):
                reasons.append(line)
                del reasons[:-5]

    reader = threading.Thread(target=pump, name="model-probe-output", daemon=True)
    reader.start()
    try:
        while proc.poll() is None:
            if token.cancelled:
                raise Cancelled()
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
        proc.stdout.close()
    output = b"".join(reasons + chunks).decode("utf-8", "replace")
    if proc.returncode == 0 and OK_LINE in output:
        return time.perf_counter() - started
    log.warning("model probe of %s failed (rc %s): %s", path, proc.returncode, output[-2000:])
    raise ProbeFailed(_explain(Path(path), proc.returncode, output))


def main(argv=None) -> int:
    import argparse
    import ctypes

    parser = argparse.ArgumentParser(prog="probe")
    parser.add_argument("model")
    parser.add_argument("--n-ctx", type=int, default=512)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (it kills us)
    die_with_parent()

    import llama_cpp

    err = sys.stderr

    @llama_cpp.llama_log_callback
    def to_stderr(level, text, user_data):  # pragma: no cover - called from C
        try:
            err.write(text.decode("utf-8", "replace"))
            err.flush()
        except Exception:
            pass

    llama_cpp.llama_log_set(to_stderr, ctypes.c_void_p(0))
    try:
        # verbose=True: with False, llama-cpp-python points fds 1 and 2 at
        # /dev/null during the load, which would hide an assert's message.
        llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.n_ctx, n_batch=min(512, args.n_ctx),
                              n_threads=1, n_threads_batch=1, verbose=True, seed=0)
        tokens = llm.tokenize(b"Hello", add_bos=True)[:4] or [llm.token_bos()]
        llm.eval(tokens)  # builds the compute graph and runs it once
        llm.close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        print(f"ERROR: {exc}", flush=True)
        return 1
    print(OK_LINE, flush=True)
    return 0


if __name__ == "__main__":
    # os._exit: the verdict is written; interpreter teardown would only run
    # native destructors (which crash when they log through a freed callback).
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
