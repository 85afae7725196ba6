"""Search latency as a library grows to 250,000 distinct real passages.

Texts: real and all different. Passages are cut (the library's own parser
and chunker, token counts estimated from words to keep the run short) from
Debian documentation and source trees found on this machine -- the Python
HTML docs, git-doc, the Python standard library and the installed Python
packages' sources -- and any passage whose text was already seen is
dropped, so no text is stored twice (duplicated text makes BM25 look
slower and HNSW look easier than real libraries).

Vectors: embedding 250,000 passages takes hours on 2 cores, so they are
built another way, but NOT from Gaussian noise (which behaves nothing like
text embeddings): ``--real`` passages are embedded with the real embedder
and each stored vector is a mixture of two of them (weight 0.6-0.95 on the
first) plus small noise, renormalized -- on the manifold real embeddings
span, with their cluster structure.

Everything is written through the real Store (SQLite + FTS5 + HNSW). At each
size of ``--sizes`` the library is measured with real queries (the
retrieval sets' questions plus 12-word snippets of stored passages):

- p50/p95 of ``Library.search`` end to end (query embedding included), for
  hybrid, vector and bm25, k=5;
- HNSW recall@10 against exact search (numpy over every stored vector).

and a PNG plots the growth (log-log), so the cost of 1M passages can be read
off the trend. Targets (issue 12) at 250k: hybrid p50 <= 30 ms, p95 <= 100 ms,
recall@10 >= 0.98.

Every search is timed on three paths, query by query, in the same process:
``baseline`` (the code before the latency work: a hybrid search's two
halves one after the other, every query word in an FTS5 BM25 query),
``fts5`` (the code before tantivy: the BM25 half on its own thread, FTS5,
very common words out of the query of a large library) and ``new`` (the
library's defaults: BM25 from the tantivy index derived from SQLite,
``core/library/bm25_index.py``, on its own thread), so the ratios hold on
a shared, noisy machine even when the absolute times do not. The fraction
of queries whose hybrid top 5 is the same on the new path and on the fts5
path is printed too. A library built before the tantivy index existed gets
it caught up from SQLite before it is measured (the time is printed).

The libraries (one per size, ``n<size>/``) and the queries are kept in
``--library-dir`` (default /tmp/hearth-search-scale): building 250k
passages takes ~6 min of a busy 2-core machine, measuring again reuses them.
Delete the folder to rebuild (after a change to the store's format).

    nice .venv/bin/python bench/search_scale.py --sizes 10000,50000,100000,250000 --queries 100 --real 1000
    .venv/bin/python bench/search_scale.py --sizes 10000,50000 --queries 100   # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
QUESTION_SETS = (HERE / "data" / "retrieval_python_docs.jsonl", HERE / "data" / "retrieval_latex_docs.jsonl")
MODES = ("hybrid", "vector", "bm25")


def default_roots() -> list[Path]:
    import sysconfig

    roots = [Path("/usr/share/doc/python3.11/html"), Path("/usr/share/doc/git-doc"),
             Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    return [r for r in roots if r.is_dir()]


def distinct_passages(roots: list[Path], want: int, max_tokens: int, overlap: int) -> list[str]:
    """``want`` passages of real text, no two alike, from the files under ``roots``."""
    from desktop_app.core.library.chunk import chunk_blocks
    from desktop_app.core.library.documents import ParseError
    from desktop_app.core.library.parse import is_supported, parse_file

    def words(text: str) -> int:   # ~1.3 tokens a word: a cheap stand-in for the tokenizer
        return int(len(text.split()) * 1.3) + 1

    seen: set[bytes] = set()
    texts: list[str] = []
    t0 = time.perf_counter()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "__pycache__")
            for name in sorted(files):
                path = Path(folder) / name
                if not is_supported(path) or name.startswith("."):
                    continue
                try:
                    for chunk in chunk_blocks(parse_file(path), words, max_tokens, overlap):
                        text = chunk.text.strip()
                        if len(text) < 40:
                            continue
                        digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).digest()
                        if digest in seen:
                            continue
                        seen.add(digest)
                        texts.append(text)
                except (ParseError, OSError, ValueError):
                    continue
                if len(texts) >= want:
                    print(f"collected {len(texts)} distinct passages in {time.perf_counter() - t0:.0f}s")
                    return texts
    raise SystemExit(f"only {len(texts)} distinct passages under {roots}; add roots with --root")


def synthesize(real: np.ndarray, n: int, rng: np.random.Generator, sigma: float) -> np.ndarray:
    a = rng.integers(0, len(real), n)
    b = rng.integers(0, len(real), n)
    w = rng.uniform(0.6, 0.95, n).astype(np.float32)[:, None]
    out = w * real[a] + (1 - w) * real[b] + rng.normal(0, sigma, (n, real.shape[1])).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def ms(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


class SearchPath:
    """One way of searching (see the module's docstring)."""

    def __init__(self, name: str, concurrent: bool, common_share, derived: bool) -> None:
        self.name, self.concurrent, self.common_share, self.derived = name, concurrent, common_share, derived

    def __enter__(self):
        from desktop_app.core.library import fts
        self._saved = fts.COMMON_SHARE
        if self.common_share != "default":
            fts.COMMON_SHARE = self.common_share
        return self

    def __exit__(self, *exc) -> None:
        from desktop_app.core.library import fts
        fts.COMMON_SHARE = self._saved


def search_paths():
    return (SearchPath("baseline", False, None, False), SearchPath("fts5", True, "default", False),
            SearchPath("new", True, "default", True))


PATH_NAMES = ("baseline", "fts5", "new")


def measure(lib, queries: list[str], qvecs: np.ndarray, vectors: np.ndarray, ids: np.ndarray) -> dict:
    """Per mode and path: p50/p95 ms. The paths alternate query by query, so
    the load of a shared machine falls on both alike."""
    paths = search_paths()
    out: dict = {p.name: {} for p in paths}
    lib.search("warm up", k=5)
    same_top = 0
    for mode in MODES:
        times = {p.name: [] for p in paths}
        for q in queries:
            got = {}
            for path in paths:
                lib.concurrent_search = path.concurrent
                lib.store.derived_bm25 = path.derived
                with path:
                    t = time.perf_counter()
                    hits = lib.search(q, k=5, mode=mode)
                    times[path.name].append(time.perf_counter() - t)
                got[path.name] = [h.chunk_id for h in hits]
            if mode == "hybrid":
                same_top += got["fts5"] == got["new"]
        for path in paths:
            out[path.name][mode] = {"p50": ms(times[path.name], 50), "p95": ms(times[path.name], 95)}
    lib.concurrent_search = True
    lib.store.derived_bm25 = True
    out["hybrid_same_top5"] = same_top / len(queries)
    recalls, exact_times = [], []
    for q in qvecs:
        t = time.perf_counter()
        scores = vectors @ q
        top = set(ids[np.argpartition(-scores, 10)[:10]].tolist())
        exact_times.append(time.perf_counter() - t)
        found = {i for i, _ in lib.store.vector_search(q, 10)}
        recalls.append(len(found & top) / 10)
    out["recall@10"] = float(np.mean(recalls))
    out["exact_p50"] = ms(exact_times, 50)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for mode, color in zip(MODES, ("tab:red", "tab:blue", "tab:green")):
        new = [results[n]["new"][mode] for n in sizes]
        ax.plot(sizes, [r["p50"] for r in new], "o-", color=color, label=f"{mode} p50")
        ax.plot(sizes, [r["p95"] for r in new], "s--", color=color, alpha=0.6, label=f"{mode} p95")
    for name, color in (("baseline", "grey"), ("fts5", "tab:purple")):
        old = [results[n][name]["hybrid"] for n in sizes]
        ax.plot(sizes, [r["p50"] for r in old], "o-", color=color, alpha=0.7, label=f"hybrid p50, {name}")
        ax.plot(sizes, [r["p95"] for r in old], "s--", color=color, alpha=0.5, label=f"hybrid p95, {name}")
    ax.axhline(30, color="grey", lw=0.8, ls=":")
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages in the library")
    ax.set_ylabel("search latency, ms (query embedding included)")
    ax.set_title("Hearth search latency vs library size (targets: 30 ms p50, 100 ms p95)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def build(args, sizes: list[int], settings: Settings, embedder) -> None:
    """The libraries of every size in ``args.library_dir`` (``n<size>/``,
    kept between runs: building 250k passages takes most of the time), and
    the queries used on all of them (``queries.json``)."""
    from desktop_app.core.library.documents import Chunk
    from desktop_app.core.library.library import Library
    from desktop_app.core.library.store import ChunkOp, FileDone, FileStart

    root = args.library_dir
    todo = [n for n in sizes if not (root / f"n{n}" / "complete").exists()]
    if not todo and (root / "queries.json").exists():
        return
    largest = max(sizes)
    rng = np.random.default_rng(args.seed)
    texts = distinct_passages(args.root or default_roots(), largest, settings.chunk_tokens, settings.chunk_overlap)
    t0 = time.perf_counter()
    sample = random.Random(args.seed).sample(texts, min(args.real, len(texts)))
    real = embedder.encode(sample, batch_size=32)
    print(f"embedded {len(sample)} real passages ({embedder.backend}) in {time.perf_counter() - t0:.0f}s", flush=True)
    vectors = synthesize(real, len(texts), rng, args.sigma)

    queries: list[str] = []
    for qset in QUESTION_SETS:
        if qset.exists():
            queries += [json.loads(line)["question"] for line in qset.open(encoding="utf-8") if line.strip()]
    snippets = [" ".join(t.split()[:12]) for t in random.Random(args.seed).sample(texts, args.queries)]
    queries = (queries + snippets)[:args.queries]
    root.mkdir(parents=True, exist_ok=True)
    (root / "queries.json").write_text(json.dumps(queries, indent=0), encoding="utf-8")

    work = root / "build"
    shutil.rmtree(work, ignore_errors=True)
    lib = Library(work, embedder_factory=lambda: embedder, settings=settings)
    store = lib.store
    store.ensure_embedder(embedder.name, embedder.dim)
    source = store.add_source("/bench", "folder")
    stored, per_file = 0, 1000
    t0 = time.perf_counter()
    for size in sizes:
        while stored < size:
            hi = min(size, stored + per_file)
            path = f"/bench/doc-{stored // per_file:05d}.txt"
            ops = [FileStart(path, source.id)]
            ops += [ChunkOp(path, Chunk(text=texts[i], start=i, end=i + 1)) for i in range(stored, hi)]
            ops.append(FileDone(path, 1, 1, "0" * 64))
            store.write_batch(ops, vectors[stored:hi])
            stored = hi
        lib.close()
        target = root / f"n{size}"
        shutil.rmtree(target, ignore_errors=True)
        # The HNSW file is hard-linked, not copied: its stamp names its inode
        # (a copy would not be trusted and be rebuilt), and the store
        # replaces the file rather than writing into it.
        shutil.copytree(work, target, copy_function=_link_index)
        (target / "complete").write_text(f"{size} passages\n", encoding="utf-8")
        print(f"built {size} passages in {time.perf_counter() - t0:.0f}s so far -> {target}", flush=True)
        lib = Library(work, embedder_factory=lambda: embedder, settings=settings)
        store = lib.store
    lib.close()
    shutil.rmtree(work, ignore_errors=True)


def _link_index(src: str, dst: str) -> None:
    if src.endswith(".hnsw"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def stored_vectors(lib) -> tuple[np.ndarray, np.ndarray]:
    rows = lib.store._db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    return ids, vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,25000,50000,100000,250000")
    parser.add_argument("--root", type=Path, action="append", help="text sources (default: docs + Python sources)")
    parser.add_argument("--real", type=int, default=2000, help="passages embedded to build the vectors from")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sigma", type=float, default=0.01)
    parser.add_argument("--backend", choices=("torch", "onnx-int8"), default="onnx-int8")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    parser.add_argument("--library-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-search-scale",
                        help="where the built libraries are kept between runs (n<size>/ each)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--png", type=Path, default=Path("search_scale.png"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--ef", type=int, help="HNSW ef at search time (default: the store's)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    from desktop_app.core.library import vector_index
    if args.ef:
        vector_index.HNSW_EF_SEARCH = args.ef
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library

    settings = Settings()
    embedder = load_embedder(args.backend, cache_dir=args.cache_dir)
    build(args, sizes, settings, embedder)
    if args.build_only:
        return 0
    queries = json.loads((args.library_dir / "queries.json").read_text(encoding="utf-8"))
    qvecs = embedder.encode(queries)

    results: dict[int, dict] = {}
    for size in sizes:
        lib = Library(args.library_dir / f"n{size}", embedder_factory=lambda: embedder, settings=settings)
        try:
            t0 = time.perf_counter()
            lib.store.search_index.wait()
            if not lib.store.catch_up_search_index():
                raise SystemExit("the BM25 index could not be caught up (another writer holds the library?)")
            print(f"{size:>7} passages: BM25 index current after {time.perf_counter() - t0:.1f}s", flush=True)
            ids, vectors = stored_vectors(lib)
            results[size] = measure(lib, queries, qvecs, vectors, ids)
        finally:
            lib.close()
        r = results[size]
        for name in PATH_NAMES:
            print(f"{size:>7} passages, {name:>8}: "
                  + "  ".join(f"{m} p50 {r[name][m]['p50']:6.1f} p95 {r[name][m]['p95']:6.1f}" for m in MODES),
                  flush=True)
        print(f"{size:>7} passages: HNSW recall@10 {r['recall@10']:.3f} (ef={vector_index.HNSW_EF_SEARCH}), "
              f"exact numpy p50 {r['exact_p50']:.1f} ms; hybrid top-5 same on new and fts5 paths for "
              f"{r['hybrid_same_top5']:.0%} of the queries", flush=True)

    print(f"\n{len(queries)} queries, k=5, times in ms (query embedding included); machine load "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min) on {os.cpu_count()} cores")
    print(f"{'passages':>9} {'path':>8} " + " ".join(f"{m + ' p50':>11} {m + ' p95':>11}" for m in MODES)
          + "  recall@10")
    for size in sizes:
        for name in PATH_NAMES:
            r = results[size]
            print(f"{size:>9} {name:>8} " + " ".join(f"{r[name][m]['p50']:>11.1f} {r[name][m]['p95']:>11.1f}"
                                                    for m in MODES) + f"  {r['recall@10']:>9.3f}")
    for size in sizes:
        for base in PATH_NAMES[:2]:
            b = results[size][base]["hybrid"]
            print(f"{size:>9}: hybrid vs {base}: " + ", ".join(
                f"{name} p50 x{results[size][name]['hybrid']['p50'] / b['p50']:.2f} "
                f"p95 x{results[size][name]['hybrid']['p95'] / b['p95']:.2f}"
                for name in PATH_NAMES[PATH_NAMES.index(base) + 1:]))
    top = results[sizes[-1]]["new"]
    print(f"at {sizes[-1]}: hybrid p50 {top['hybrid']['p50']:.1f} ms (target <= 30), "
          f"p95 {top['hybrid']['p95']:.1f} ms (target <= 100), "
          f"recall@10 {results[sizes[-1]]['recall@10']:.3f} (target >= 0.98)")
    plot(results, args.png)
    print(f"plot: {args.png}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
