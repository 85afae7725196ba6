"""Indexing throughput: the whole pipeline vs the raw model on the same chunks.

Picks files of a real documentation corpus (default: Debian's git-doc HTML
and text), then in the same run:

1. parses and chunks them once (timed, for information) to get the exact
   chunk texts the library will embed;
2. baseline: ``embedder.model.encode(all_chunk_texts, batch_size=32)``,
   the raw encoder (onnxruntime for onnx-int8, SentenceTransformer for
   torch) on those chunks (globally length-sorted: its best case);
3. pipeline: ``Library.add(folder)`` into a fresh library: walk, hash,
   parse, chunk, embed, store (SQLite + FTS5 + HNSW), commit.

and prints chunks/s for both and the ratio. Target (issue 2): >= 0.85.
Rounds alternate baseline and pipeline so load on a shared machine hits both.

The pipeline embeds each passage with its context ("title > headings:
text", ``context.embed_text``), the raw baseline the bare passage text. So
the cost of that context is measured on its own too (issue 12: throughput
may drop by at most 10% for it): ``model.encode`` of the texts with context
against the bare texts, batch by batch (32 chunks, the pipeline's batch
size), the two versions of each batch timed back to back in alternating
order, so the load of a shared machine falls on both alike; the ratio of
the summed times is printed, and the ratio of tokens (which does not
depend on the load).

    .venv/bin/python bench/ingest_throughput.py                 # onnx-int8, ~600 chunks
    .venv/bin/python bench/ingest_throughput.py --backend torch --max-kb 300 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.jobs import CancelToken  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

DEFAULT_CORPUS = Path("/usr/share/doc/git-doc")


def pick_files(corpus: Path, max_bytes: int, seed: int = 0) -> list[Path]:
    """Supported, non-hidden files of the corpus, a fixed pseudo-random
    sample of them (so it spreads over the folder), up to ``max_bytes``;
    files larger than an eighth of the budget are left out so the sample
    has many files (file boundaries are part of what is measured)."""
    import random

    from desktop_app.core.library.parse import is_supported

    every = sorted(p for p in corpus.rglob("*") if p.is_file() and is_supported(p)
                   and not any(part.startswith(".") for part in p.relative_to(corpus).parts))
    if not every:
        raise SystemExit(f"no supported files under {corpus}")
    random.Random(seed).shuffle(every)
    picked, size = [], 0
    for path in every:
        length = path.stat().st_size
        if length > max_bytes / 8 or length == 0:
            continue
        if size + length > max_bytes:
            break
        picked.append(path)
        size += length
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--max-kb", type=int, default=400, help="corpus bytes to use (default 400 KB)")
    parser.add_argument("--backend", choices=("torch", "onnx-int8"), default=Settings().embedder_backend)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    args = parser.parse_args()

    from desktop_app.core.library.chunk import chunk_blocks
    from desktop_app.core.library.context import document_title, embed_text
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.library.parse import parse_file
    from desktop_app.core.library.documents import ParseError

    settings = Settings()
    embedder = load_embedder(args.backend, cache_dir=args.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-ingest-"))
    try:
        folder = work / "corpus"
        folder.mkdir()
        files = pick_files(args.corpus, args.max_kb * 1024)
        for i, path in enumerate(files):
            shutil.copyfile(path, folder / f"{i:04d}-{path.name}")
        copied = sorted(folder.iterdir())

        t0 = time.perf_counter()
        texts: list[str] = []
        contexted: list[str] = []   # what the pipeline embeds for the same chunks
        max_tokens = min(settings.chunk_tokens, embedder.max_tokens - 2)
        for path in copied:
            try:
                chunks = list(chunk_blocks(parse_file(path), embedder.count_tokens, max_tokens,
                                           settings.chunk_overlap))
            except ParseError:
                continue
            title = document_title(str(path))
            texts += [c.text for c in chunks]
            contexted += [embed_text(title, c.section, c.text) for c in chunks]
        parse_seconds = time.perf_counter() - t0
        print(f"corpus: {len(copied)} files, {sum(p.stat().st_size for p in copied) / 1024:.0f} KB "
              f"from {args.corpus}; {len(texts)} chunks; backend {embedder.backend}")
        print(f"parse+chunk alone (one thread): {parse_seconds:.2f}s = {len(texts) / parse_seconds:.0f} chunks/s")
        embedder.encode(texts[:64])  # warm up both paths equally

        raw_rates, pipe_rates, context_rates = [], [], []
        for round_no in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            vectors = embedder.model.encode(texts, batch_size=32)
            raw = time.perf_counter() - t0
            assert len(vectors) == len(texts)
            raw_rates.append(len(texts) / raw)

            bare_s = context_s = 0.0
            for i, start in enumerate(range(0, len(texts), 32)):
                pair = [(texts, "bare"), (contexted, "context")]
                for batch, kind in (pair if (i + round_no) % 2 else pair[::-1]):
                    t0 = time.perf_counter()
                    embedder.model.encode(batch[start:start + 32], batch_size=32)
                    took = time.perf_counter() - t0
                    if kind == "bare":
                        bare_s += took
                    else:
                        context_s += took
            context_rates.append(bare_s / context_s)
            print(f"round {round_no}: raw encode batch by batch, bare text {len(texts) / bare_s:.1f} chunks/s, "
                  f"with context {len(texts) / context_s:.1f} chunks/s: ratio {context_rates[-1]:.3f}")

            lib_dir = work / f"library-{round_no}"
            lib = Library(lib_dir, embedder_factory=lambda: embedder, settings=settings)
            t0 = time.perf_counter()
            report = lib.add([folder], token=CancelToken())
            pipe = time.perf_counter() - t0
            lib.close()
            if report.chunks != len(texts):
                print(f"warning: pipeline embedded {report.chunks} chunks, parse+chunk gave {len(texts)}")
            pipe_rates.append(report.chunks / pipe)
            print(f"round {round_no}: raw encode {raw:.1f}s = {raw_rates[-1]:.1f} chunks/s | "
                  f"pipeline add {pipe:.1f}s = {pipe_rates[-1]:.1f} chunks/s | "
                  f"ratio {pipe_rates[-1] / raw_rates[-1]:.3f}")
            shutil.rmtree(lib_dir, ignore_errors=True)

        raw_rate, pipe_rate = statistics.median(raw_rates), statistics.median(pipe_rates)
        ratio = pipe_rate / raw_rate
        print(f"\nraw encoder (model.encode):     {raw_rate:.1f} chunks/s")
        print(f"whole pipeline (Library.add):   {pipe_rate:.1f} chunks/s")
        print(f"ratio pipeline/raw: {ratio:.3f}  (target >= 0.85: {'PASS' if ratio >= 0.85 else 'FAIL'})")
        context_ratio = statistics.median(context_rates)
        extra = sum(embedder.count_tokens(t) for t in contexted) / max(1, sum(embedder.count_tokens(t) for t in texts))
        print(f"context (\"title > headings: text\") vs bare text, raw encoder: x{context_ratio:.3f} chunks/s, "
              f"tokens x{extra:.3f} (issue 12 budget: >= 0.90: {'PASS' if context_ratio >= 0.90 else 'FAIL'})")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
