"""Faults of the data dir and of the disk, through the real CLI in real
processes: one clear sentence (never a traceback) and the data as it was.
Read-only and full disks are real mounts (a read-only bind mount, a small
tmpfs) and need root; without it those tests skip, saying why."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests" / "core" / "library"))
from library_corpus import SMALL_MODULES, copy_modules, write_facts  # noqa: E402
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(PROJECT))
IS_ROOT = os.geteuid() == 0


def seeded_data_dir(root: Path, embedder) -> Path:
    data = root / "data"
    if embedder.backend == "onnx-int8":
        shutil.copytree(embedder.source_dir, data / "embedder" / embedder.source_dir.name)
    return data


def hearth(data: Path, *argv, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", "--data-dir", str(data), *map(str, argv)],
                          cwd=PROJECT, env=ENV, capture_output=True, timeout=timeout)


def one_clear_sentence(proc: subprocess.CompletedProcess, *words: str) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 2, (proc.returncode, err[-3000:])
    lines = [line for line in err.splitlines() if line.startswith("hearth: ")]
    assert lines and all(w in err for w in words), err[-3000:]
    return err


def ok_json(proc: subprocess.CompletedProcess):
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    return json.loads(proc.stdout)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True, capture_output=True)


def _umount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=True)   # never leave a mount behind


@contextmanager
def read_only_bind(folder: Path):
    """``folder`` remounted read-only in place (EROFS for everyone, root too)."""
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield
    finally:
        _umount(folder)


@contextmanager
def small_tmpfs(folder: Path, size: str):
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder))
    try:
        yield
    finally:
        _umount(folder)


needs_root = pytest.mark.skipif(not IS_ROOT, reason="a real read-only or full mount needs root (mount)")


# ------------------------------------------------------------------ the tests

def test_data_dir_that_is_a_file_gets_one_sentence(tmp_path):
    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("mine", encoding="utf-8")
    one_clear_sentence(hearth(not_a_dir, "library", "status"), "is a file, not a folder")
    assert not_a_dir.read_text(encoding="utf-8") == "mine"


@needs_root
def test_read_only_mount_reads_and_refuses_writes_in_one_sentence(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))
    before = tree_digest(data)
    with read_only_bind(data):
        status = ok_json(hearth(data, "library", "status", "--json"))
        assert status["totals"]["files"] == 3 and status["totals"]["chunks"] > 0
        hits = ok_json(hearth(data, "library", "search", "southernmost active volcano", "-k", "1", "--json"))
        assert hits and hits[0]["path"].endswith("volcanoes.md")
        vector = ok_json(hearth(data, "library", "search", "southernmost active volcano", "--mode", "vector",
                                "-k", "1", "--json"))
        assert vector and vector[0]["path"].endswith("volcanoes.md")
        models = hearth(data, "model", "list")
        assert models.returncode == 0 and b"Traceback" not in models.stderr, models.stderr.decode()[-3000:]
        one_clear_sentence(hearth(data, "library", "add", docs), "read-only")
        one_clear_sentence(hearth(data, "library", "remove", docs), "read-only")
    assert tree_digest(data) == before


@needs_root
def test_full_disk_during_add_is_one_sentence_and_keeps_the_library(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    big = tmp_path / "big"
    for i in range(6):   # many passages: more than the small disk holds
        copy_modules(big / f"part{i}", SMALL_MODULES)
    data = seeded_data_dir(tmp_path, embedder)
    library = data / "library"
    library.mkdir(parents=True)
    with small_tmpfs(library, "1m"):
        ok_json(hearth(data, "library", "add", docs, "--json"))
        full = hearth(data, "library", "add", big)
        one_clear_sentence(full, "disk holding the library is full")
        status = ok_json(hearth(data, "library", "status", "--json"))
        by_path = {f["path"]: f for f in status["folders"]}
        assert by_path[str(docs)]["files"] == 3
        assert status["totals"]["chunks"] == status["totals"]["indexed_vectors"]
        hits = ok_json(hearth(data, "library", "search", "sourdough starter", "-k", "1", "--json"))
        assert hits and hits[0]["path"].endswith("sourdough.txt")
        db = sqlite3.connect(f"file:{library / 'library.sqlite3'}?mode=ro", uri=True)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()


def test_damaged_database_is_moved_aside_and_rebuilt_from_the_folder_list(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))
    db_path = data / "library" / "library.sqlite3"
    garbage = b"this is not a database " * 500
    db_path.write_bytes(garbage)
    for side in ("library.sqlite3-wal", "library.sqlite3-shm"):
        (data / "library" / side).unlink(missing_ok=True)

    err = one_clear_sentence(hearth(data, "library", "status"), "damaged", "library rebuild")
    [aside] = (data / "library").glob("library.sqlite3.damaged-*")
    assert aside.read_bytes() == garbage, err           # kept, not deleted
    rebuilt = ok_json(hearth(data, "library", "rebuild", "--json"))
    assert rebuilt["added"] == 3 and not rebuilt["failed"]
    status = ok_json(hearth(data, "library", "status", "--json"))
    assert [f["path"] for f in status["folders"]] == [str(docs)]
    hits = ok_json(hearth(data, "library", "search", "Titan nitrogen atmosphere", "-k", "1", "--json"))
    assert hits and hits[0]["path"].endswith("saturn.md")


def test_damage_inside_the_database_is_a_sentence_and_rebuild_fresh_recovers(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))
    db_path = data / "library" / "library.sqlite3"
    raw = bytearray(db_path.read_bytes())
    page = 4096
    for start in range(page, len(raw), page):      # every page but the header page
        raw[start:start + 64] = b"\xff" * 64
    db_path.write_bytes(bytes(raw))
    proc = hearth(data, "library", "status")
    one_clear_sentence(proc, "damaged" if b"damaged" in proc.stderr else "could not be read")
    ok_json(hearth(data, "library", "rebuild", "--fresh", "--json"))
    status = ok_json(hearth(data, "library", "status", "--json"))
    assert status["totals"]["files"] == 3


def test_links_out_of_the_folder_and_loops_are_skipped_with_reasons(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    outside = tmp_path / "private" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text("The vault combination is forty-two eleven.", encoding="utf-8")
    (docs / "secret-link.txt").symlink_to(outside)
    (docs / "inside-link.md").symlink_to(docs / "volcanoes.md")      # within the folder: followed
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    data = seeded_data_dir(tmp_path, embedder)
    report = ok_json(hearth(data, "library", "add", docs, loop, "--json"))
    reasons = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert "outside the added folders" in reasons["secret-link.txt"]
    assert "link loop" in reasons["loop"]
    assert report["added"] == 4
    hits = ok_json(hearth(data, "library", "search", "vault combination", "-k", "3", "--json"))
    assert not any("vault" in h["text"] for h in hits)
    # Adding the target itself is the user's explicit choice: indexed.
    ok_json(hearth(data, "library", "add", outside, "--json"))
    hits = ok_json(hearth(data, "library", "search", "vault combination", "-k", "1", "--json"))
    assert "vault" in hits[0]["text"]


@pytest.mark.skipif(IS_ROOT, reason="root reads any folder: an unreadable folder needs a normal user")
def test_unreadable_subfolder_is_listed_among_failures(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    locked = docs / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("hidden away", encoding="utf-8")
    locked.chmod(0)
    try:
        data = seeded_data_dir(tmp_path, embedder)
        report = ok_json(hearth(data, "library", "add", docs, "--json"))
        assert any(f["path"] == str(locked) and "unreadable" in f["reason"] for f in report["failed"])
        status = ok_json(hearth(data, "library", "status", "--json"))
        assert any(f["path"] == str(locked) for f in status["failures"])
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(IS_ROOT, reason="root writes any folder: a folder without write permission needs a normal user")
def test_data_dir_without_write_permission_reads_and_is_not_chmodded_back(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))
    data.chmod(0o500)
    try:
        ok_json(hearth(data, "library", "status", "--json"))
        assert data.stat().st_mode & 0o777 == 0o500
    finally:
        data.chmod(0o700)
