"""Re-running ``library add`` on an unchanged corpus vs the first run.

In the same run: the first ``Library.add`` of a real corpus (default:
Debian's git-doc), then ``add`` again with nothing changed (size + mtime
match: no hashing, no parsing), then ``add`` after touching every file's
mtime (content hashed, found unchanged, nothing re-embedded).
Target (issue 2): the unchanged re-run takes < 5% of the first run.

    .venv/bin/python bench/reindex.py
"""

from __future__ import annotations

import argparse
import os
import shutil
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

from ingest_throughput import DEFAULT_CORPUS, pick_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--max-kb", type=int, default=400)
    parser.add_argument("--backend", choices=("torch", "onnx-int8"), default=Settings().embedder_backend)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hearth-bench-embedder")
    args = parser.parse_args()

    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library

    embedder = load_embedder(args.backend, cache_dir=args.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-reindex-"))
    try:
        folder = work / "corpus"
        folder.mkdir()
        for i, path in enumerate(pick_files(args.corpus, args.max_kb * 1024)):
            shutil.copyfile(path, folder / f"{i:04d}-{path.name}")
        files = sorted(folder.iterdir())
        lib = Library(work / "library", embedder_factory=lambda: embedder, settings=Settings())

        def timed_add():
            t0 = time.perf_counter()
            report = lib.add([folder], token=CancelToken())
            return time.perf_counter() - t0, report

        first, r1 = timed_add()
        print(f"first add:      {first:8.2f}s  ({r1.summary()})")
        again, r2 = timed_add()
        print(f"unchanged add:  {again:8.3f}s  ({r2.summary()})")
        for path in files:
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        touched, r3 = timed_add()
        print(f"touched add:    {touched:8.3f}s  ({r3.summary()})  [mtime changed, content hashed]")
        lib.close()
        assert r2.chunks == 0 and r3.chunks == 0, "an unchanged corpus must not be re-embedded"
        ratio = again / first
        print(f"\nratio unchanged/first: {ratio:.4f} ({100 * ratio:.2f}%)  "
              f"(target < 5%: {'PASS' if ratio < 0.05 else 'FAIL'})")
        print(f"ratio touched/first:   {touched / first:.4f} ({100 * touched / first:.2f}%)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
