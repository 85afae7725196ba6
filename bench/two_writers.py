"""Two writers on one library: random concurrent add/remove/kill -9.

Each round starts two real ``python -m desktop_app --data-dir D library
add|remove ...`` processes at once on the same data dir, on random folders
of a small corpus (Python's own standard library modules); in about half
the rounds one of them is killed with SIGKILL at a random moment. After
the rounds (and after each one with --check-each) the library is checked
from outside:

- passages in SQLite; duplicate passages (same file, same number; same
  file path twice);
- whether the saved ``vectors.hnsw`` was trusted on open (its stamp
  matched SQLite) or repaired;
- passages findable by vector search: every passage's own vector, searched
  with k=10, must return that passage; and no search returns a passage
  SQLite no longer has.

The invariant: findable == in SQLite, no duplicates, no deleted passage live.

    .venv/bin/python bench/two_writers.py --rounds 20

To measure a version before the fix, copy this file into a checkout of it
(``git archive <commit> | tar -x -C /tmp/before``) and run it there; the
stamp column is then null.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

STDLIB = Path(sysconfig.get_paths()["stdlib"])
FOLDER_MODULES = (
    ("bisect", "colorsys", "keyword", "fnmatch", "this"),
    ("stat", "linecache", "reprlib", "token", "tty"),
    ("abc", "sched", "getopt", "copy", "glob"),
)


def make_corpus(root: Path) -> list[Path]:
    folders = []
    for i, names in enumerate(FOLDER_MODULES):
        folder = root / f"folder{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(STDLIB / f"{name}.py", folder / f"{name}.py")
        folders.append(folder)
    return folders


def cli(data_dir: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "desktop_app", "--data-dir", str(data_dir), "library", *argv]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(PROJECT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def run_rounds(data_dir: Path, folders: list[Path], rounds: int, seed: int = 0,
               kill_rate: float = 0.5, say=print, check_each: bool = False) -> dict:
    """Run the random rounds; returns counts of what happened."""
    rng = random.Random(seed)
    stats = {"rounds": 0, "processes": 0, "killed": 0, "waited": 0, "failed": 0, "errors": []}
    for r in range(rounds):
        actions = []
        for _ in range(2):
            if rng.random() < 0.6:
                picked = rng.sample(folders, rng.randint(1, 2))
                actions.append(["add", *map(str, picked)])
            else:
                actions.append(["remove", str(rng.choice(folders))])
        children = [subprocess.Popen(cli(data_dir, *a), cwd=PROJECT, env=_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE) for a in actions]
        stats["processes"] += 2
        victim = rng.randrange(2) if rng.random() < kill_rate else None
        if victim is not None:
            time.sleep(rng.uniform(0.3, 5.0))
            if children[victim].poll() is None:
                os.kill(children[victim].pid, signal.SIGKILL)
                stats["killed"] += 1
        for i, child in enumerate(children):
            try:
                _, err = child.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                child.kill()
                _, err = child.communicate()
            text = err.decode("utf-8", "replace")
            if "being changed by another Hearth process" in text:
                stats["waited"] += 1
            # rc 2 is a user error (e.g. "nothing in the library under ..."):
            # expected for a remove of a folder that is not there.
            if child.returncode not in (0, 2, -signal.SIGKILL):
                stats["failed"] += 1
                stats["errors"].append(f"round {r} {' '.join(actions[i][:1])}: rc {child.returncode}: {text[-800:]}")
            if "Traceback" in text:
                stats["errors"].append(f"round {r}: traceback: {text[-800:]}")
        stats["rounds"] += 1
        say(f"round {r + 1}/{rounds}: {' | '.join(a[0] + ' ' + ','.join(Path(p).name for p in a[1:]) for a in actions)}"
            f"{' (killed #%d)' % victim if victim is not None else ''}")
        if check_each:
            try:
                result = check_library(data_dir)
            except sqlite3.DatabaseError as exc:
                stats["errors"].append(f"round {r}: the database cannot be read: {exc}")
                say(f"  DATABASE ERROR: {exc}")
                break
            say("  " + json.dumps({k: v for k, v in result.items() if k != "leaked_ids"}))
    return stats


def check_library(data_dir: Path) -> dict:
    """Compare what vector search finds with what SQLite holds."""
    import numpy as np

    from desktop_app.core.library.store import Store
    from desktop_app.core.library.vector_index import INDEX_NAME
    try:
        from desktop_app.core.library.index_cache import label_digest, read_stamp
    except ImportError:     # a version before index stamps (to measure "before")
        label_digest = read_stamp = None

    library_dir = data_dir / "library"
    db_path = library_dir / "library.sqlite3"
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT id, vector FROM chunks").fetchall()
        dup_seq = db.execute("SELECT count(*) FROM (SELECT 1 FROM chunks GROUP BY file_id, seq "
                             "HAVING count(*) > 1)").fetchone()[0]
        dup_text = db.execute("SELECT count(*) FROM (SELECT 1 FROM chunks GROUP BY file_id, text, start "
                              "HAVING count(*) > 1)").fetchone()[0]
        library_id = (db.execute("SELECT value FROM meta WHERE key = 'library_id'").fetchone() or [None])[0]
    finally:
        db.close()
    db_ids = {r[0] for r in rows}
    trusted = None
    if read_stamp is not None:
        stamp = read_stamp(library_dir / INDEX_NAME)
        trusted = bool(stamp and library_id and stamp.library_id == library_id
                       and stamp.digest == label_digest(library_id, db_ids))
    store = Store(library_dir)
    try:
        found = 0
        leaked: set[int] = set()
        for chunk_id, blob in rows:
            hits = store.vector_search(np.frombuffer(blob, dtype=np.float32), 10)
            ids = {h for h, _ in hits}
            found += chunk_id in ids
            leaked |= ids - db_ids
        indexed = store.totals()["indexed_vectors"]
        bm25 = None
        if hasattr(store, "search_index"):   # a version with the derived BM25 index
            store.search_index.wait()
            store.bm25_search("import", 5)   # answers whatever state the index was left in
            caught_up = store.catch_up_search_index()
            bm25 = caught_up and store.search_index.indexed_ids() == db_ids
    finally:
        if hasattr(store, "search_index"):
            store.search_index.close()
        store._db.close()   # read-only check: do not save anything
        store._db = None
        if hasattr(store, "writer"):
            store.writer.close()
    return {"passages_in_sqlite": len(db_ids), "findable_by_vector_search": found, "indexed_vectors": indexed,
            "deleted_but_returned": len(leaked), "duplicate_passages": dup_seq + dup_text,
            "saved_index_matched_sqlite": trusted,
            "bm25_index_caught_up_to_sqlite": bm25, "leaked_ids": sorted(leaked)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check-each", action="store_true", help="check the library after every round")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hearth-two-writers-"))
    try:
        folders = make_corpus(work / "corpus")
        data = work / "data"
        # Warm-up (the data dir's first run prepares the embedder), then the
        # baseline: one uncontended add of everything, timed.
        for argv in (("add", str(folders[0])), ("remove", str(folders[0]))):
            subprocess.run(cli(data, *argv), cwd=PROJECT, env=_env(), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        subprocess.run(cli(data, "add", *map(str, folders)), cwd=PROJECT, env=_env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        baseline = time.monotonic() - t0
        base = check_library(data)
        print(f"baseline: one add of {len(folders)} folders, {base['passages_in_sqlite']} passages, "
              f"{baseline:.1f}s")
        t1 = time.monotonic()
        stats = run_rounds(data, folders, args.rounds, seed=args.seed, check_each=args.check_each)
        elapsed = time.monotonic() - t1
        result = check_library(data)
        print(json.dumps({**stats, **{k: v for k, v in result.items() if k != "leaked_ids"}}, indent=1))
        print(f"{args.rounds} rounds in {elapsed:.1f}s ({elapsed / max(1, args.rounds) / baseline:.2f}x "
              "the baseline add per round)")
        ok = (result["findable_by_vector_search"] == result["passages_in_sqlite"] == result["indexed_vectors"]
              and result["deleted_but_returned"] == 0 and result["duplicate_passages"] == 0
              and not stats["errors"])
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
