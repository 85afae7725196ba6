"""BM25 variants side by side on kept libraries: time and ranking quality.

Issue 12's latency target needs the BM25 half of a hybrid search faster at
250,000 passages. The cheap way is a tighter choice of query words for
FTS5; the other is a search library with top-k pruning (tantivy,
``core/library/bm25_index.py``). This bench measures both on the same
libraries in one process, variant by variant, query by query:

- ``fts5-all``: FTS5, every query word (the code before issue 12's latency work);
- ``fts5-share10``: FTS5, words in > 10% of the passages left out (what
  shipped before tantivy; forced on whatever the library's size);
- ``fts5-share5``, ``fts5-share2``: the same at 5% and 2%;
- ``fts5-top4``, ``fts5-top3``: the share rule at 10%, then only the N
  words found in the fewest passages;
- ``tantivy``: the derived index (every query word).

``--time LIBRARY --queries queries.json``: p50/p95 of the BM25 query and
top-10 overlap with ``fts5-all`` (a library of bench/search_scale.py).

``--library DIR --set SET --root ROOT``: hit@1 / hit@5 / MRR@10 of the
bm25 and hybrid modes under each variant, on a library kept by
``bench/retrieval.py --work-dir`` (``DIR`` = its ``library-onnx-int8``).

    .venv/bin/python bench/bm25_variants.py --time /tmp/hearth-search-scale/n250000 \\
        --queries /tmp/hearth-search-scale/queries.json
    .venv/bin/python bench/bm25_variants.py --library /tmp/ret-python/library-onnx-int8 \\
        --set bench/data/retrieval_python_docs.jsonl --root /usr/share/doc/python3.11/html
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.library import fts  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

VARIANTS = ("fts5-all", "fts5-share10", "fts5-share5", "fts5-share2", "fts5-top4", "fts5-top3", "tantivy")


def _top_n(n: int):
    original = fts.selective_terms

    def selective(db, terms, share, passages):
        kept = original(db, terms, share, passages)
        if len(kept) <= n:
            return kept
        counts = {t: db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{t}"',)).fetchone()[0]
                  for t in kept}
        return sorted(kept, key=lambda t: counts[t])[:n]
    return selective


@contextmanager
def variant(store, name: str):
    saved = (fts.COMMON_SHARE, fts.COMMON_MIN_PASSAGES, fts.selective_terms, store.derived_bm25)
    try:
        store.derived_bm25 = name == "tantivy"
        fts.COMMON_MIN_PASSAGES = 0
        if name == "fts5-all":
            fts.COMMON_SHARE = None
        elif name.startswith("fts5-share"):
            fts.COMMON_SHARE = int(name.removeprefix("fts5-share")) / 100
        elif name.startswith("fts5-top"):
            fts.COMMON_SHARE = 0.1
            fts.selective_terms = _top_n(int(name.removeprefix("fts5-top")))
        yield
    finally:
        fts.COMMON_SHARE, fts.COMMON_MIN_PASSAGES, fts.selective_terms, store.derived_bm25 = saved


def time_variants(library: Path, queries: list[str], variants) -> None:
    from desktop_app.core.library.store import Store

    store = Store(library)
    try:
        t0 = time.perf_counter()
        store.search_index.wait()
        if not store.catch_up_search_index():
            raise SystemExit("the BM25 index could not be caught up (another writer?)")
        print(f"tantivy index ready in {time.perf_counter() - t0:.1f}s ({store._live} passages)", flush=True)
        times = {v: [] for v in variants}
        tops = {v: [] for v in variants}
        for v in variants:   # warm up
            with variant(store, v):
                store.bm25_search("warm up the index", 10)
        for q in queries:
            for v in variants:
                with variant(store, v):
                    t = time.perf_counter()
                    hits = store.bm25_search(q, 10)
                    times[v].append(time.perf_counter() - t)
                    tops[v].append([i for i, _ in hits])
        print(f"\nBM25 only, k=10, {len(queries)} queries, {store._live} passages; load "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"{'variant':<14} {'p50 ms':>7} {'p95 ms':>7} {'top-10 overlap with fts5-all':>30}")
        for v in variants:
            overlap = np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(tops[v], tops["fts5-all"])])
            arr = np.asarray(times[v]) * 1000
            print(f"{v:<14} {np.percentile(arr, 50):>7.1f} {np.percentile(arr, 95):>7.1f} {overlap:>30.2f}")
    finally:
        store.close()


def quality_variants(library: Path, set_path: Path, root: Path, variants) -> None:
    from bench.retrieval import evaluate, load_questions
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library

    settings = Settings()
    cache = Path(tempfile.gettempdir()) / "hearth-bench-embedder"
    embedder = load_embedder(settings.embedder_backend, cache_dir=cache)
    lib = Library(library, embedder_factory=lambda: embedder, settings=settings)
    try:
        lib.store.search_index.wait()
        lib.store.catch_up_search_index()
        questions = load_questions(set_path)
        print(f"\n{len(questions)} questions ({set_path.name}), {lib.store._live} passages")
        print(f"{'variant':<14} {'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7}")
        v = evaluate(lib, questions, root, "vector")
        print(f"{'-':<14} {'vector':<7} {v['hit@1']:>6.3f} {v['hit@5']:>6.3f} {v['mrr@10']:>7.3f}")
        for name in variants:
            with variant(lib.store, name):
                for mode in ("bm25", "hybrid"):
                    m = evaluate(lib, questions, root, mode)
                    print(f"{name:<14} {mode:<7} {m['hit@1']:>6.3f} {m['hit@5']:>6.3f} {m['mrr@10']:>7.3f}",
                          flush=True)
    finally:
        lib.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time", type=Path, help="a library of bench/search_scale.py to time")
    parser.add_argument("--queries", type=Path, help="its queries.json")
    parser.add_argument("--library", type=Path, help="a library kept by bench/retrieval.py --work-dir")
    parser.add_argument("--set", type=Path)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = args.variants.split(",")
    if "fts5-all" not in variants:
        variants.insert(0, "fts5-all")
    if args.time:
        time_variants(args.time, json.loads(args.queries.read_text(encoding="utf-8")), variants)
    if args.library:
        quality_variants(args.library, args.set, args.root, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
