"""What calibration buys: KL divergence from F16 of low-bit quantizations made
with and without an importance matrix (same type, same source, same text).

    .venv/bin/python bench/imatrix_kl.py [--types Q2_K Q3_K_M] [--chunks 32] [--windows 8]

The importance matrix is computed on the bundled calibration text (Python
tutorial); KL and perplexity are measured on the bundled evaluation text
(KJV Ruth/Esther/Jonah), a different text, with model evaluate's method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_app.core.defaults import default_llm_path  # noqa: E402
from desktop_app.core.llm.optimize.evaluate import evaluate  # noqa: E402
from desktop_app.core.llm.optimize.imatrix import compute_imatrix, default_calibration_text  # noqa: E402
from desktop_app.core.llm.optimize.quantize import dequantize, quantize  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", nargs="+", default=["Q2_K", "Q3_K_M"])
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hearth-bench-imatrix-") as tmp:
        tmp = Path(tmp)
        default = default_llm_path(tmp / "models")
        f16 = dequantize(default, tmp / "f16.gguf").path
        started = time.perf_counter()
        imatrix = compute_imatrix(f16, default_calibration_text().read_text(encoding="utf-8"),
                                  tmp / "calibration.imatrix.gguf", chunks=args.chunks, threads=args.threads)
        print(f"imatrix: {imatrix.entries} tensors, {imatrix.chunks} chunks x {imatrix.chunk_size} tokens, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        rows = []
        for qtype in args.types:
            for use_imatrix in (False, True):
                out = tmp / f"{qtype}{'-imatrix' if use_imatrix else ''}.gguf"
                quantize(f16, out, qtype, imatrix=imatrix.path if use_imatrix else None, threads=args.threads)
                ev = evaluate(out, parent=f16, max_windows=args.windows, measure_speed=False, store=False,
                              n_threads=args.threads)
                rows.append((qtype, use_imatrix, ev))
                print(f"  {qtype:<7} imatrix={'yes' if use_imatrix else 'no ':<3}  KL {ev.kl_mean:.4f}  "
                      f"ppl {ev.perplexity:.3f} (F16 {ev.parent_perplexity:.3f})  same top token "
                      f"{ev.same_top_pct:.1f}%", flush=True)
                out.unlink()
        print(f"\n| type | KL without | KL with imatrix | change | ppl without | ppl with | (F16 ppl) |")
        print("|---|---|---|---|---|---|---|")
        for i in range(0, len(rows), 2):
            (qtype, _, a), (_, _, b) = rows[i], rows[i + 1]
            change = (b.kl_mean - a.kl_mean) / a.kl_mean * 100
            print(f"| {qtype} | {a.kl_mean:.4f} | {b.kl_mean:.4f} | {change:+.0f}% | {a.perplexity:.3f} | "
                  f"{b.perplexity:.3f} | {a.parent_perplexity:.3f} |")
        print(f"\n(eval: {rows[0][2].text_name}, {rows[0][2].windows} windows of {rows[0][2].n_ctx} tokens; "
              f"calibration: {default_calibration_text().name}, {imatrix.chunks} chunks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
