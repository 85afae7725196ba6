"""Retrieval quality of the library over a real documentation corpus.

Indexes a corpus (default: Debian's python3.11-doc HTML) with the real
ingest pipeline into a temporary library, runs every question of an
evaluation set and prints hit@1, hit@5 and MRR@10 for vector-only, BM25-only
and hybrid search, for each embedder backend. A question counts as hit@k when
one of the top-k passages comes from one of its answer files.

    .venv/bin/python bench/retrieval.py --subset            # a few minutes per backend
    .venv/bin/python bench/retrieval.py --backend onnx-int8 # whole corpus, one backend

Target (issue 2): hybrid hit@5 >= 0.85.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.jobs import CancelToken, Progress  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path("/usr/share/doc/python3.11/html")
DEFAULT_QUESTIONS = HERE / "data" / "retrieval_python_docs.jsonl"
MODES = ("vector", "bm25", "hybrid")
# Whole folders kept by --subset (besides every answer file and a sample of the library reference).
SUBSET_FOLDERS = ("tutorial", "howto", "reference", "faq", "using")
SUBSET_LIBRARY_SAMPLE = 4      # every 4th non-answer page of library/ stays in as a distractor


def load_questions(path: Path) -> list[dict]:
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                questions.append({"question": item["question"], "answers": list(item["answers"])})
    return questions


def corpus_paths(corpus: Path, questions: list[dict], subset: bool) -> list[Path]:
    """What to index: the whole corpus folder, or a smaller set that still
    holds every answer plus many distractors (same kind of pages)."""
    missing = sorted({a for q in questions for a in q["answers"] if not (corpus / a).is_file()})
    if missing:
        raise SystemExit(f"answer files missing from the corpus: {missing[:5]}...")
    if not subset:
        return [corpus]
    answers = {a for q in questions for a in q["answers"]}
    paths = [corpus / folder for folder in SUBSET_FOLDERS]
    paths.append(corpus / "glossary.html")
    for a in sorted(answers):
        if a.split("/")[0] not in SUBSET_FOLDERS and a != "glossary.html":
            paths.append(corpus / a)
    library = sorted(p for p in (corpus / "library").glob("*.html")
                     if f"library/{p.name}" not in answers)
    paths += library[::SUBSET_LIBRARY_SAMPLE]
    return paths


def relative(path: str, corpus: Path) -> str:
    try:
        return Path(path).resolve().relative_to(corpus.resolve()).as_posix()
    except ValueError:
        return path


def evaluate(lib, questions: list[dict], corpus: Path, mode: str, depth: int = 10) -> dict:
    hit1 = hit5 = 0
    rr = 0.0
    misses = []
    t0 = time.perf_counter()
    for q in questions:
        hits = lib.search(q["question"], k=depth, mode=mode)
        files = [relative(h.path, corpus) for h in hits]
        rank = next((i + 1 for i, f in enumerate(files) if f in q["answers"]), None)
        if rank == 1:
            hit1 += 1
        if rank is not None and rank <= 5:
            hit5 += 1
        else:
            misses.append({"question": q["question"], "answers": q["answers"],
                           "got": [(f, h.section) for f, h in zip(files[:5], hits[:5])]})
        if rank is not None:
            rr += 1.0 / rank
    n = len(questions)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@10": rr / n,
            "ms_per_query": 1000 * (time.perf_counter() - t0) / n, "misses": misses}


class StderrProgress:
    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self._last < 2.0:
            return
        self._last = now
        total = f"/{p.total}" if p.total else ""
        print(f"  {p.stage} {p.done}{total} {p.detail[:60]}", file=sys.stderr, flush=True)


def run_backend(backend: str, paths: list[Path], questions: list[dict], corpus: Path, work: Path,
                cache_dir: Path) -> dict:
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library

    embedder = load_embedder(backend, cache_dir=cache_dir)
    lib = Library(work / f"library-{backend}", embedder_factory=lambda: embedder, settings=Settings())
    try:
        t0 = time.perf_counter()
        report = lib.add(paths, token=CancelToken(), report=StderrProgress())
        seconds = time.perf_counter() - t0
        status = lib.status()
        result = {"backend": backend, "index_seconds": seconds, "totals": status.get("totals"),
                  "chunks_per_second": report.chunks / seconds if seconds else None}
        print(f"[{backend}] indexed {report.chunks} chunks in {seconds:.0f}s "
              f"({report.chunks / max(seconds, 1e-9):.1f} chunks/s): {status.get('totals')}", file=sys.stderr)
        if report.failed:
            print(f"[{backend}] {len(report.failed)} files failed: {report.failed[:3]}", file=sys.stderr)
        for mode in MODES:
            result[mode] = evaluate(lib, questions, corpus, mode)
        return result
    finally:
        lib.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--subset", action="store_true",
                        help="index tutorial/howto/reference/faq/using, every answer page and every "
                             f"{SUBSET_LIBRARY_SAMPLE}th other library page (a few minutes per backend)")
    parser.add_argument("--backend", action="append", choices=("torch", "onnx-int8"),
                        help="embedder backend(s) to compare (default: both)")
    parser.add_argument("--work-dir", type=Path, help="keep the built libraries here (default: a temp dir)")
    parser.add_argument("--cache-dir", type=Path, help="embedder cache (ONNX export); default: in the work dir")
    parser.add_argument("--show-misses", action="store_true", help="print the hybrid misses")
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    if not args.corpus.is_dir():
        print(f"corpus {args.corpus} not found (apt-get install python3.11-doc)", file=sys.stderr)
        return 2
    questions = load_questions(args.questions)
    paths = corpus_paths(args.corpus, questions, args.subset)
    backends = args.backend or ["torch", "onnx-int8"]
    with tempfile.TemporaryDirectory(prefix="hearth-retrieval-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cache = args.cache_dir or work / "embedder"
        results = [run_backend(b, paths, questions, args.corpus, work, cache) for b in backends]

    print(f"\n{len(questions)} questions, corpus {args.corpus}{' (subset)' if args.subset else ''}")
    print(f"{'backend':<10} {'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'ms/query':>9}")
    for r in results:
        for mode in MODES:
            m = r[mode]
            print(f"{r['backend']:<10} {mode:<7} {m['hit@1']:>6.3f} {m['hit@5']:>6.3f} {m['mrr@10']:>7.3f} "
                  f"{m['ms_per_query']:>9.1f}")
    if len(results) == 2:
        delta = results[1]["hybrid"]["hit@5"] - results[0]["hybrid"]["hit@5"]
        print(f"hybrid hit@5 {results[1]['backend']} - {results[0]['backend']}: {delta:+.3f}")
    if args.show_misses:
        for r in results:
            for miss in r["hybrid"]["misses"]:
                print(f"\n[{r['backend']} hybrid miss] {miss['question']}\n  answers: {miss['answers']}")
                for f, section in miss["got"]:
                    print(f"  got: {f}  ({section})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
