"""Adding folders to the library: incremental, failures, cancellation, removal.

Real files, the real embedder, a real SQLite + HNSW store in tmp_path.
"""

from __future__ import annotations

import os
import threading
import tracemalloc

import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.library.ingest import IngestProgress

from desktop_app.core.settings import Settings
from library_corpus import TINY_MODULES, copy_modules, expected_chunks, write_facts


def paths_of(hits):
    return [os.path.basename(h.path) for h in hits]


def test_add_indexes_supported_files_and_skips_hidden_and_unsupported(make_library, facts_dir):
    lib = make_library()
    progress = []
    report = lib.add([facts_dir], token=CancelToken(), report=progress.append)

    assert report.added == 3 and report.failed == [] and report.files == 3
    status = lib.status()
    assert status["totals"]["files"] == 3
    assert status["totals"]["chunks"] == report.chunks > 0
    [folder] = status["folders"]
    assert folder["path"] == str(facts_dir.resolve()) and folder["files"] == 3
    assert folder["last_update"] is not None
    # Progress counted files and chunks and ended at the total.
    last = [p for p in progress if isinstance(p, IngestProgress)][-1]
    assert (last.stage, last.done, last.total) == ("indexing", 3, 3)
    assert last.chunks == report.chunks

    hits = lib.search("southernmost active volcano in Antarctica", k=3)
    assert paths_of(hits)[0] == "volcanoes.md"
    assert hits[0].section.startswith("Volcanoes")  # the heading path travels with the passage
    assert "Ross Island" in hits[0].text
    # Nothing from the hidden file or folder ever shows up.
    everything = lib.search("volcanoes", k=20)
    assert all(".secret" not in h.path and ".git" not in h.path for h in everything)


def test_search_modes_and_scores(make_library, facts_dir):
    lib = make_library()
    lib.add([facts_dir])
    # Meaning without shared words: only the vector side can find this.
    vector = lib.search("which moon has air thicker than ours", k=1, mode="vector")
    assert paths_of(vector) == ["saturn.md"]
    assert 0.0 < vector[0].similarity <= 1.0
    # An exact part number: BM25's strength.
    bm25 = lib.search("XR-7731", k=1, mode="bm25")
    assert paths_of(bm25) == ["saturn.md"] and bm25[0].similarity is None
    hybrid = lib.search("part number XR-7731", k=3, mode="hybrid")
    assert paths_of(hybrid)[0] == "saturn.md"
    assert all(h.similarity is not None for h in hybrid)
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    # FTS5 syntax typed by a user is plain text, never an error.
    for query in ['"unbalanced', "AND OR NOT", "title:(x", "NEAR(a b)", "*", "-", "'; DROP TABLE chunks; --"]:
        for mode in ("bm25", "hybrid"):
            lib.search(query, k=3, mode=mode)
    assert lib.search("   ", k=3) == []
    with pytest.raises(ValueError):
        lib.search("x", mode="fuzzy")


def test_second_add_is_incremental_by_content_hash(make_library, facts_dir):
    lib = make_library()
    first = lib.add([facts_dir])
    chunks_before = lib.status()["totals"]["chunks"]

    again = lib.add([facts_dir])
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 3, 0)

    # A new mtime with the same bytes is recognised by hash: nothing re-embedded.
    sourdough = facts_dir / "kitchen" / "sourdough.txt"
    os.utime(sourdough, ns=(1_000_000_000, 1_000_000_000))
    touched = lib.add([facts_dir])
    assert (touched.updated, touched.unchanged, touched.chunks) == (0, 3, 0)

    # Changed content is re-embedded: the new text is found, the old is gone.
    sourdough.write_text("Rye bread needs a long cold fermentation of about eighteen hours.\n")
    changed = lib.add([facts_dir])
    assert changed.updated == 1 and changed.unchanged == 2 and changed.chunks >= 1
    hits = lib.search("how long is the cold fermentation for rye", k=5)
    assert any("eighteen hours" in h.text for h in hits)
    assert not any("wild yeast" in h.text for h in lib.search("starter culture of wild yeast", k=10))

    # A deleted file leaves the index.
    (facts_dir / "volcanoes.md").unlink()
    gone = lib.add([facts_dir])
    assert gone.removed == 1
    assert "volcanoes.md" not in paths_of(lib.search("Mount Erebus lava lake", k=10))
    assert lib.status()["totals"]["files"] == 2
    assert lib.status()["totals"]["chunks"] < chunks_before + first.chunks


def test_bad_files_are_recorded_and_ingest_goes_on(make_library, tmp_path):
    root = tmp_path / "mixed"
    write_facts(root)
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf\n%%EOF")
    (root / "broken.docx").write_bytes(b"PK\x03\x04 truncated zip")
    lib = make_library()
    report = lib.add([root, tmp_path / "does-not-exist"])

    failed = dict((os.path.basename(p), reason) for p, reason in report.failed)
    assert set(failed) == {"empty.txt", "binary.txt", "broken.pdf", "broken.docx"}
    assert failed["empty.txt"] == "empty file"
    assert failed["binary.txt"] == "binary file"
    assert "PDF" in failed["broken.pdf"] and "DOCX" in failed["broken.docx"]
    assert report.missing == [str((tmp_path / "does-not-exist").resolve())]
    assert report.added == 3
    assert paths_of(lib.search("Titan nitrogen atmosphere", k=1)) == ["saturn.md"]

    status = lib.status()
    assert {os.path.basename(f["path"]): f["reason"] for f in status["failures"]} == failed
    assert status["totals"]["failed"] == 4
    assert len(status["folders"][0]["failures"]) == 4

    # A failed file that is fixed is picked up by the next add.
    (root / "empty.txt").write_text("Glaciers carve U-shaped valleys.\n")
    fixed = lib.add([root])
    assert fixed.added == 1 and len(fixed.failed) == 0
    assert lib.status()["totals"]["failed"] == 3


def test_cancel_mid_ingest_keeps_committed_files_and_next_add_resumes(make_library, tmp_path, embedder):
    root = tmp_path / "code"
    files = copy_modules(root, TINY_MODULES)
    lib = make_library()
    token = CancelToken()

    def cancel_after_first_commit(progress):
        if isinstance(progress, IngestProgress) and progress.done >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        lib.add([root], token=token, report=cancel_after_first_commit)
    # The producer thread is gone (the autouse fixture checks too).
    assert not [t for t in threading.enumerate() if t.name == "library-ingest-producer"]

    status = lib.status()
    done_files = status["totals"]["files"] - status["totals"]["indexing"]
    assert 2 <= done_files < len(files)
    committed = lib.search("convert between color systems RGB HLS HSV", k=3)
    assert committed, "what was committed before the cancel is searchable"

    resumed = lib.add([root])
    assert resumed.unchanged + resumed.added + resumed.updated == len(files)
    assert resumed.added + resumed.updated == len(files) - resumed.unchanged > 0
    after = lib.status()["totals"]
    assert (after["files"], after["indexing"], after["failed"]) == (len(files), 0, 0)
    # Every file's chunks exist exactly once.
    assert after["chunks"] == after["indexed_vectors"]
    assert after["chunks"] == expected_chunks(files, embedder, Settings())


def test_remove_folder_and_subfolder(make_library, facts_dir):
    lib = make_library()
    lib.add([facts_dir])

    # A subfolder of a source: its files go and stay out on later scans.
    assert lib.remove(facts_dir / "space") == 1
    assert "saturn.md" not in paths_of(lib.search("Titan nitrogen atmosphere", k=10))
    again = lib.refresh(CancelToken())
    assert again.added == 0
    assert lib.status()["totals"]["files"] == 2
    # Adding it back explicitly brings it back.
    lib.add([facts_dir / "space"])
    assert "saturn.md" in paths_of(lib.search("Titan nitrogen atmosphere", k=3))

    assert lib.remove(facts_dir) == 3
    status = lib.status()
    assert status["folders"] == [] and status["totals"]["chunks"] == 0
    assert lib.search("volcano", k=5) == []
    assert lib.remove(facts_dir) == 0


def test_refresh_picks_up_new_changed_and_deleted_files(make_library, facts_dir):
    lib = make_library()
    lib.add([facts_dir])
    (facts_dir / "new.md").write_text("# Tides\n\nSpring tides happen at new and full moon.\n")
    (facts_dir / "volcanoes.md").unlink()
    report = lib.refresh(CancelToken())
    assert (report.added, report.removed, report.unchanged) == (1, 1, 2)
    assert paths_of(lib.search("when do spring tides happen", k=1)) == ["new.md"]


def test_an_unplugged_folder_keeps_its_index_until_it_is_back(make_library, facts_dir, tmp_path):
    """A source folder that vanishes (a drive unplugged, a share unmounted) is
    shown as unavailable and skipped; its files stay indexed and searchable,
    and when it is back nothing is embedded again."""
    lib = make_library()
    lib.add([facts_dir])
    totals = lib.status()["totals"]
    root = str(facts_dir.resolve())

    away = facts_dir.rename(tmp_path / "docs-on-the-usb-stick")
    try:
        report = lib.refresh(CancelToken())
        assert report.removed == 0 and report.missing == []
        assert [p for p, _ in report.unavailable] == [root]
        assert "unplugged" in report.unavailable[0][1] and "unavailable" in report.summary()
        [folder] = lib.status()["folders"]
        assert folder["available"] is False and "is not there" in folder["unavailable_reason"]
        assert folder["files"] == 3 and lib.status()["totals"] == totals
        assert paths_of(lib.search("Titan nitrogen atmosphere", k=1)) == ["saturn.md"]
        # Adding it again (or a file in it) is a clear error for that path; the rest goes on.
        other = tmp_path / "other"
        other.mkdir()
        (other / "tides.md").write_text("# Tides\n\nSpring tides happen at new and full moon.\n")
        again = lib.add([facts_dir, facts_dir / "space" / "saturn.md", other])
        assert [p for p, _ in again.unavailable] == [root, str(facts_dir.resolve() / "space" / "saturn.md")]
        assert (again.added, again.removed, again.missing) == (1, 0, [])
        assert lib.status()["totals"]["files"] == totals["files"] + 1
    finally:
        away.rename(facts_dir)

    back = lib.refresh(CancelToken())
    assert (back.added, back.updated, back.removed, back.chunks, back.unavailable) == (0, 0, 0, 0, [])
    assert back.unchanged == 4
    assert all(f["available"] for f in lib.status()["folders"])
    assert lib.status()["totals"]["files"] == totals["files"] + 1
    # Inside a folder that is there, a deleted file still leaves the index.
    (facts_dir / "volcanoes.md").unlink()
    assert lib.refresh(CancelToken()).removed == 1


def test_library_files_are_user_only(make_library, facts_dir, tmp_path):
    lib = make_library()
    lib.add([facts_dir])
    root = tmp_path / "library"
    assert os.stat(root).st_mode & 0o777 == 0o700
    names = os.listdir(root)
    assert "library.sqlite3" in names and "vectors.hnsw" in names
    for name in names:
        assert os.stat(root / name).st_mode & 0o077 == 0, name


def test_a_big_file_is_streamed_not_loaded(make_library, tmp_path):
    """A 24 MB text file: the ingest holds a bounded window of it, never the
    whole file (stopped after a few batches; the rest would take an hour)."""
    root = tmp_path / "big"
    root.mkdir()
    paragraph = ("The archive holds letters, ledgers and maps from the harbour office. " * 6 + "\n\n")
    with open(root / "archive.txt", "w", encoding="utf-8") as handle:
        for i in range(24 * 1024 * 1024 // len(paragraph)):
            handle.write(f"Entry {i}. " + paragraph)
    lib = make_library()
    token = CancelToken()

    def stop_after_some_batches(progress):
        if getattr(progress, "chunks", 0) >= 96:
            token.cancel()

    tracemalloc.start()
    try:
        with pytest.raises(Cancelled):
            lib.add([root], token=token, report=stop_after_some_batches)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB for a 24 MB file"
    # The interrupted file is marked for redo; what was embedded is searchable.
    assert lib.status()["totals"]["indexing"] == 1
    assert lib.search("harbour office ledgers", k=1)


def test_a_known_file_that_vanished_leaves_the_index_when_added_again(make_library, facts_dir):
    lib = make_library()
    saturn = facts_dir / "space" / "saturn.md"
    lib.add([saturn])
    assert paths_of(lib.search("Titan nitrogen atmosphere", k=1)) == ["saturn.md"]
    saturn.unlink()
    report = lib.add([saturn])
    assert report.removed == 1 and report.missing == [str(saturn.resolve())]
    assert lib.search("Titan nitrogen atmosphere", k=3) == []


def test_a_folder_and_a_file_inside_it_dropped_together_are_one_source(make_library, facts_dir):
    """What a user does when they select a folder and one of its files in the
    file manager and drop both: each file is indexed once, in one source."""
    lib = make_library()
    inner = next(p for p in sorted(facts_dir.iterdir()) if p.suffix == ".md")
    report = lib.add([inner, facts_dir, inner], token=CancelToken())
    assert report.added == 3 and report.failed == []
    status = lib.status()
    assert status["totals"]["files"] == 3
    assert [f["path"] for f in status["folders"]] == [str(facts_dir.resolve())]
