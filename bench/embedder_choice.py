"""Which embedder backend is the default: torch fp32 or ONNX int8?

Issue 2's rule: the faster backend (ONNX int8) becomes the default only if
its retrieval quality stays within 1 point of torch's hit@5. This indexes the
same files with both backends through the real pipeline, in the same run,
and evaluates the question set of ``bench/retrieval.py`` (its corpus,
questions and scoring are reused) plus the indexing speed of each.

The corpus is every answer page of the question set (77 pages of the
python3.11-doc HTML, 12 MB) plus every ``--sample``-th other library page as
distractors: smaller than ``retrieval.py --subset`` so both backends finish
in one sitting on 2 cores; each question still competes with thousands of
passages from other pages.

    .venv/bin/python bench/embedder_choice.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import retrieval  # noqa: E402  (sets offline env and sys.path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=retrieval.DEFAULT_CORPUS)
    parser.add_argument("--questions", type=Path, default=retrieval.DEFAULT_QUESTIONS)
    parser.add_argument("--sample", type=int, default=0,
                        help="also index every N-th non-answer library page (0: answer pages only)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    args = parser.parse_args()

    questions = retrieval.load_questions(args.questions)
    answers = sorted({a for q in questions for a in q["answers"]})
    paths = [args.corpus / a for a in answers]
    if args.sample:
        others = sorted(p for p in (args.corpus / "library").glob("*.html")
                        if f"library/{p.name}" not in answers)
        paths += others[::args.sample]
    print(f"{len(questions)} questions; corpus: {len(paths)} pages of {args.corpus}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-backends-") as work:
        for backend in ("torch", "onnx-int8"):
            results[backend] = retrieval.run_backend(backend, paths, questions, args.corpus, Path(work),
                                                     args.cache_dir)
            r = results[backend]
            print(f"[{backend}] {r['chunks_per_second']:.1f} chunks/s while indexing", flush=True)
    print(f"\n{'backend':<10} {'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7}")
    for backend, r in results.items():
        for mode in retrieval.MODES:
            m = r[mode]
            print(f"{backend:<10} {mode:<7} {m['hit@1']:>6.3f} {m['hit@5']:>6.3f} {m['mrr@10']:>7.3f}")
    torch_h5, int8_h5 = results["torch"]["hybrid"]["hit@5"], results["onnx-int8"]["hybrid"]["hit@5"]
    speed = results["onnx-int8"]["chunks_per_second"] / results["torch"]["chunks_per_second"]
    delta = 100 * (int8_h5 - torch_h5)
    print(f"\nhybrid hit@5: torch {torch_h5:.3f}, onnx-int8 {int8_h5:.3f} ({delta:+.1f} points); "
          f"onnx-int8 indexes x{speed:.2f} as fast as torch")
    choice = "onnx-int8" if delta >= -1.0 and speed > 1.0 else "torch"
    print(f"default backend by the issue's rule (within 1 point of hit@5, and faster): {choice}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
