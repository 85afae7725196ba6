"""Calibrated on your documents: KL divergence from the F16 parent, measured
on held-out passages of a library, for the same quantization type with the
importance matrix computed on (a) the bundled calibration text and (b)
passages sampled from the library (other documents than the held-out ones).

    .venv/bin/python bench/library_calibration.py                 # Q2_K, git's manual pages as the library
    .venv/bin/python bench/library_calibration.py --type Q3_K_S --docs /path/to/folder

The default library is 40 of git's manual pages (git-doc): a domain unlike
the bundled calibration text (the Python tutorial), as a user's own
documents would be.

The library is indexed into a temporary data dir with the real embedder;
the F16 parent is the packaged default model dequantized (as bench/fit.py
makes it). Lower KL is better; the ratio library / bundled is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--type", default="Q2_K")
    parser.add_argument("--docs", type=Path, default=None, help="a folder of documents (default: git manual pages)")
    parser.add_argument("--chunks", type=int, default=16, help="calibration windows of 512 tokens")
    parser.add_argument("--windows", type=int, default=8, help="evaluation windows of 512 tokens")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-fit")
    args = parser.parse_args()

    from desktop_app.cli import main as cli
    from desktop_app.core.defaults import default_llm_path
    from desktop_app.core.llm.calibration import library_calibration
    from desktop_app.core.llm.native import ensure_safe_loading
    from desktop_app.core.llm.optimize.quantize import dequantize
    from desktop_app.core.llm.workflows import evaluate_variant, quantize_variant
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.services import Services

    args.work.mkdir(parents=True, exist_ok=True)
    default = default_llm_path(args.work)
    ensure_safe_loading(args.work, default)
    f16 = args.work / "gemma-3-270m-f16.gguf"
    if not f16.exists():
        dequantize(default, f16, "F16")
    data = Path(tempfile.mkdtemp(prefix="hearth-libcal-"))
    if args.docs is None:
        import shutil

        args.docs = data / "docs"
        args.docs.mkdir()
        for page in sorted(Path("/usr/share/doc/git-doc").glob("git-*.txt"))[:40]:
            shutil.copyfile(page, args.docs / page.name)
    assert cli(["--data-dir", str(data), "library", "add", str(args.docs)]) == 0
    services = Services(AppPaths.at(data).ensure())
    try:
        cal = library_calibration(services.library)
        print(f"library: {cal.passages} calibration passages from {cal.documents} documents; "
              f"{cal.held_out_documents} documents held out ({len(cal.held_out):,} characters)")
        rows = []
        for label, source in (("bundled text", None), ("library", "library")):
            out = args.work / f"libcal-{args.type}-{'lib' if source else 'bundled'}.gguf"
            out.unlink(missing_ok=True)
            started = time.perf_counter()
            quantize_variant(f16, out, args.type, use_imatrix=True, calibration_text=source, chunks=args.chunks,
                             library=services.library if source else None)
            made = time.perf_counter() - started
            ev = evaluate_variant(out, parent=f16, text=cal.held_out, n_ctx=512, max_windows=args.windows,
                                  measure_speed=False)
            rows.append((label, ev.kl_mean, ev.perplexity, made))
            print(f"{args.type} calibrated on {label:<13} KL {ev.kl_mean:.4f}  perplexity {ev.perplexity:.2f}  "
                  f"({made:.0f} s to make)", flush=True)
    finally:
        services.close()
    (_, kl_bundled, _, _), (_, kl_library, _, _) = rows
    print(f"\nKL library / bundled = {kl_library / kl_bundled:.3f} "
          f"({(1 - kl_library / kl_bundled):+.1%} less divergence with library calibration)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
