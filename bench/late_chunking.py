"""Late chunking: sentence vectors read in their passage's context, measured.

A sentence embedded on its own loses what its passage says around it (the
entry it belongs to, the page's subject). "Late chunking" embeds the whole
passage once, as the index does ("title > headings: text"), and mean-pools
the token embeddings of each sentence's tokens: a vector per sentence from
the same forward pass, so an index could store them at no extra encoding
cost. This bench measures whether those vectors would pay, on both places a
sentence-level signal could help:

``answers``: the sentence ranking of ``support.rank_sentences`` on the
recorded development groundings (``bench/data/records``), with each
sentence's cosine replaced by ``(1 - alpha) x its own + alpha x in context``;
prints how often the top sentence states the gold and then
``bench/fit_confidence.py``'s table (product weights, held-out fits) on
those rankings.

    .venv/bin/python bench/late_chunking.py answers --alpha 0.5 bench/data/records/*.rec.jsonl

``retrieval``: the hybrid search's first candidates (a
``bench/fusion_variants.py dump``), re-scored with ``beta x`` the best
in-context sentence cosine of each of the first ``--pool`` fused passages,
before the shipped re-ranking (and without it). The passages are read again
from the corpus with the product's parser and chunker (the dump keeps
vectors, not texts); each re-made passage vector is checked against the
stored one (the cosine printed).

    .venv/bin/python bench/late_chunking.py retrieval --dump /tmp/fusion/pg.pkl \\
        --root /usr/share/doc/postgresql-doc-15/html --pool 60

Development only: the records and dumps are of development sets.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


class InContext:
    """Token embeddings of a text (windows of the model's length, each
    token taken from the window it sits most inside) and mean-pooled
    vectors of character spans of it."""

    def __init__(self, embedder) -> None:
        self.enc = embedder.model          # the ONNX encoder (onnx_encoder.py)
        self.tok = self.enc.counting_tokenizer()
        self.cls, self.sep = self.tok.token_to_id("[CLS]"), self.tok.token_to_id("[SEP]")
        self._cache: dict = {}

    def tokens(self, text: str):
        if text in self._cache:
            return self._cache[text]
        e = self.tok.encode(text, add_special_tokens=False)
        ids, n = e.ids, len(e.ids)
        width = self.enc.max_seq_length - 2
        out = np.zeros((n, self.enc.dim), np.float32)
        inside = np.full(n, -1)
        starts = list(range(0, max(1, n - width) + 1, width // 2))
        if starts[-1] + width < n:
            starts.append(n - width)
        for s in starts:
            seg = ids[s:s + width]
            x = np.array([[self.cls] + seg + [self.sep]], np.int64)
            vectors = self.enc.token_embeddings(x, np.ones_like(x), np.zeros_like(x))[0][1:-1]
            for j in range(len(seg)):
                depth = min(j, len(seg) - 1 - j)
                if depth > inside[s + j]:
                    inside[s + j], out[s + j] = depth, vectors[j]
        self._cache[text] = (e.offsets, out)
        return e.offsets, out

    def span(self, text: str, start: int, end: int):
        offsets, vectors = self.tokens(text)
        rows = [k for k, (a, b) in enumerate(offsets) if a < end and b > start]
        if not rows:
            return None
        v = vectors[rows].mean(0)
        return v / (np.linalg.norm(v) + 1e-12)


def answers(alpha: float, records: list[Path]) -> None:
    import fit_confidence
    from doc_answers import OFF_TOPIC, matches

    from desktop_app.core.chat import support
    from desktop_app.core.library import embed as embed_module
    from desktop_app.core.library.context import document_title, embed_text
    from desktop_app.core.settings import Settings

    embedder = embed_module.load_embedder(Settings().embedder_backend)
    context = InContext(embedder)
    current: dict = {}

    def embed(texts):
        vectors = embedder.encode(texts)
        sources, current["sources"] = current.get("sources"), None
        spans = support.candidate_spans(sources)[0] if sources is not None else []
        if not alpha or len(spans) != len(texts) - 1:
            return vectors
        out = vectors.copy()
        for i, (s, a, b) in enumerate(spans):
            full = embed_text(document_title(s.path), s.section, s.text)
            shift = len(full) - len(s.text)
            v = context.span(full, a + shift, b + shift)
            if v is not None:   # cosines blend linearly: blend the vectors
                out[i + 1] = (1 - alpha) * vectors[i + 1] + alpha * v
        return out

    rank = support.rank_sentences
    top = {"n": 0, "gold": 0, "patterns": None}

    def ranked(question, sources, embed_, draft=""):
        current["sources"] = sources
        result = rank(question, sources, embed_, draft)
        if result is not None and top["patterns"]:
            s, a, b = result.spans[result.best()]
            top["n"] += 1
            top["gold"] += matches(s.text[a:b], top["patterns"])
        return result

    def loads(text, *args, **kwargs):    # the record being read: its gold, for the count above
        record = json.JSONDecoder().decode(text)
        if isinstance(record, dict) and "row" in record:
            top["patterns"] = None if record["row"]["corpus"] == OFF_TOPIC else record["row"].get("gold_patterns")
        return record

    support.rank_sentences = ranked
    embed_module.load_embedder = lambda *a, **k: type("E", (), {"encode": staticmethod(embed)})
    fit_confidence.json.loads = loads
    fit_confidence.main([str(p) for p in records])
    print(f"alpha {alpha}: the top sentence states the gold for {top['gold']} of {top['n']} in-scope questions")


def retrieval(dump: Path, root: Path, pool: int) -> None:
    import fusion_variants

    from desktop_app.core.library.chunk import chunk_blocks
    from desktop_app.core.library.context import document_title, embed_text
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.parse import parse_file
    from desktop_app.core.library.rank import DEFAULT_WEIGHTS, fuse
    from desktop_app.core.library.rerank import DEFAULT_RERANK, rerank
    from desktop_app.core.chat.sentences import sentence_spans
    from desktop_app.core.settings import Settings

    with open(dump, "rb") as handle:
        d = pickle.load(handle)
    settings = Settings()   # the default passage size, as the dumped libraries were built
    embedder = load_embedder(settings.embedder_backend, cache_dir=Path("/tmp/hearth-bench-embedder"))
    context = InContext(embedder)
    row = {int(c): i for i, c in enumerate(d["ids"])}
    file_of = {int(c): p for c, p in zip(d["ids"], d["paths"])}
    rows_of: dict = {}
    for i, p in enumerate(d["paths"]):
        rows_of.setdefault(p, []).append(i)
    chunks: dict = {}
    spans: dict = {}
    agree = []

    def sentences(cid: int) -> np.ndarray:
        if cid not in spans:
            i = row[cid]
            path = d["paths"][i]
            if path not in chunks:
                chunks[path] = list(chunk_blocks(parse_file(root / path), embedder.count_tokens,
                                                 settings.chunk_tokens, settings.chunk_overlap))
            chunk = chunks[path][rows_of[path].index(i)]
            full = embed_text(document_title(path), chunk.section, chunk.text)
            shift = len(full) - len(chunk.text)
            whole = context.span(full, 0, len(full))
            agree.append(float(whole @ d["vecs"][i]))
            found = [context.span(full, a, b) for a, b in
                     [(0, shift)] + [(a + shift, b + shift) for a, b in sentence_spans(chunk.text)]]
            spans[cid] = np.array([v for v in found if v is not None] or [whole], np.float32)
        return spans[cid]

    def ranked(q, beta: float, rerank_too: bool, k: int = 10):
        fused = fuse(q["vec"][:50], q["bm25"][:50], file_of, DEFAULT_WEIGHTS)
        if beta:
            head = sorted(((c, s + beta * float((sentences(int(c)) @ q["qvec"]).max())) for c, s in fused[:pool]),
                          key=lambda x: -x[1])
            fused = head + fused[pool:]
        if not rerank_too:
            return [c for c, _ in fused[:k]]
        vectors = {c: d["vecs"][row[c]] for c, _ in fused[:max(DEFAULT_RERANK.pool, k)]}
        return [c for c, _ in rerank(fused, file_of, k, vectors, DEFAULT_RERANK)]

    d["file"] = file_of
    measure = lambda lists: " / ".join(f"{x:.3f}" for x in fusion_variants.measure(d, lists))  # noqa: E731
    print(f"{dump.name}: hit@1 / hit@5 / MRR@10")
    for beta in (0.0, 0.5, 1.0, 2.0, 3.0):
        for rerank_too in (True, False):
            print(f"  beta {beta:3.1f} {'with' if rerank_too else 'without'} the re-ranking: "
                  f"{measure([ranked(q, beta, rerank_too) for q in d['questions']])}", flush=True)
    if agree:
        print(f"re-made passage vector vs stored: cosine min {min(agree):.3f}, median {np.median(agree):.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("answers")
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("records", type=Path, nargs="+")
    p = sub.add_parser("retrieval")
    p.add_argument("--dump", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--pool", type=int, default=60)
    args = parser.parse_args(argv)
    if args.command == "answers":
        answers(args.alpha, args.records)
    else:
        retrieval(args.dump, args.root, args.pool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
