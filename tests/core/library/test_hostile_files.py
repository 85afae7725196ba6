"""Hostile files and names, through the real CLI in real processes: names
that are not UTF-8, named pipes, a zip bomb, links out of the folder, an
unreadable subfolder, a link loop; and status after a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from desktop_app.core.library.documents import Chunk
from desktop_app.core.library.fsnames import to_fs, to_text
from desktop_app.core.library.store import ChunkOp, FileStart
from library_corpus import SMALL_MODULES, copy_modules, write_facts

PROJECT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(PROJECT))


def seeded_data_dir(root: Path, embedder) -> Path:
    data = root / "data"
    if embedder.backend == "onnx-int8":
        shutil.copytree(embedder.source_dir, data / "embedder" / embedder.source_dir.name)
    return data


def hearth(data: Path, *argv, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", "--data-dir", str(data), *map(os.fsdecode, argv)],
                          cwd=PROJECT, env=ENV, capture_output=True, timeout=timeout, **kw)


def as_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    assert b"Traceback" not in proc.stderr, proc.stderr.decode("utf-8", "replace")[-3000:]
    return json.loads(proc.stdout)


# ------------------------------------------------------------ not UTF-8

def test_file_names_that_are_not_utf8_are_indexed_and_the_folder_goes_on(tmp_path, embedder):
    folder = tmp_path / "old-drive"
    write_facts(folder)
    latin1 = os.fsencode(folder) + b"/r\xe9sum\xe9 caf\xe9.txt"       # Latin-1 bytes, invalid UTF-8
    with open(latin1, "wb") as handle:
        handle.write(b"The aurora borealis glows green because of oxygen atoms high in the sky.\n")
    sub = os.fsencode(folder) + b"/d\xfcsseldorf"                       # a folder name too
    os.mkdir(sub)
    with open(sub + b"/notes.md", "wb") as handle:
        handle.write(b"# Rhine\n\nThe Rhine flows north through the city past the old harbour.\n")
    data = seeded_data_dir(tmp_path, embedder)

    report = as_json(hearth(data, "library", "add", folder, "--json"))
    assert report["failed"] == [] and report["added"] == 5
    hits = as_json(hearth(data, "library", "search", "why is the aurora green", "-k", "1", "--json"))
    path = hits[0]["path"]
    assert "aurora" in hits[0]["text"] and os.fsencode(to_fs(path)) == latin1
    assert os.path.exists(to_fs(path))        # the stored name leads back to the very file
    status = as_json(hearth(data, "library", "status", "--json"))
    assert status["totals"]["files"] == 5 and status["totals"]["failed"] == 0
    # Again: nothing changed, nothing re-embedded (the names compare equal).
    again = as_json(hearth(data, "library", "add", folder, "--json"))
    assert (again["unchanged"], again["added"], again["updated"], again["chunks"]) == (5, 0, 0, 0)
    # The plain-text status prints too (no UnicodeEncodeError on the way out).
    plain = hearth(data, "library", "status")
    assert plain.returncode == 0 and b"Traceback" not in plain.stderr
    # And removing the odd folder by its real name works.
    removed = as_json(hearth(data, "library", "remove", sub, "--json"))
    assert removed["removed_files"] == 1


def test_text_form_round_trips_every_byte():
    raw = bytes(range(1, 256)).replace(b"/", b"")
    name = os.fsdecode(b"/x/" + raw)
    text = to_text(name)
    text.encode("utf-8")                       # valid Unicode: SQLite, JSON, Qt take it
    assert to_fs(text) == name
    assert to_text("/plain/ascii and ünïcode.txt") == "/plain/ascii and ünïcode.txt"


# ------------------------------------------------------- pipes and devices

def test_named_pipes_are_skipped_with_a_reason_and_never_read(tmp_path, embedder):
    folder = tmp_path / "docs"
    write_facts(folder)
    os.mkfifo(folder / "pipe.txt")
    lone = tmp_path / "lone.md"
    os.mkfifo(lone)
    data = seeded_data_dir(tmp_path, embedder)
    # Without the fix this hangs for ever in sha256_file (timeout = failure).
    report = as_json(hearth(data, "library", "add", lone, folder, "/dev/zero", "--json", timeout=300))
    reasons = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert "named pipe" in reasons["lone.md"] and "named pipe" in reasons["pipe.txt"]
    assert "character device" in reasons["zero"]
    assert report["added"] == 3


def test_ctrl_c_during_add_stops_cleanly(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    copy_modules(corpus, SMALL_MODULES)
    os.mkfifo(corpus / "pipe.py")
    data = seeded_data_dir(tmp_path, embedder)
    child = subprocess.Popen([sys.executable, "-m", "desktop_app", "--data-dir", str(data), "library", "add",
                              str(corpus)], cwd=PROJECT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db_path = data / "library" / "library.sqlite3"
    deadline = time.monotonic() + 240
    sent = False
    try:
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
                    ok = db.execute("SELECT count(*) FROM files WHERE status = 'ok'").fetchone()[0]
            except sqlite3.Error:
                ok = 0
            if ok >= 1:
                child.send_signal(signal.SIGINT)
                sent = True
                break
            time.sleep(0.05)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert sent, "the add ended before Ctrl-C could be sent"
    text = err.decode()
    assert child.returncode == 130 and "cancelled" in text and "Traceback" not in text, text[-2000:]


# ---------------------------------------------------------------- zip bomb

def write_docx_bomb(path: Path, inflated: int) -> None:
    """A real DOCX whose document.xml inflates to ``inflated`` bytes."""
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
    tail = b"</w:body></w:document>"
    para = b"<w:p><w:r><w:t>" + b"A" * 4000 + b"</w:t></w:r></w:p>"
    content_types = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                     b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                     b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
                     b'"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
                     b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            block = para * 256
            for _ in range(inflated // len(block)):
                member.write(block)
            member.write(tail)


_PARSE = """
import sys
from pathlib import Path
from desktop_app.core.library.parse import parse_file, ParseError
try:
    blocks = sum(1 for _ in parse_file(Path(sys.argv[1])))
    print(f"parsed {blocks} blocks")
except ParseError as exc:
    print("ParseError: " + exc.reason)
"""
# Linux carries a process's peak RSS across fork + exec, so the parse runs in
# a grandchild forked from this small launcher, not from the (large) test
# process; RUSAGE_CHILDREN then gives the parse's own peak.
_RSS_PROBE = """
import json, resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], capture_output=True, text=True)
print(json.dumps({"outcome": done.stdout.strip() or done.stderr[-500:],
                  "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def test_a_docx_zip_bomb_is_refused_with_bounded_memory(tmp_path, embedder):
    bomb = tmp_path / "docs" / "bomb.docx"
    bomb.parent.mkdir()
    inflated = 1100 << 20
    write_docx_bomb(bomb, inflated)
    assert bomb.stat().st_size < 2 << 20        # ~1 MB on disk
    with zipfile.ZipFile(bomb) as archive:
        assert sum(m.file_size for m in archive.infolist()) > 1 << 30
    probe = subprocess.run([sys.executable, "-c", _RSS_PROBE, _PARSE, str(bomb)], cwd=PROJECT, env=ENV,
                           capture_output=True, timeout=300)
    assert probe.returncode == 0, probe.stderr.decode()[-2000:]
    result = json.loads(probe.stdout)
    assert result["outcome"].startswith("ParseError: DOCX too large when unpacked"), result
    peak = result["peak_kb"] * 1024
    assert peak < inflated // 5, f"peak RSS {peak >> 20} MB for a {inflated >> 20} MB bomb"

    # Through the real CLI: the bomb is listed as failed, its neighbours indexed.
    write_facts(bomb.parent)
    data = seeded_data_dir(tmp_path, embedder)
    report = as_json(hearth(data, "library", "add", bomb.parent, "--json"))
    assert report["added"] == 3
    assert [(Path(f["path"]).name, f["reason"][:30]) for f in report["failed"]] == \
        [("bomb.docx", "DOCX too large when unpacked (")]


# -------------------------------------------------- status after a kill -9

def test_status_totals_equal_the_sum_of_folder_lines_with_an_interrupted_file(make_library, facts_dir, embedder):
    lib = make_library()
    lib.add([facts_dir])
    # What a kill -9 between two batches of one file leaves: its first
    # passages committed, the file still "indexing" (no FileDone yet).
    [source] = lib.store.sources()
    path = str(facts_dir / "kitchen" / "more.txt")
    texts = ["Rye flour ferments faster than wheat flour.", "Salt slows the fermentation of the dough."]
    lib.store.write_batch([FileStart(path, source.id)] + [ChunkOp(path, Chunk(text=t, start=i * 50, end=i * 50 + len(t)))
                                                           for i, t in enumerate(texts)], embedder.encode(texts))
    status = lib.status()
    totals = status["totals"]
    assert totals["indexing"] == 1
    assert sum(f["chunks"] for f in status["folders"]) == totals["chunks"] == totals["indexed_vectors"]
    assert sum(f["files"] for f in status["folders"]) == totals["files"]
