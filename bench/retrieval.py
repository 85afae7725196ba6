"""Retrieval quality of the library over a real documentation corpus.

Indexes a corpus with the real ingest pipeline into a library, runs every
question of an evaluation set and prints hit@1, hit@5 and MRR@10 for
vector-only, BM25-only and hybrid search, and the index time. A question
counts as hit@k when one of the top-k passages comes from one of its answer
files (paths relative to the corpus root).

    .venv/bin/python bench/retrieval.py --subset 4        # Python docs, answers + every 4th other page
    .venv/bin/python bench/retrieval.py --set my.jsonl --root /usr/share/doc/git-doc --subset 5
    .venv/bin/python bench/retrieval.py --set my.jsonl --root DIR --work-dir /tmp/lib   # keep the index

Every supported file under ``--root`` is indexed (Sphinx's ``_sources``,
``_static``, ``_images`` and ``_downloads`` copies excepted), or with
``--subset N`` every answer file plus every Nth other one. ``--max-kb``
leaves out other files bigger than that (a 1,000-page PDF as a mere
distractor would take most of the run). With ``--work-dir`` the library
is kept and a re-run only indexes what changed.

Targets (issue 12): hybrid hit@5 >= 0.95, hit@1 >= 0.75, and hybrid >= the
better of vector and BM25 on every set.
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
# Sphinx build leftovers: copies of the pages' sources and assets, and its
# JavaScript search index (3.6 MB of JSON), not documents.
SKIPPED_FOLDERS = frozenset({"_sources", "_static", "_images", "_downloads"})
SKIPPED_FILES = frozenset({"searchindex.js"})


def load_questions(path: Path) -> list[dict]:
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                questions.append({"question": item["question"], "answers": list(item["answers"])})
    return questions


def corpus_paths(corpus: Path, questions: list[dict], subset: int = 0, max_kb: int = 0) -> list[Path]:
    """What to index: every supported file under ``corpus``, or (``subset``
    N > 1) every answer file plus every Nth other file, in path order.
    Non-answer files over ``max_kb`` are left out when it is set."""
    from desktop_app.core.library.parse import is_supported

    missing = sorted({a for q in questions for a in q["answers"] if not (corpus / a).is_file()})
    if missing:
        raise SystemExit(f"answer files missing from the corpus: {missing[:5]}...")
    answers = {a for q in questions for a in q["answers"]}
    others = []
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus)
        if rel.as_posix() in answers or not path.is_file() or not is_supported(path):
            continue
        if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in rel.parts) or path.name in SKIPPED_FILES:
            continue
        if max_kb and path.stat().st_size > max_kb * 1024:
            continue
        others.append(path)
    if subset > 1:
        others = others[::subset]
    return sorted([corpus / a for a in answers] + others)


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
        # A kept work dir may hold files of an earlier, different selection.
        wanted = {str(p.resolve()) for p in paths}
        for stale in [p for p in lib.store.files_under(str(corpus.resolve())) if p not in wanted]:
            lib.remove(stale)
        status = lib.status()
        result = {"backend": backend, "index_seconds": seconds, "totals": status.get("totals"),
                  "files": len(paths), "chunks_embedded": report.chunks,
                  "chunks_per_second": report.chunks / seconds if seconds else None}
        print(f"[{backend}] {len(paths)} files: embedded {report.chunks} chunks in {seconds:.0f}s "
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
    parser.add_argument("--root", "--corpus", dest="root", type=Path, default=DEFAULT_CORPUS,
                        help="folder of the documents; answer paths are relative to it")
    parser.add_argument("--set", "--questions", dest="set", type=Path, default=DEFAULT_QUESTIONS,
                        help="JSONL of {question, answers: [relative paths]}")
    parser.add_argument("--subset", type=int, nargs="?", const=4, default=0, metavar="N",
                        help="index the answer files plus every Nth other file (default N: 4)")
    parser.add_argument("--max-kb", type=int, default=0,
                        help="leave out non-answer files bigger than this (0: no limit)")
    parser.add_argument("--backend", action="append", choices=("torch", "onnx-int8"),
                        help="embedder backend(s) to compare (default: the settings' default)")
    parser.add_argument("--work-dir", type=Path, help="keep the built libraries here (default: a temp dir)")
    parser.add_argument("--cache-dir", type=Path, help="embedder cache (ONNX export); default: in the work dir")
    parser.add_argument("--show-misses", action="store_true", help="print the hybrid misses")
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    if not args.root.is_dir():
        print(f"corpus {args.root} not found", file=sys.stderr)
        return 2
    questions = load_questions(args.set)
    paths = corpus_paths(args.root, questions, args.subset, args.max_kb)
    backends = args.backend or [Settings().embedder_backend]
    with tempfile.TemporaryDirectory(prefix="hearth-retrieval-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cache = args.cache_dir or work / "embedder"
        results = [run_backend(b, paths, questions, args.root, work, cache) for b in backends]

    subset = f", answers + every {args.subset}th other file" if args.subset > 1 else ""
    print(f"\n{len(questions)} questions ({args.set.name}), corpus {args.root}{subset}: {len(paths)} files")
    print(f"{'backend':<10} {'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'ms/query':>9}")
    for r in results:
        for mode in MODES:
            m = r[mode]
            print(f"{r['backend']:<10} {mode:<7} {m['hit@1']:>6.3f} {m['hit@5']:>6.3f} {m['mrr@10']:>7.3f} "
                  f"{m['ms_per_query']:>9.1f}")
        best = max(r["vector"]["hit@5"], r["bm25"]["hit@5"])
        print(f"{r['backend']:<10} index: {r['files']} files, {r['totals']['chunks']} passages, "
              f"{r['index_seconds']:.0f}s ({r['chunks_embedded']} embedded in this run); "
              f"hybrid hit@5 - best half: {r['hybrid']['hit@5'] - best:+.3f}")
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
