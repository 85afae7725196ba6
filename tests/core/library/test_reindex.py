"""Changing the index settings never destroys the old index: a new passage
size is built alongside (search answers throughout, the old index goes only
after the new one is complete), a cancel leaves the old one as it was, and
a new embedder backend re-embeds alongside. Real files, the real embedder.
(The kill -9 of a real CLI process is in tests/cli/test_reindex_cli.py.)"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.library.ingest import IngestProgress
from desktop_app.core.library.recovery import LibraryError
from desktop_app.core.library.reindex import MARKER, IndexRecipe, plan, reindex, side_dir
from desktop_app.core.settings import Settings
from library_corpus import SMALL_MODULES, copy_modules, expected_chunks, write_facts

QUESTION = "southernmost active volcano in Antarctica"


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "docs"
    write_facts(root)
    copy_modules(root / "code", SMALL_MODULES)
    return root


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _passage_tokens(library, embedder) -> list[int]:
    rows = library.store._db.execute("SELECT text FROM chunks").fetchall()
    return [embedder.count_tokens(text) for (text,) in rows]


def _library_id(library_dir: Path) -> str:
    db = sqlite3.connect(library_dir / "library.sqlite3")
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'library_id'").fetchone()[0]
    finally:
        db.close()


def test_a_new_passage_size_is_built_alongside_while_search_answers(tmp_path, corpus, embedder, make_library):
    lib = make_library(chunk_tokens=200)
    lib.add([corpus], token=CancelToken())
    old_passages = lib.store.totals()["chunks"]
    old_id = _library_id(lib.library_dir)
    lib.settings.chunk_tokens = 64
    the_plan = plan(lib)
    assert the_plan.rechunk and not the_plan.reembed and the_plan.files == len(_files(corpus))
    assert "re-indexes 19 files in the background" in the_plan.describe()
    assert "search keeps working" in the_plan.describe()

    # Another thread searches while the job runs: the job waits at its first
    # indexed file of the new library until that search has answered.
    searched = threading.Event()
    mid_build = threading.Event()
    during = []

    def report(progress):
        if isinstance(progress, IngestProgress) and progress.done >= 1 and not mid_build.is_set():
            mid_build.set()
            assert searched.wait(120)

    result = {}
    job = threading.Thread(target=lambda: result.update(r=reindex(lib, token=CancelToken(), report=report)))
    job.start()
    try:
        assert mid_build.wait(240)
        side = side_dir(lib.library_dir)
        assert (side / MARKER).exists()                  # the new library is being built...
        during = lib.search(QUESTION, k=3)               # ...while search answers from the old one
        assert lib.store.totals()["chunks"] == old_passages
        assert _library_id(lib.library_dir) == old_id
    finally:
        searched.set()
        job.join(600)
    assert during and during[0].path.endswith("volcanoes.md")
    assert result["r"].rechunked_files == len(_files(corpus))

    # The swap: the library now holds passages of the new size, and only it.
    assert not side_dir(lib.library_dir).exists()
    assert _library_id(lib.library_dir) != old_id
    assert lib.index_recipe() == IndexRecipe(64, 40, embedder.backend)
    tokens = _passage_tokens(lib, embedder)
    assert max(tokens) <= 64 and len(tokens) > old_passages
    assert len(tokens) == expected_chunks(_files(corpus), embedder, Settings(chunk_tokens=64))
    [hit] = lib.search(QUESTION, k=1)
    assert hit.path.endswith("volcanoes.md")
    assert not plan(lib).needed


def test_cancel_leaves_the_old_index_and_the_next_run_carries_on(tmp_path, corpus, embedder, make_library):
    lib = make_library(chunk_tokens=200)
    lib.add([corpus], token=CancelToken())
    before = lib.store.totals()
    lib.settings.chunk_tokens = 80
    token = CancelToken()

    def report(progress):
        if isinstance(progress, IngestProgress) and progress.done >= 3:
            token.cancel()

    with pytest.raises(Cancelled):
        reindex(lib, token=token, report=report)
    assert lib.store.totals() == before                  # nothing of the old index changed
    assert lib.index_recipe().chunk_tokens == 200
    [hit] = lib.search(QUESTION, k=1)
    assert hit.path.endswith("volcanoes.md")
    pending = plan(lib)
    assert pending.rechunk and pending.resuming

    # The next run does not start over: files already in the side library stay.
    seen = []
    reindex(lib, token=CancelToken(), report=seen.append)
    first = next(p for p in seen if isinstance(p, IngestProgress))
    assert first.done >= 3
    assert lib.index_recipe().chunk_tokens == 80
    assert max(_passage_tokens(lib, embedder)) <= 80
    assert lib.store.totals()["files"] == before["files"]


def test_another_open_library_follows_the_swap_and_writes_to_the_new_one(tmp_path, corpus, embedder,
                                                                          make_library):
    lib = make_library(chunk_tokens=200)
    lib.add([corpus / "volcanoes.md", corpus / "kitchen"], token=CancelToken())
    window = make_library(lib.library_dir, chunk_tokens=200)   # as another window would hold it
    assert window.search(QUESTION, k=1)[0].path.endswith("volcanoes.md")
    lib.settings.chunk_tokens = 48
    reindex(lib, token=CancelToken())
    # The other one reopens the new library before its next search...
    [hit] = window.search(QUESTION, k=1)
    assert hit.path.endswith("volcanoes.md")
    assert max(_passage_tokens(window, embedder)) <= 48
    # ...and its next write goes there too (never into the removed folder).
    window.settings.chunk_tokens = 48
    window.add([corpus / "space"], token=CancelToken())
    assert lib.search("Titan nitrogen atmosphere methane", k=1)[0].path.endswith("saturn.md")
    assert max(_passage_tokens(lib, embedder)) <= 48
    window.close()
    assert sorted(p.name for p in lib.library_dir.parent.iterdir() if p.name.startswith("library")) == [
        "library", "library.rebuild.lock"]                 # the old library is gone


def test_files_added_while_the_setting_waits_keep_the_librarys_passage_size(tmp_path, corpus, embedder,
                                                                           make_library):
    lib = make_library(chunk_tokens=200)
    lib.add([corpus / "code"], token=CancelToken())
    lib.settings.chunk_tokens = 40
    lib.add([corpus / "volcanoes.md"], token=CancelToken())    # before any re-index ran
    sizes = _passage_tokens(lib, embedder)
    assert max(sizes) > 40                                   # one passage size in the library, not two
    assert plan(lib).rechunk and plan(lib).files == len(SMALL_MODULES) + 1


def test_a_library_without_a_recipe_takes_the_current_settings(tmp_path, corpus, embedder, make_library):
    lib = make_library(chunk_tokens=120)
    lib.add([corpus / "volcanoes.md"], token=CancelToken())
    with lib.store.transaction() as db:              # as an earlier version left it
        db.execute("DELETE FROM meta WHERE key IN ('chunk_tokens', 'chunk_overlap', 'embedder_backend')")
    lib.close()
    again = make_library(lib.library_dir, chunk_tokens=120)
    assert again.index_recipe() == IndexRecipe(120, 40, Settings().embedder_backend)
    assert not plan(again).needed
    again.settings.chunk_tokens = 100
    assert plan(again).rechunk


def test_a_folder_that_cannot_be_read_stops_the_swap_with_one_sentence(tmp_path, corpus, embedder,
                                                                        make_library):
    lib = make_library(chunk_tokens=200)
    lib.add([corpus / "kitchen", corpus / "volcanoes.md"], token=CancelToken())
    (corpus / "kitchen").rename(tmp_path / "unplugged")
    lib.settings.chunk_tokens = 64
    with pytest.raises(LibraryError, match="current index stays in use"):
        reindex(lib, token=CancelToken())
    assert lib.store.totals()["files"] == 2               # its passages are still in the index
    assert lib.search("sourdough starter", k=1)[0].path.endswith("sourdough.txt")


def test_a_new_embedder_backend_is_re_embedded_alongside(tmp_path, corpus, embedder, make_library):
    from desktop_app.core.library.embed import available_backends, load_embedder
    from desktop_app.core.library.library import Library

    other = "torch" if embedder.backend == "onnx-int8" else "onnx-int8"
    if other not in available_backends():
        pytest.skip(f"the {other} backend is not installed here")
    lib = make_library(embedder_backend=embedder.backend)
    lib.add([corpus / "volcanoes.md", corpus / "space"], token=CancelToken())
    old_vectors = dict(lib.store._db.execute("SELECT id, vector FROM chunks"))
    second = load_embedder(other)
    lib.close()
    lib = Library(lib.library_dir, embedder_factory=lambda: second,
                  settings=Settings(embedder_backend=other))
    try:
        the_plan = plan(lib)
        assert the_plan.reembed and not the_plan.rechunk
        assert "re-embeds" in the_plan.describe()
        answers = []

        def report(progress):
            if progress.stage == "re-embedding" and progress.done < (progress.total or 0):
                answers.append(lib.search(QUESTION, k=1)[0].path)   # old vectors, between batches

        reindex(lib, token=CancelToken(), report=report)
        assert answers and all(p.endswith("volcanoes.md") for p in answers)
        new_vectors = dict(lib.store._db.execute("SELECT id, vector FROM chunks"))
        assert new_vectors.keys() == old_vectors.keys()
        assert all(new_vectors[i] != old_vectors[i] for i in old_vectors)
        assert lib.index_recipe().embedder_backend == other and not plan(lib).needed
        assert lib.search(QUESTION, k=1)[0].path.endswith("volcanoes.md")
    finally:
        lib.close()


class _SimulatedCrash(Exception):
    """Stands for the process dying at one exact instant (a fake: a real
    kill -9 cannot be aimed between two system calls)."""


def test_a_crash_right_after_the_swap_leaves_the_new_library_and_the_next_open_drops_the_old(
        tmp_path, corpus, embedder, make_library, monkeypatch):
    from desktop_app.core.library import reindex as module

    lib = make_library(chunk_tokens=200)
    lib.add([corpus / "volcanoes.md", corpus / "space"], token=CancelToken())
    lib.settings.chunk_tokens = 48
    real_remove = module._remove_tree

    def crash_when_removing_the_old_library(folder):
        if not (folder / MARKER).exists() and (folder / "library.sqlite3").exists():
            raise _SimulatedCrash()
        real_remove(folder)

    monkeypatch.setattr(module, "_remove_tree", crash_when_removing_the_old_library)
    with pytest.raises(_SimulatedCrash):
        reindex(lib, token=CancelToken())
    assert side_dir(lib.library_dir).is_dir()          # the old library, left behind
    monkeypatch.setattr(module, "_remove_tree", real_remove)
    lib.close()

    again = make_library(lib.library_dir, chunk_tokens=48)    # the next launch
    assert not side_dir(lib.library_dir).exists()
    assert not plan(again).needed and again.index_recipe().chunk_tokens == 48
    assert max(_passage_tokens(again, embedder)) <= 48
    assert again.search(QUESTION, k=1)[0].path.endswith("volcanoes.md")
