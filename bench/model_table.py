"""The model workshop's table for the default model: every quantization type
and two pruned variants, measured against the F16 parent.

    .venv/bin/python bench/model_table.py [--work DIR] [--ctx 512] [--windows 8]

Builds (once; reused when present in --work): F16 (dequantized from the
packaged Q4_K_M: the only full-precision-format source we ship), Q8_0, Q6_K,
Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K quantized from that F16 without an
importance matrix (plain llama.cpp types, so the ordering is llama.cpp's), and
F16 minus 2 and minus 4 blocks (block-influence ranking on the bundled
calibration text). Evaluates all on the bundled evaluation text (a different
text), prints a markdown table and saves bench/out/model_table.{md,json,png}.
Checks: Q8_0 perplexity within 1% of F16; KL ordering
Q8_0 < Q6_K < Q5_K_M < Q4_K_M < Q3_K_M < Q2_K.

Caveat: the F16 parent is the packaged Q4_K_M dequantized (Hearth ships no
original BF16 weights), so re-quantizing it to Q4_K_M lands almost exactly on
the grid its values came from and shows far less KL than llama.cpp's
published ordering would put there; every other type is measured against
values that are not on its grid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_app.core.defaults import default_llm_path  # noqa: E402
from desktop_app.core.llm.optimize.evaluate import compare, evaluate, markdown_table, save_chart  # noqa: E402
from desktop_app.core.llm.optimize.prune import prune, rank_layers  # noqa: E402
from desktop_app.core.llm.optimize.quantize import dequantize, quantize  # noqa: E402

TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
KL_ORDER = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]
PRUNES = [2, 4]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hearth-model-table"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--windows", type=int, default=8)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)

    def step(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    source = default_llm_path(args.work)
    f16 = args.work / "gemma-3-270m-F16.gguf"
    if not f16.exists():
        step("dequantizing the packaged Q4_K_M to F16")
        dequantize(source, f16, "F16")
    variants = [f16]
    for qtype in TYPES:
        out = args.work / f"gemma-3-270m-{qtype}.gguf"
        if not out.exists():
            step(f"quantizing F16 -> {qtype}")
            quantize(f16, out, qtype)
        variants.append(out)
    ranking = None
    for n in PRUNES:
        out = args.work / f"gemma-3-270m-F16-minus{n}.gguf"
        if not out.exists():
            if ranking is None:
                step("ranking blocks on the calibration text")
                ranking = rank_layers(f16, None)
            step(f"pruning {n} blocks")
            prune(f16, out, n, ranking=ranking)
        variants.append(out)

    results = {}
    for path in variants:
        step(f"evaluating {path.name}")
        results[path.name] = evaluate(path, parent=f16, n_ctx=args.ctx, max_windows=args.windows)
    rows = compare(variants, text_sha256=results[f16.name].text_sha256, n_ctx=args.ctx)
    table = markdown_table(rows)
    print(table)
    first = results[f16.name]
    note = (f"Gemma 3 270M, evaluated on {first.text_name} ({first.windows} windows of {args.ctx} tokens, "
            f"{first.tokens_scored} tokens scored), KL from the F16 parent, {first.n_threads} thread(s). "
            "The F16 parent is the packaged Q4_K_M dequantized: Q4_K_M re-made from it is nearly lossless.")
    print("\n" + note)

    checks = []
    f16_ppl = results[f16.name].perplexity
    q8 = results["gemma-3-270m-Q8_0.gguf"].perplexity
    checks.append(("Q8_0 perplexity within 1% of F16", abs(q8 / f16_ppl - 1) < 0.01,
                   f"{q8:.4f} vs {f16_ppl:.4f} ({100 * (q8 / f16_ppl - 1):+.2f}%)"))
    kls = [results[f"gemma-3-270m-{t}.gguf"].kl_mean for t in KL_ORDER]
    ordered = all(a < b for a, b in zip(kls, kls[1:]))
    checks.append(("KL ordering " + " < ".join(KL_ORDER), ordered,
                   ", ".join(f"{t} {k:.4f}" for t, k in zip(KL_ORDER, kls))))
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {name}: {detail}")

    (args.out / "model_table.md").write_text(table + "\n\n" + note + "\n\n" + "\n".join(
        f"- {'PASS' if ok else 'FAIL'}: {name}: {detail}" for name, ok, detail in checks) + "\n")
    (args.out / "model_table.json").write_text(json.dumps(
        {name: r.to_dict() for name, r in results.items()}, indent=2))
    save_chart(rows, args.out / "model_table.png", title="Gemma 3 270M variants vs F16 parent")
    step(f"wrote {args.out / 'model_table.md'} and model_table.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
