"""A parser change reaching an existing library: the upgrade a refresh does
vs indexing the corpus again from scratch.

In the same run, on a real corpus (default: the PostgreSQL manual, DocBook
XSL pages whose navigation tables the HTML parser drops since its version
2): a library is built with the HTML parser as it was before (version 1,
navigation kept), then ``refresh`` upgrades it (the pages parsed again,
vectors of unchanged passage text reused); then a fresh library is built
with the current parser, as a user rebuilding by hand would. Prints both
times, their ratio, and whether the upgraded library holds exactly the
passages of the fresh one.

    nice .venv/bin/python bench/parser_upgrade.py [--corpus DIR] [--limit N]
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

DEFAULT_CORPUS = Path("/usr/share/doc/postgresql-doc-15/html")
NAV = ("div.navheader", "div.navfooter")


def passages(lib) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with lib.store.transaction() as db:
        for path, text in db.execute("SELECT f.path, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
                                     "ORDER BY f.path, c.seq"):
            out.setdefault(path, []).append(text)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="the first N files only (0: all)")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus {args.corpus} not found", file=sys.stderr)
        return 2

    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.library.parse import html

    embedder = load_embedder(Settings().embedder_backend)
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-parser-upgrade-"))
    try:
        folder = work / "corpus"
        folder.mkdir()
        files = sorted(p for p in args.corpus.iterdir() if p.is_file())
        for path in files[:args.limit or None]:
            shutil.copyfile(path, folder / path.name)

        current = (html._HTML_DROP, html.PARSER_VERSION)
        html._HTML_DROP = ", ".join(s.strip() for s in current[0].split(",") if s.strip() not in NAV)
        html.PARSER_VERSION = 1
        old = Library(work / "old", embedder_factory=lambda: embedder, settings=Settings())
        t0 = time.perf_counter()
        built = old.add([folder], token=CancelToken())
        t_old = time.perf_counter() - t0
        html._HTML_DROP, html.PARSER_VERSION = current
        print(f"build, parser v1:        {t_old:8.1f}s  ({built.summary()})")

        t0 = time.perf_counter()
        upgraded = old.refresh(token=CancelToken())
        t_upgrade = time.perf_counter() - t0
        print(f"refresh, upgrade to v{html.PARSER_VERSION}:  {t_upgrade:8.1f}s  ({upgraded.summary()})")

        fresh = Library(work / "fresh", embedder_factory=lambda: embedder, settings=Settings())
        t0 = time.perf_counter()
        rebuilt = fresh.add([folder], token=CancelToken())
        t_fresh = time.perf_counter() - t0
        print(f"fresh build, parser v{html.PARSER_VERSION}:  {t_fresh:8.1f}s  ({rebuilt.summary()})")

        a, b = passages(old), passages(fresh)
        differ = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
        print(f"upgrade / fresh build: {t_upgrade / t_fresh:.3f}; passages embedded by the upgrade: "
              f"{upgraded.chunks - upgraded.reused} of {upgraded.chunks} ({upgraded.reused} vectors reused)")
        print(f"upgraded library == fresh library (passage texts, every file): "
              f"{'yes' if not differ else f'no, {len(differ)} files differ, e.g. {differ[:3]}'}")
        old.close()
        fresh.close()
        return 0 if not differ else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
