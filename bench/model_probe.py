"""What the child-process probe costs: loading the default model the first
time (probe in a child, then the real load) against loading a file already
verified (the real load only), in the same run.

    .venv/bin/python bench/model_probe.py [--runs 3]

The probe is paid once per model file (and again only when the file or
llama-cpp-python changes); every later load is the direct one. Each run uses
a fresh data dir (nothing verified) for the first load, then loads again.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, help="GGUF to load (default: the packaged default)")
    args = parser.parse_args()

    from desktop_app.core.defaults import default_llm_path
    from desktop_app.core.llm.session import LlmSession
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.settings import Settings

    settings = Settings()  # the app's own context length
    first, direct, probe_only = [], [], []
    with tempfile.TemporaryDirectory() as shared:
        model = args.model or default_llm_path(Path(shared) / "models")
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as data:
                llm = LlmSession(AppPaths.at(data).ensure(), settings)
                try:
                    started = time.perf_counter()
                    llm.load(model)  # not verified yet: probe in a child, then load
                    first.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    llm.load(model)  # verified now: direct
                    direct.append(time.perf_counter() - started)
                finally:
                    llm.close()
            from desktop_app.core.llm.probe import probe_model

            started = time.perf_counter()
            probe_model(model, min(settings.context_length, 32768))
            probe_only.append(time.perf_counter() - started)
        size_mb = model.stat().st_size / 1e6
    f, d, p = statistics.median(first), statistics.median(direct), statistics.median(probe_only)
    print(f"model: {model.name} ({size_mb:.0f} MB), n_ctx {settings.context_length}, "
          f"{args.runs} runs, medians")
    print(f"direct load (verified file):      {d:6.2f} s")
    print(f"first load (probe + load):        {f:6.2f} s")
    print(f"probe alone (child process):      {p:6.2f} s")
    print(f"ratio first / direct:             {f / d:6.2f}x  (paid once per model file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
