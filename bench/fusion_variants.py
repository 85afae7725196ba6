"""Ranking variants of the hybrid search, scored in memory on kept libraries.

``bench/retrieval.py`` embeds a corpus and scores the shipped search; trying
another way to combine the two halves there means a full run per idea. This
bench takes each question's candidate lists once (the top 100 of the HNSW
and of the BM25 side, the query vector) and every passage's stored vector
from a library kept by ``bench/retrieval.py --work-dir``, then scores many
variants of the fusion (``rank.fuse``) and the re-ranking
(``rerank.rerank``) in memory, a few seconds each, on all the sets side by
side. ``shipped`` is the search as it ships (it reproduces
``bench/retrieval.py``'s hybrid row exactly); every other row changes one
thing:

- hubness reduction on the vector side (a "hub" is a passage near many
  queries whatever they ask): ``csls`` (the cosine less beta x the passage's
  mean cosine to its 10 nearest passages, Lample et al. 2018), ``center``
  (less beta x its cosine to the library's mean vector), ``kocc`` (less
  beta x log(1 + how many passages have it among their 10 nearest)),
  ``qbank`` (less beta x its mean cosine to the 3 nearest *other questions*
  of the set, a stand-in for a log of past queries: QB-Norm, Bogolin et al.
  2022);
- document-level evidence on the vector side: ``doclen`` (less gamma x
  sqrt(2 ln n), n the file's passage count: the expected maximum of n
  draws), ``centroid`` (plus alpha x the cosine of the query to the file's
  mean vector), ``neighbour`` (plus alpha x the better cosine of the two
  adjacent passages);
- fusion: BM25 weight, the floor quantile, z-score normalization, a
  reciprocal-rank term, 100 candidates per side instead of 50;
- re-ranking: document evidence from more of the pool (the shipped one counts
  the first five), or none.

    .venv/bin/python bench/fusion_variants.py dump --library /tmp/ret-pg/library-onnx-int8 \\
        --set bench/data/blind/retrieval_pg_docs.jsonl --root /usr/share/doc/postgresql-doc-15/html \\
        --out /tmp/fusion/pg.pkl
    .venv/bin/python bench/fusion_variants.py eval /tmp/fusion/*.pkl

The hubness and neighbour statistics are computed here by brute force (a
few seconds at 10,000 passages); in the product they would have to be
stored at index time and kept up to date as files come and go, which is only
worth building for a variant that wins on every set.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sqlite3
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.library.rank import DEFAULT_WEIGHTS, fuse  # noqa: E402
from desktop_app.core.library.rerank import DEFAULT_RERANK, rerank  # noqa: E402

DEPTH = 100          # candidates kept per side and question
N_FUSED = 50         # what the product fuses (library.MIN_CANDIDATES)


# ---------------------------------------------------------------- dump

def dump(library: Path, set_path: Path, root: Path, out: Path) -> None:
    from bench.retrieval import load_questions, relative
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.settings import Settings

    settings = Settings()
    embedder = load_embedder(settings.embedder_backend, cache_dir=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    lib = Library(library, embedder_factory=lambda: embedder, settings=settings)
    try:
        lib.store.search_index.wait()
        lib.store.catch_up_search_index()
        db = sqlite3.connect(f"file:{library / 'library.sqlite3'}?mode=ro", uri=True)
        rows = db.execute("SELECT c.id, f.path, c.vector FROM chunks c JOIN files f ON f.id = c.file_id "
                          "ORDER BY f.path, c.seq").fetchall()
        db.close()
        data = {"set": set_path.name, "ids": np.array([r[0] for r in rows]),
                "paths": [relative(r[1], root) for r in rows],
                "vecs": np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]), "questions": []}
        for q in load_questions(set_path):
            qvec = np.asarray(embedder.encode([q["question"]])[0], dtype=np.float32)
            data["questions"].append({"answers": q["answers"], "qvec": qvec,
                                      "vec": lib.store.vector_search(qvec, DEPTH),
                                      "bm25": lib.store.bm25_search(q["question"], DEPTH)})
    finally:
        lib.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        pickle.dump(data, handle)
    print(f"{out}: {len(data['questions'])} questions, {len(rows)} passages")


# ---------------------------------------------------------------- statistics

def prepare(d: dict, k: int = 10) -> None:
    """Per-passage statistics by brute force: mean cosine to the k nearest
    passages, k-occurrence, cosine to the library mean; file of each row,
    passage count and mean vector of each file."""
    vecs = d["vecs"]
    n = len(vecs)
    d["row"] = {int(c): i for i, c in enumerate(d["ids"])}
    d["file"] = {int(c): p for c, p in zip(d["ids"], d["paths"])}
    rk, occ = np.zeros(n, np.float32), np.zeros(n, np.int64)
    for start in range(0, n, 2000):
        sims = vecs[start:start + 2000] @ vecs.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -9.0
        near = np.argpartition(-sims, k, axis=1)[:, :k]
        rk[start:start + len(sims)] = np.take_along_axis(sims, near, 1).mean(1)
        np.add.at(occ, near.ravel(), 1)
    mean = vecs.mean(0)
    d["rk"], d["occ"], d["cmu"] = rk, occ, vecs @ (mean / np.linalg.norm(mean))
    files = sorted(set(d["paths"]))
    index = {f: i for i, f in enumerate(files)}
    d["fidx"] = np.array([index[p] for p in d["paths"]])
    cent = np.zeros((len(files), vecs.shape[1]), np.float32)
    np.add.at(cent, d["fidx"], vecs)
    d["cent"] = cent / np.linalg.norm(cent, axis=1, keepdims=True)
    d["nfile"] = Counter(d["paths"])


# ---------------------------------------------------------------- variants

def _resorted(hits, adjust):
    return sorted(((c, s + adjust(c, s)) for c, s in hits), key=lambda x: -x[1])


def vector_side(kind: str, beta: float):
    """A function (data, question index) -> the vector list, re-scored."""
    def adjusted(d, qi):
        q = d["questions"][qi]
        row = d["row"]
        if kind == "csls":
            return _resorted(q["vec"], lambda c, s: -beta * float(d["rk"][row[c]]))
        if kind == "center":
            return _resorted(q["vec"], lambda c, s: -beta * float(d["cmu"][row[c]]))
        if kind == "kocc":
            return _resorted(q["vec"], lambda c, s: -beta * float(np.log1p(d["occ"][row[c]])))
        if kind == "doclen":
            return _resorted(q["vec"], lambda c, s: -beta * float(np.sqrt(2 * np.log(max(d["nfile"][d["file"][c]], 1)))))
        if kind == "centroid":
            return _resorted(q["vec"], lambda c, s: beta * float(d["cent"][d["fidx"][row[c]]] @ q["qvec"]))
        if kind == "neighbour":
            def near(c, s):
                r = row[c]
                sims = [float(d["vecs"][j] @ q["qvec"]) for j in (r - 1, r + 1)
                        if 0 <= j < len(d["ids"]) and d["fidx"][j] == d["fidx"][r]]
                return beta * max(sims, default=s)
            return _resorted(q["vec"], near)
        if kind == "qbank":
            bank = np.stack([x["qvec"] for j, x in enumerate(d["questions"]) if j != qi])
            sims = d["vecs"][[row[c] for c, _ in q["vec"]]] @ bank.T
            hub = np.sort(sims, axis=1)[:, -3:].mean(1)
            return sorted(((c, s - beta * float(h)) for (c, s), h in zip(q["vec"], hub)), key=lambda x: -x[1])
        raise ValueError(kind)
    return adjusted


def _normalized(hits, how: str, floor: float):
    scores = np.array([s for _, s in hits], dtype=np.float64)
    if not len(scores):
        return {}
    if how == "z":
        v = np.clip((scores - scores.mean()) / max(scores.std(), 1e-9), 0.0, None)
        v = v / max(v.max(), 1e-9)
    else:
        low = np.sort(scores)[int(floor * (len(scores) - 1))]
        v = np.clip((scores - low) / max(scores.max() - low, 1e-9), 0.0, None)
    return {c: float(x) for (c, _), x in zip(hits, v)}


def fused_variant(how: str = "minmax", bm25: float = 0.3, floor: float = 0.0, rrf: float = 0.0):
    """A fusion like rank.fuse (no document bonus: its default is off) with
    another normalization or a reciprocal-rank term added."""
    def fusion(vec, lex, file_of):
        a, b = _normalized(vec, how, floor), _normalized(lex, how, floor)
        rv = {c: i for i, (c, _) in enumerate(vec)}
        rb = {c: i for i, (c, _) in enumerate(lex)}
        out = {}
        for c in list(a) + [c for c in b if c not in a]:
            s = a.get(c, 0.0) + bm25 * b.get(c, 0.0)
            if rrf:
                s += rrf * 60 * ((1 / (60 + rv[c]) if c in rv else 0) + (1 / (60 + rb[c]) if c in rb else 0))
            out[c] = s
        return sorted(out.items(), key=lambda x: (-x[1], x[0]))
    return fusion


def variants():
    shipped = {}
    out = [("shipped", shipped), ("fusion only (no re-rank)", {"no_rerank": True})]
    for kind, betas in (("csls", (0.1, 0.3)), ("center", (0.1, 0.2)), ("kocc", (0.005, 0.02)),
                        ("qbank", (0.2, 0.4)), ("doclen", (0.02, 0.05)), ("centroid", (0.1, 0.2)),
                        ("neighbour", (0.1, 0.2))):
        out += [(f"{kind} {b}", {"vector": vector_side(kind, b)}) for b in betas]
    out += [(f"bm25 weight {w}", {"weights": replace(DEFAULT_WEIGHTS, bm25=w)}) for w in (0.4, 0.5)]
    out += [("floor 0.5", {"weights": replace(DEFAULT_WEIGHTS, floor=0.5)}),
            ("100 candidates a side", {"n": 100}),
            ("z-score, bm25 0.3", {"fusion": fused_variant("z", 0.3)}),
            ("min-max + RRF 0.2", {"fusion": fused_variant(rrf=0.2)}),
            ("z-score + RRF 0.2, bm25 0.2", {"fusion": fused_variant("z", 0.2, rrf=0.2)}),
            ("re-rank evidence: none", {"rerank": replace(DEFAULT_RERANK, file_evidence=0.0)}),
            ("re-rank evidence: first 15", {"rerank": replace(DEFAULT_RERANK, evidence_pool=15)}),
            ("re-rank evidence: whole pool", {"rerank": replace(DEFAULT_RERANK, evidence_pool=DEFAULT_RERANK.pool)})]
    return out


def ranked(d: dict, qi: int, v: dict, k: int = 10) -> list[int]:
    q = d["questions"][qi]
    n = v.get("n", N_FUSED)
    vec = (v["vector"](d, qi) if "vector" in v else q["vec"])[:n]
    lex = q["bm25"][:n]
    fused = v["fusion"](vec, lex, d["file"]) if "fusion" in v else fuse(vec, lex, d["file"], v.get("weights", DEFAULT_WEIGHTS))
    if v.get("no_rerank"):
        return [c for c, _ in fused[:k]]
    pool = [c for c, _ in fused[:max(DEFAULT_RERANK.pool, k)]]
    vectors = {c: d["vecs"][d["row"][c]] for c in pool}
    return [c for c, _ in rerank(fused, d["file"], k, vectors, v.get("rerank", DEFAULT_RERANK))]


def measure(d: dict, lists) -> tuple[float, float, float]:
    h1 = h5 = rr = 0.0
    for q, ids in zip(d["questions"], lists):
        rank = next((i + 1 for i, c in enumerate(ids) if d["file"][c] in q["answers"]), None)
        h1 += rank == 1
        h5 += rank is not None and rank <= 5
        rr += 1.0 / rank if rank else 0.0
    n = len(d["questions"])
    return h1 / n, h5 / n, rr / n


def evaluate(paths: list[Path]) -> None:
    sets = {}
    for path in paths:
        with open(path, "rb") as handle:
            sets[path.stem] = pickle.load(handle)
        prepare(sets[path.stem])
    fmt = lambda m: f"{m[0]:.3f}/{m[1]:.3f}/{m[2]:.3f}"   # noqa: E731
    print("hit@1/hit@5/MRR@10; '*' marks a set where hybrid misses a target "
          "(hit@5 >= 0.95, hit@1 >= 0.75, >= the better half on each measure)")
    halves = {}
    for name, d in sets.items():
        vec = measure(d, [[c for c, _ in q["vec"][:10]] for q in d["questions"]])
        lex = measure(d, [[c for c, _ in q["bm25"][:10]] for q in d["questions"]])
        halves[name] = tuple(max(a, b) for a, b in zip(vec, lex))
        print(f"{name:<10} vector {fmt(vec)}  bm25 {fmt(lex)}")
    print(f"\n{'variant':<30} " + " ".join(f"{n:<20}" for n in sets))
    for label, v in variants():
        cells = []
        for name, d in sets.items():
            m = measure(d, [ranked(d, i, v) for i in range(len(d["questions"]))])
            ok = m[1] >= 0.95 and m[0] >= 0.75 and all(x >= h - 1e-9 for x, h in zip(m, halves[name]))
            cells.append(f"{fmt(m)}{' ' if ok else '*'}")
        print(f"{label:<30} " + " ".join(f"{c:<20}" for c in cells), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dump", help="candidate lists of one set on a kept library")
    p.add_argument("--library", type=Path, required=True, help="library-<backend> of bench/retrieval.py --work-dir")
    p.add_argument("--set", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("eval", help="score every variant on dumped sets")
    p.add_argument("dumps", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.library, args.set, args.root, args.out)
    else:
        evaluate(args.dumps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
