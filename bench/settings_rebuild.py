"""Search while a change of the passage size is re-indexed alongside.

In the same run, on a real corpus (default: a sample of Debian's git-doc):
index it at the default passage size, then measure hybrid search latency
with nothing running (baseline), then change the passage size and run the
re-index (``core/library/reindex.py``) while another thread searches
continuously. Prints the rebuild time as a ratio of the first index, the
search p50/p95 during the rebuild as ratios of the idle baseline, and how
many searches failed or came back empty during it (the point: none).

    .venv/bin/python bench/settings_rebuild.py [--max-kb 400] [--to 96]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from desktop_app.core.jobs import CancelToken  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

from ingest_throughput import DEFAULT_CORPUS, pick_files  # noqa: E402

QUERIES = ("how do I undo the last commit", "rebase onto another branch", "configure the user name",
           "show the history of a file", "resolve a merge conflict", "create a tag for a release")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.library.reindex import reindex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--max-kb", type=int, default=400)
    parser.add_argument("--to", type=int, default=96, help="the new passage size in tokens")
    args = parser.parse_args()
    files = pick_files(args.corpus, args.max_kb * 1024)
    work = Path(tempfile.mkdtemp(prefix="hearth-settings-rebuild-"))
    try:
        docs = work / "docs"
        for i, f in enumerate(files):
            target = docs / f"{i:04d}-{f.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
        embedder = load_embedder(Settings().embedder_backend)
        lib = Library(work / "library", embedder_factory=lambda: embedder, settings=Settings())
        t0 = time.monotonic()
        lib.add([docs], token=CancelToken())
        first = time.monotonic() - t0
        before = lib.store.totals()
        idle = []
        for _ in range(5):
            for q in QUERIES:
                t = time.perf_counter()
                lib.search(q, k=5)
                idle.append(time.perf_counter() - t)
        during, empty, failed = [], 0, []
        done = threading.Event()

        def searcher() -> None:
            nonlocal empty
            i = 0
            while not done.is_set():
                t = time.perf_counter()
                try:
                    hits = lib.search(QUERIES[i % len(QUERIES)], k=5)
                except Exception as exc:  # noqa: BLE001 - counted, that is the measurement
                    failed.append(repr(exc))
                    continue
                during.append(time.perf_counter() - t)
                empty += not hits
                i += 1
                time.sleep(0.05)

        thread = threading.Thread(target=searcher)
        lib.settings.chunk_tokens = args.to
        thread.start()
        t0 = time.monotonic()
        try:
            result = reindex(lib, token=CancelToken())
        finally:
            done.set()
            thread.join()
        rebuild = time.monotonic() - t0
        after = lib.store.totals()
        lib.close()
        print(f"corpus: {len(files)} files, {before['chunks']} passages at 200 tokens -> "
              f"{after['chunks']} at {args.to} ({result.rechunked_files} files re-indexed)")
        print(f"first index {first:.1f}s; rebuild alongside {rebuild:.1f}s "
              f"(ratio {rebuild / first:.2f}, passages ratio {after['chunks'] / before['chunks']:.2f})")
        p50i, p95i = statistics.median(idle), percentile(idle, 0.95)
        p50d, p95d = statistics.median(during), percentile(during, 0.95)
        print(f"hybrid search idle: p50 {p50i * 1000:.1f} ms, p95 {p95i * 1000:.1f} ms ({len(idle)} searches)")
        print(f"during the rebuild: p50 {p50d * 1000:.1f} ms, p95 {p95d * 1000:.1f} ms ({len(during)} searches; "
              f"ratio p50 {p50d / p50i:.1f}x, p95 {p95d / p95i:.1f}x)")
        print(f"searches that failed during the rebuild: {len(failed)}; that came back empty: {empty}")
        for message in failed[:5]:
            print("  ", message)
        return 1 if failed or empty else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
