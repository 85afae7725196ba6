"""The onnx-int8 embedder's runtime vs sentence-transformers' ONNX backend.

Same exported int8 model, same chunks, same batches; in the same run:

1. cold start, each in a fresh process (median of ``--starts``): import +
   load + encode one text, with
   - baseline: ``SentenceTransformer(folder, backend="onnx")`` (what the
     onnx-int8 backend used before: imports torch, transformers, optimum);
   - runtime: ``load_embedder("onnx-int8")`` (onnxruntime + tokenizers);
2. throughput: chunks/s of ``encode(chunks, batch_size=32)`` for both on the
   real chunks of a documentation corpus (default: Python's HTML/text docs),
   rounds alternating so load on a shared machine hits both;
3. agreement: the lowest cosine between the two's vectors.

and prints the ratios (runtime/baseline). Needs sentence-transformers (dev).

    .venv/bin/python bench/embed_runtime.py                 # ~500 chunks, 3 rounds
    .venv/bin/python bench/embed_runtime.py --max-kb 150 --rounds 1 --starts 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from desktop_app.core.settings import Settings  # noqa: E402
from ingest_throughput import pick_files  # noqa: E402

DEFAULT_CORPUS = Path("/usr/share/doc/python3.11")

_COLD_BASELINE = r"""
import sys, time
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu", backend="onnx", local_files_only=True,
                            model_kwargs={"file_name": sys.argv[2], "provider": "CPUExecutionProvider"})
model.encode(["warm"], normalize_embeddings=True)
print(time.perf_counter() - t0, len(sys.modules))
"""

_COLD_RUNTIME = r"""
import sys, time
t0 = time.perf_counter()
from desktop_app.core.library.embed import load_embedder
embedder = load_embedder("onnx-int8", cache_dir=sys.argv[3])
embedder.encode(["warm"])
print(time.perf_counter() - t0, len(sys.modules))
"""


def cold_start(code: str, args: list[str]) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    seconds, modules = done.stdout.split()[-2:]
    return float(seconds), int(modules)


def chunk_texts(corpus: Path, max_kb: int, embedder) -> list[str]:
    from desktop_app.core.library.chunk import chunk_blocks
    from desktop_app.core.library.documents import ParseError
    from desktop_app.core.library.parse import parse_file

    settings = Settings()
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens - 2)
    texts: list[str] = []
    for path in pick_files(corpus, max_kb * 1024):
        try:
            texts += [c.text for c in chunk_blocks(parse_file(path), embedder.count_tokens, max_tokens,
                                                   settings.chunk_overlap)]
        except ParseError:
            pass
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--max-kb", type=int, default=250, help="corpus bytes to chunk (default 250 KB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=3, help="cold starts of each (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    args = parser.parse_args()

    import numpy as np

    from desktop_app.core.library.embed import load_embedder

    embedder = load_embedder("onnx-int8", cache_dir=args.cache_dir)  # exports once if needed
    folder = embedder.source_dir
    onnx_file = str(embedder.model.onnx_path.relative_to(folder))

    base_cold = [cold_start(_COLD_BASELINE, [str(folder), onnx_file, str(args.cache_dir)])
                 for _ in range(args.starts)]
    run_cold = [cold_start(_COLD_RUNTIME, [str(folder), onnx_file, str(args.cache_dir)])
                for _ in range(args.starts)]
    base_s, run_s = statistics.median(s for s, _ in base_cold), statistics.median(s for s, _ in run_cold)
    print(f"cold start (import + load + first encode), median of {args.starts}:")
    print(f"  sentence-transformers ONNX backend: {base_s:.2f}s, {base_cold[0][1]} modules")
    print(f"  onnx runtime (load_embedder):       {run_s:.2f}s, {run_cold[0][1]} modules")
    print(f"  ratio runtime/baseline: {run_s / base_s:.3f}")

    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(folder), device="cpu", backend="onnx", local_files_only=True,
                                    model_kwargs={"file_name": onnx_file, "provider": "CPUExecutionProvider"})
    texts = chunk_texts(args.corpus, args.max_kb, embedder)
    print(f"\n{len(texts)} chunks from {args.corpus} ({args.max_kb} KB); intra-op threads: "
          f"{embedder.model.threads}")
    embedder.encode(texts[:64])
    reference.encode(texts[:64])

    base_rates, run_rates = [], []
    for round_no in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        expected = reference.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                                    show_progress_bar=False)
        base_rates.append(len(texts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        got = embedder.encode(texts, batch_size=32)
        run_rates.append(len(texts) / (time.perf_counter() - t0))
        print(f"round {round_no}: sentence-transformers {base_rates[-1]:.1f} chunks/s | "
              f"runtime {run_rates[-1]:.1f} chunks/s | ratio {run_rates[-1] / base_rates[-1]:.3f}")
    cosines = (got * expected).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    base_rate, run_rate = statistics.median(base_rates), statistics.median(run_rates)
    print(f"\nthroughput: runtime {run_rate:.1f} vs sentence-transformers {base_rate:.1f} chunks/s, "
          f"ratio {run_rate / base_rate:.3f}")
    print(f"agreement: lowest cosine {cosines.min():.6f} over {len(texts)} chunks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
