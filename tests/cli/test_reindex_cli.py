"""A change of the passage size from a terminal, for real: `hearth settings
set` says what it costs, `hearth library reindex` builds the new library
alongside while another process searches the old one, a `kill -9` in the
middle leaves the old library searchable, and the next run completes it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from tests.cli.test_data_dir_faults import ENV, PROJECT, copy_modules, hearth, ok_json, seeded_data_dir, write_facts
from library_corpus import SMALL_MODULES

QUESTION = "southernmost active volcano in Antarctica"
# Enough text that the rebuild outlasts a search from another process.
MODULES = SMALL_MODULES + ("calendar", "heapq", "csv", "textwrap", "shlex", "string")


def _side_passages(data) -> int:
    db_path = data / "library.next" / "library.sqlite3"
    if not db_path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_kill_9_during_a_cli_reindex_leaves_the_old_library_and_the_next_run_completes(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    copy_modules(docs / "code", MODULES)
    files = sum(1 for p in docs.rglob("*") if p.is_file())
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))
    before = ok_json(hearth(data, "library", "status", "--json"))["totals"]

    changed = hearth(data, "settings", "set", "chunk_tokens", "48")
    assert changed.returncode == 0, changed.stderr.decode()[-2000:]
    assert f"re-indexes {files} files in the background" in changed.stderr.decode()
    assert ok_json(hearth(data, "library", "reindex", "--check", "--json"))["rechunk"]

    child = subprocess.Popen([sys.executable, "-m", "desktop_app", "--data-dir", str(data), "library", "reindex"],
                             cwd=PROJECT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while _side_passages(data) == 0 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        # Another process searches while the new library is being built.
        hits = ok_json(hearth(data, "library", "search", QUESTION, "-k", "1", "--json"))
        assert child.poll() is None, "the rebuild ended before the search: make the corpus larger"
        assert hits[0]["path"].endswith("volcanoes.md")
        built = _side_passages(data)
        assert built > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    # The old library is whole and searchable; the half-built one waits.
    status = ok_json(hearth(data, "library", "status", "--json"))
    assert status["totals"]["chunks"] == before["chunks"] and status["totals"]["files"] == before["files"]
    assert status["reindex"]["needed"] and status["reindex"]["resuming"]
    assert status["reindex"]["have"]["chunk_tokens"] == 200
    hits = ok_json(hearth(data, "library", "search", QUESTION, "-k", "1", "--json"))
    assert hits[0]["path"].endswith("volcanoes.md")
    assert (data / "library.next").is_dir()

    done = ok_json(hearth(data, "library", "reindex", "--json", timeout=900))
    assert done["plan"]["resuming"] and done["rechunked_files"] == files
    status = ok_json(hearth(data, "library", "status", "--json"))
    assert not status["reindex"]["needed"] and status["reindex"]["have"]["chunk_tokens"] == 48
    assert status["totals"]["files"] == files and status["totals"]["chunks"] > before["chunks"]
    assert status["totals"]["indexed_vectors"] == status["totals"]["chunks"]
    assert not (data / "library.next").exists()
    hits = ok_json(hearth(data, "library", "search", QUESTION, "-k", "1", "--json"))
    assert hits[0]["path"].endswith("volcanoes.md")
    assert embedder.count_tokens(hits[0]["text"]) <= 48


def test_settings_set_refuses_a_value_out_of_range_in_one_sentence(tmp_path):
    data = tmp_path / "data"
    proc = hearth(data, "settings", "set", "chunk_tokens", "5000")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert "chunk_tokens must be between 32 and 512" in err
    assert ok_json(hearth(data, "settings", "show", "--json"))["chunk_tokens"] == 200
