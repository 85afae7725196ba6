"""A newer parser reaches a library's unchanged files: a refresh parses
again the files of that parser (and only those), replaces each file's
passages whole, keeps the vectors of passages whose text did not change,
survives a cancel, and upgrades a library from before versions were
recorded. Real PostgreSQL manual pages (DocBook XSL, with the navigation
tables the HTML parser drops since version 2), the real embedder."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.library import ingest
from desktop_app.core.library.context import embed_text
from desktop_app.core.library.parse import html
from desktop_app.core.library.parse import text as text_parser
from desktop_app.core.library.parser_upgrade import waiting_for_reparse
from desktop_app.core.library.store import Store
from desktop_app.core.library.write_ops import FileDone
from killed_child import kill_9_once_it_prints
from library_corpus import write_facts

PG_HTML = Path("/usr/share/doc/postgresql-doc-15/html")
PAGES = ("tutorial-join.html", "tutorial-agg.html", "tutorial-update.html", "tutorial-delete.html",
         "tutorial-views.html", "tutorial-fk.html")
NAV = ("div.navheader", "div.navfooter")

pytestmark = pytest.mark.skipif(not all((PG_HTML / p).is_file() for p in PAGES),
                                reason="the PostgreSQL manual (postgresql-doc-15) is not installed")


@pytest.fixture
def docs(tmp_path) -> Path:
    root = tmp_path / "docs"
    write_facts(root)                      # Markdown and text: another parser
    (root / "pg").mkdir()
    for page in PAGES:
        shutil.copyfile(PG_HTML / page, root / "pg" / page)
    return root


def _as_before_navigation_was_dropped(monkeypatch) -> None:
    """The HTML parser as it was before version 2 (commit 65620c0)."""
    old = ", ".join(s.strip() for s in html._HTML_DROP.split(",") if s.strip() not in NAV)
    assert old != html._HTML_DROP
    monkeypatch.setattr(html, "_HTML_DROP", old)
    monkeypatch.setattr(html, "PARSER_VERSION", 1)


def _passages(lib) -> dict[str, list[tuple[int, str, bytes]]]:
    """Per file: (chunk id, text, vector) in order."""
    out: dict[str, list] = {}
    with lib.store.transaction() as db:
        for path, cid, text, vector in db.execute(
                "SELECT f.path, c.id, c.text, c.vector FROM chunks c JOIN files f ON f.id = c.file_id "
                "ORDER BY f.path, c.seq"):
            out.setdefault(path, []).append((cid, text, vector))
    return out


def _files(lib) -> dict[str, tuple]:
    with lib.store.transaction() as db:
        return {r[0]: r[1:] for r in db.execute("SELECT path, status, parser_version, chunks FROM files")}


def _has_navigation(passages) -> bool:
    # DocBook's navigation tables: "Prev Up ... Home Next" above and below the page.
    return any("Prev" in text and "Next" in text for _, text, _ in passages)


class _CountingEmbedder:
    """The real embedder, recording what it is asked to embed."""

    def __init__(self, embedder) -> None:
        self.real = embedder
        self.texts: list[str] = []

    def encode(self, texts, *args, **kwargs):
        self.texts += list(texts)
        return self.real.encode(texts, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _old_library(make_library, docs, monkeypatch, embedder, library_dir=None):
    counting = _CountingEmbedder(embedder)
    lib = make_library(library_dir)
    lib._embedder_factory = lambda: counting
    with monkeypatch.context() as m:
        _as_before_navigation_was_dropped(m)
        first = lib.add([docs])
    assert first.added == len(PAGES) + 3 and not first.failed
    counting.texts.clear()
    return lib, counting


def test_a_newer_parser_reparses_its_files_only_and_keeps_unchanged_vectors(docs, make_library, monkeypatch,
                                                                             embedder):
    lib, counting = _old_library(make_library, docs, monkeypatch, embedder)
    before = _passages(lib)
    pg = sorted(p for p in before if p.endswith(".html"))
    others = sorted(p for p in before if not p.endswith(".html"))
    assert len(pg) == len(PAGES) and all(_has_navigation(before[p]) for p in pg)
    versions = {p: v for p, (_, v, _) in _files(lib).items()}
    assert {versions[p] for p in pg} == {1} and {versions[p] for p in others} == {text_parser.PARSER_VERSION}

    assert lib.status()["totals"]["reparse"] == len(PAGES)   # the HTML pages wait for the newer parser
    answers = []

    def search_meanwhile(progress):   # between the upgrade's commits
        if progress.stage == "indexing":
            answers.append([h.path for h in lib.search("joins between tables", k=3, mode="bm25")])

    result = lib.refresh(token=CancelToken(), report=search_meanwhile)

    assert answers and all(hits and hits[0].endswith("tutorial-join.html") for hits in answers), answers
    assert (result.reparsed, result.added, result.updated) == (len(PAGES), 0, 0), result.to_dict()
    assert result.unchanged == len(others)
    assert result.changed   # the window's background sync reports it, not quiet
    after = _passages(lib)
    files = _files(lib)
    for path in others:            # not read again: the same passages, the same ids
        assert after[path] == before[path]
        assert files[path][:2] == ("ok", text_parser.PARSER_VERSION)
    old_vectors = {text: vector for path in pg for _, text, vector in before[path]}
    new_texts = set()
    for path in pg:
        assert not _has_navigation(after[path]), path
        assert files[path] == ("ok", html.PARSER_VERSION, len(after[path]))
        for _, text, vector in after[path]:
            if text in old_vectors:
                assert vector == old_vectors[text]   # reused, not embedded again
            else:
                new_texts.add(text)
    # Embedded: exactly the passages whose text is new (with their context).
    assert len(counting.texts) == len(new_texts) == result.chunks - result.reused
    assert all(any(t in embedded for embedded in counting.texts) for t in new_texts)
    assert result.reused > 0   # the passages between the two navigation tables keep their text
    # The reused vectors are what the embedder makes of that passage now (int8
    # dynamic quantization varies a little with the batch a text is in).
    with lib.store.transaction() as db:
        kept = [r for r in db.execute("SELECT title, section, text, vector FROM chunks") if r[2] in old_vectors]
    fresh = embedder.encode([embed_text(title, section, text) for title, section, text, _ in kept])
    for (_, _, _, vector), made_now in zip(kept, fresh):
        assert float(np.dot(np.frombuffer(vector, dtype=np.float32), made_now)) > 0.99
    assert lib.search("inner join between two tables", k=3)

    assert lib.status()["totals"]["reparse"] == 0
    again = lib.refresh(token=CancelToken())
    assert (again.reparsed, again.chunks, again.unchanged) == (0, 0, len(PAGES) + len(others))
    assert not again.changed


def _interrupted(lib, before):
    """After an interrupted upgrade: some pages upgraded, every file whole
    (a page not done yet has all its old passages). Returns the passages
    and the upgraded pages."""
    middle = _passages(lib)
    files = _files(lib)
    current = html.PARSER_VERSION
    upgraded = [p for p, (_, version, _) in files.items() if p.endswith(".html") and version == current]
    assert 2 <= len(upgraded) < len(PAGES)
    for path, (status, version, chunks) in files.items():
        assert status == "ok" and chunks == len(middle[path]), path
        if path not in upgraded:
            assert middle[path] == before[path]
    return middle, upgraded


def test_a_cancelled_upgrade_leaves_every_file_whole_and_the_next_refresh_finishes(docs, make_library,
                                                                                  monkeypatch, embedder):
    lib, counting = _old_library(make_library, docs, monkeypatch, embedder)
    before = _passages(lib)
    # One file a batch, so the cancel falls between two files' commits.
    monkeypatch.setattr(ingest, "FIRST_EMBED_BATCH", 1)
    monkeypatch.setattr(ingest, "EMBED_BATCH", 1)
    token = CancelToken()
    real_write = lib.store.write_batch
    committed = []

    def write_then_cancel(ops, vectors):
        real_write(ops, vectors)
        committed.extend(op.path for op in ops if isinstance(op, FileDone))
        if len(committed) >= 2:
            token.cancel()

    monkeypatch.setattr(lib.store, "write_batch", write_then_cancel)
    with pytest.raises(Cancelled):
        lib.refresh(token=token)
    monkeypatch.undo()

    middle, upgraded = _interrupted(lib, before)
    hits = lib.search("join two tables", k=3)
    assert hits and all(h.path in middle for h in hits)

    finished = lib.refresh(token=CancelToken())
    assert finished.reparsed == len(PAGES) - len(upgraded)
    after = _passages(lib)
    for path in upgraded:          # done before the cancel: not redone
        assert after[path] == middle[path]
    assert all(v == html.PARSER_VERSION for p, (_, v, _) in _files(lib).items() if p.endswith(".html"))
    assert not any(_has_navigation(after[p]) for p in after if p.endswith(".html"))


def test_a_library_from_before_parser_versions_opens_and_upgrades(docs, tmp_path, make_library, monkeypatch,
                                                                   embedder):
    library_dir = tmp_path / "old-library"
    monkeypatch.setattr(text_parser, "PARSER_VERSION", 1)   # only the HTML parser changed since
    lib, _ = _old_library(make_library, docs, monkeypatch, embedder, library_dir)
    before = _passages(lib)
    lib.close()
    db = sqlite3.connect(library_dir / "library.sqlite3")
    db.execute("ALTER TABLE files DROP COLUMN parser_version")   # the schema before this change
    db.commit()
    db.close()

    # Opened read-only (a read-only mount: not upgraded), it lists its files.
    read_only = Store(library_dir, read_only=True)
    records = read_only.files_under(str(docs))
    assert len(records) == len(PAGES) + 3 and {r.parser_version for r in records.values()} == {None}
    assert waiting_for_reparse(read_only) == len(PAGES)   # unrecorded: the legacy version, older than HTML's
    read_only.close()

    reopened = make_library(library_dir)
    assert {v for _, v, _ in _files(reopened).values()} == {None}   # recorded: unknown (legacy 1)
    assert reopened.search("inner join", k=1)
    result = reopened.refresh(token=CancelToken())
    assert result.reparsed == len(PAGES) and result.unchanged == 3
    after = _passages(reopened)
    for path, rows in after.items():
        if path.endswith(".html"):
            assert not _has_navigation(rows)
        else:
            assert rows == before[path]
    versions = {p: v for p, (_, v, _) in _files(reopened).items()}
    assert all(versions[p] == html.PARSER_VERSION for p in versions if p.endswith(".html"))
    assert all(versions[p] is None for p in versions if not p.endswith(".html"))
    assert reopened.store.totals()["chunks"] == sum(len(rows) for rows in after.values())
    assert waiting_for_reparse(reopened.store) == 0


_CHILD = """
    from desktop_app.core.library import ingest
    from desktop_app.core.library.library import Library
    ingest.FIRST_EMBED_BATCH = ingest.EMBED_BATCH = 1   # one file a commit
    real_encode, calls = embedder.encode, []
    def encode(texts, *args, **kwargs):
        calls.append(len(texts))
        if len(calls) == 3:        # two files' new passages committed, a third file's being embedded
            print("embedding", flush=True)
            time.sleep(120)
        return real_encode(texts, *args, **kwargs)
    embedder.encode = encode
    Library(library_dir, embedder_factory=lambda: embedder).refresh()
"""


def test_kill_9_mid_upgrade_loses_no_passage_and_the_next_refresh_resumes(docs, tmp_path, make_library,
                                                                          monkeypatch, embedder):
    library_dir = tmp_path / "library"
    lib, _ = _old_library(make_library, docs, monkeypatch, embedder, library_dir)
    before = _passages(lib)
    lib.close()
    kill_9_once_it_prints("embedding", _CHILD, library_dir, embedder)

    reopened = make_library(library_dir)
    middle, upgraded = _interrupted(reopened, before)
    assert reopened.store.totals()["indexed_vectors"] == sum(len(rows) for rows in middle.values())
    assert reopened.search("join two tables", k=3)
    assert reopened.refresh(token=CancelToken()).reparsed == len(PAGES) - len(upgraded)
    assert all(v == html.PARSER_VERSION for p, (_, v, _) in _files(reopened).items() if p.endswith(".html"))
