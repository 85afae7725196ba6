"""The frozen app's entry point (PyInstaller runs this as ``__main__``).

The bundle must work with no network and no Python on the target machine, so
the Hugging Face libraries are told they are offline before anything imports
them: a missing file is then a clear error, never a download attempt.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _offline_environment() -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run_module(argv: list[str]) -> int:
    """``Hearth -m MODULE ARGS``: what ``python -m MODULE`` is in a source
    checkout. Core jobs that run natively uninterruptible work in a child
    process start it as ``[sys.executable, "-m", module, ...]``; in the bundle
    ``sys.executable`` is this program, so it must understand ``-m``."""
    import runpy

    module, args = argv[0], argv[1:]
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main() -> int:
    _offline_environment()
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "-m":
        return _run_module(argv[1:])
    from desktop_app.__main__ import main as hearth_main

    return hearth_main(argv)


if __name__ == "__main__":
    # A no-op unless a core job uses multiprocessing: then the child re-enters here.
    multiprocessing.freeze_support()
    sys.exit(main())
