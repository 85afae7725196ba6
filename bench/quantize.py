"""Quantizing through Hearth (child process + progress parsing + atomic
rename + lineage) vs the same quantization called directly through
llama-cpp-python in this process. Target: Hearth / direct <= 1.1.

    .venv/bin/python bench/quantize.py [--type Q4_K_M] [--repeats 3] [--threads 2]

The source is the packaged default model converted to F16 (made once in a
temp folder). Runs are interleaved (direct, Hearth, direct, Hearth, ...) so
load from other processes hits both alike; the ratio is of the medians.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_app.core.defaults import default_llm_path  # noqa: E402
from desktop_app.core.llm.optimize.quantize import QUANT_TYPES, dequantize, quantize  # noqa: E402


def direct_quantize(src: Path, out: Path, ftype: int, threads: int) -> float:
    """The baseline: one in-process llama_model_quantize call, logs silenced."""
    from llama_cpp import llama_cpp as ll

    params = ll.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    started = time.perf_counter()
    status = ll.llama_model_quantize(str(src).encode(), str(out).encode(), ctypes.byref(params))
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"llama_model_quantize returned {status}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--type", default="Q4_K_M", choices=list(QUANT_TYPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from llama_cpp import llama_cpp as ll

    @ll.llama_log_callback
    def quiet(level, text, user_data):
        return None

    ll.llama_log_set(quiet, ctypes.c_void_p(0))
    ll.llama_backend_init()
    ftype = QUANT_TYPES[args.type].ftype

    with tempfile.TemporaryDirectory(prefix="hearth-bench-quantize-") as tmp:
        tmp = Path(tmp)
        default = default_llm_path(tmp / "models")
        print(f"making F16 source from {default.name} ...", flush=True)
        src = dequantize(default, tmp / "source-f16.gguf").path
        print(f"source: {src.name} ({src.stat().st_size / 1e6:.0f} MB), type {args.type}, "
              f"threads {args.threads}, repeats {args.repeats}", flush=True)
        # One untimed warm-up each: page cache and first-import costs.
        direct_quantize(src, tmp / "warm.gguf", ftype, args.threads)
        (tmp / "warm.gguf").unlink()

        direct, hearth = [], []
        for i in range(args.repeats):
            out = tmp / "direct.gguf"
            direct.append(direct_quantize(src, out, ftype, args.threads))
            out.unlink()

            out = tmp / "hearth.gguf"
            reports = []
            started = time.perf_counter()
            quantize(src, out, args.type, threads=args.threads, report=reports.append)
            hearth.append(time.perf_counter() - started)
            out.unlink()
            Path(str(out) + ".hearth.json").unlink()
            print(f"  run {i + 1}: direct {direct[-1]:6.2f} s   hearth {hearth[-1]:6.2f} s "
                  f"({len(reports)} progress reports)", flush=True)

    d, h = statistics.median(direct), statistics.median(hearth)
    ratio = h / d
    print(f"median: direct {d:.2f} s, hearth {h:.2f} s, ratio {ratio:.3f} (target <= 1.10) "
          f"{'OK' if ratio <= 1.10 else 'OVER TARGET'}")
    print(f"min:    direct {min(direct):.2f} s, hearth {min(hearth):.2f} s, ratio {min(hearth) / min(direct):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
