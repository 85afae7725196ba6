"""`python -m desktop_app library ...`: JSON shapes, and a real kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app.cli import main as cli_main
from desktop_app.core.library.library import Library
from desktop_app.core.library.parse import text as text_parser
from desktop_app.core.settings import Settings
from library_corpus import SMALL_MODULES, copy_modules, expected_chunks

PROJECT = Path(__file__).resolve().parents[3]


def seeded_data_dir(root: Path, embedder) -> Path:
    """A data dir whose embedder cache already holds the session's ONNX
    export, so the CLI does not export the model again."""
    data = root / "data"
    if embedder.backend == "onnx-int8":
        shutil.copytree(embedder.source_dir, data / "embedder" / embedder.source_dir.name)
    return data


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_add_status_search_remove_json(tmp_path, capsys, embedder, facts_dir):
    data = seeded_data_dir(tmp_path, embedder)
    d = ["--data-dir", str(data), "library"]

    code, out, _ = run_cli(capsys, *d, "add", str(facts_dir), "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["added"], report["failed"], report["cancelled"]) == (3, [], False)
    assert report["chunks"] > 0

    code, out, _ = run_cli(capsys, *d, "status", "--json")
    status = json.loads(out)
    assert status["totals"]["files"] == 3 and status["totals"]["chunks"] == report["chunks"]
    [folder] = status["folders"]
    assert folder["path"] == str(facts_dir.resolve())
    assert {"files", "chunks", "failures", "last_update"} <= set(folder)

    code, out, _ = run_cli(capsys, *d, "search", "Titan's nitrogen atmosphere", "-k", "2", "--json")
    hits = json.loads(out)
    assert code == 0 and isinstance(hits, list) and 1 <= len(hits) <= 2
    assert {"path", "page", "section", "score", "text"} <= set(hits[0])
    assert hits[0]["path"].endswith("saturn.md") and hits[0]["section"] == "Saturn"
    assert out.count("\n") == 1  # exactly one JSON document

    queries = tmp_path / "queries.txt"
    queries.write_text("sourdough starter\n\nXR-7731\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, *d, "search", "--queries", str(queries), "-k", "1", "--mode", "bm25")
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3 and lines[1] == []
    assert lines[0][0]["path"].endswith("sourdough.txt") and lines[2][0]["path"].endswith("saturn.md")

    code, out, _ = run_cli(capsys, *d, "remove", str(facts_dir / "kitchen"), "--json")
    assert json.loads(out)["removed_files"] == 1
    code, out, err = run_cli(capsys, *d, "remove", str(tmp_path / "elsewhere"))
    assert code == 2 and "nothing in the library" in err and out == ""

    code, out, err = run_cli(capsys, *d, "add", str(tmp_path / "missing"), "--json")
    assert code == 2 and "not found" in err and out == ""

    # The folder's drive is unplugged: status says so, add refuses clearly, the index stays.
    away = facts_dir.rename(tmp_path / "docs-unplugged")
    try:
        code, out, _ = run_cli(capsys, *d, "status")
        assert code == 0 and "2 files" in out and "unavailable: the folder is not there" in out
        code, out, err = run_cli(capsys, *d, "add", str(facts_dir))
        assert code == 2 and f"unavailable: {facts_dir.resolve()}" in err and "unplugged" in err
        code, out, _ = run_cli(capsys, *d, "status", "--json")
        [folder] = json.loads(out)["folders"]
        assert (folder["available"], folder["files"]) == (False, 2)
    finally:
        away.rename(facts_dir)
    code, out, _ = run_cli(capsys, *d, "status", "--json")
    assert json.loads(out)["folders"][0]["available"] is True


def test_cli_status_says_how_many_files_a_newer_parser_will_read_again(tmp_path, capsys, embedder, facts_dir,
                                                                       monkeypatch):
    data = seeded_data_dir(tmp_path, embedder)
    d = ["--data-dir", str(data), "library"]
    (facts_dir / "blank.txt").write_text("\n   \n", encoding="utf-8")   # the text parser fails on it
    with monkeypatch.context() as m:   # read (and failed) by the text parser's previous version
        m.setattr(text_parser, "PARSER_VERSION", text_parser.PARSER_VERSION - 1)
        code, out, _ = run_cli(capsys, *d, "add", str(facts_dir), "--json")
    assert code == 0 and json.loads(out)["added"] == 3 and len(json.loads(out)["failed"]) == 1

    code, out, _ = run_cli(capsys, *d, "status", "--json")
    assert json.loads(out)["totals"]["reparse"] == 4
    code, out, _ = run_cli(capsys, *d, "status")
    assert code == 0 and "4 files will be re-read by a newer parser on the next sync" in out

    code, out, _ = run_cli(capsys, *d, "add", str(facts_dir), "--json")
    report = json.loads(out)
    assert code == 0 and report["reparsed"] == 3 and len(report["failed"]) == 1   # and fails again
    code, out, _ = run_cli(capsys, *d, "status", "--json")
    assert json.loads(out)["totals"]["reparse"] == 0
    code, out, _ = run_cli(capsys, *d, "status")
    assert code == 0 and "4 files" in out and "newer parser" not in out


@pytest.mark.timeout(300)
def test_kill_9_mid_ingest_leaves_a_working_library_that_resumes(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    files = copy_modules(corpus, SMALL_MODULES)
    data = seeded_data_dir(tmp_path, embedder)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(PROJECT))
    child = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--data-dir", str(data), "library", "add", str(corpus)],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db_path = data / "library" / "library.sqlite3"
    deadline = time.monotonic() + 240
    killed_mid_way = False
    try:
        while time.monotonic() < deadline and child.poll() is None:
            done = 0
            if db_path.exists():
                try:
                    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
                        done = db.execute("SELECT count(*) FROM files WHERE status = 'ok'").fetchone()[0]
                except sqlite3.OperationalError:  # schema not created yet
                    pass
            if done >= 2:
                os.kill(child.pid, signal.SIGKILL)
                killed_mid_way = True
                break
            time.sleep(0.05)
    finally:
        if child.poll() is None and not killed_mid_way:
            child.kill()
        _, err = child.communicate(timeout=30)
    assert killed_mid_way, f"the ingest ended before it could be killed: {err.decode()[-2000:]}"
    assert child.returncode == -signal.SIGKILL

    settings = Settings()
    lib = Library(data / "library", embedder_factory=lambda: embedder, settings=settings)
    try:
        # Opens and searches what was committed before the kill.
        status = lib.status()
        assert 2 <= status["totals"]["files"] - status["totals"]["indexing"] < len(files)
        assert status["totals"]["indexed_vectors"] == status["totals"]["chunks"] > 0
        assert lib.search("bisection algorithm insort into a sorted list", k=3)

        resumed = lib.add([corpus])
        assert resumed.unchanged >= 2
        assert resumed.unchanged + resumed.added + resumed.updated == len(files)
        totals = lib.status()["totals"]
        assert (totals["files"], totals["indexing"], totals["failed"]) == (len(files), 0, 0)
        assert totals["chunks"] == totals["indexed_vectors"] == expected_chunks(files, embedder, settings)
        hits = lib.search("shell-style wildcard pattern matching", k=5)
        assert any(h.path.endswith("fnmatch.py") for h in hits)
        assert len({h.chunk_id for h in hits}) == len(hits)
    finally:
        lib.close()
