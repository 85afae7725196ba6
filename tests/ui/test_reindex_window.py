"""A new passage size from the window: the Settings dialog says what it
costs, saving starts the re-index as a job of the job panel, search answers
while it runs, and the library ends with passages of the new size."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop_app.core.library.ingest import IngestProgress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "library"))
from library_corpus import SMALL_MODULES, copy_modules, write_facts  # noqa: E402

QUESTION = "southernmost active volcano in Antarctica"


def test_a_new_passage_size_reindexes_in_the_background_while_search_answers(qtbot, window, tmp_path):
    from desktop_app.ui.settings_dialog import INDEX_NOTE, SettingsDialog

    docs = tmp_path / "docs"
    write_facts(docs)
    copy_modules(docs / "code", SMALL_MODULES)
    files = sum(1 for p in docs.rglob("*") if p.is_file())
    with qtbot.waitSignal(window.library.statusChanged, timeout=300000,
                          check_params_cb=lambda s: bool(s.get("folders")) and not window.jobs.running("ingest")):
        window.library.add([str(docs)])
    assert not window.library.status["reindex"]["needed"]

    # The dialog says what the change costs before it is saved.
    dialog = SettingsDialog(window.services.settings, window, index_change=window._index_change)
    qtbot.addWidget(dialog)
    assert dialog.index_note.text() == INDEX_NOTE
    dialog.editors["chunk_tokens"].setValue(64)
    assert f"re-indexes {files} files in the background" in dialog.index_note.text()
    assert "search keeps working" in dialog.index_note.text()
    dialog.editors["chunk_tokens"].setValue(200)
    assert dialog.index_note.text() == INDEX_NOTE
    dialog.reject()

    with qtbot.waitSignal(window.jobs.jobStarted, timeout=60000,
                          check_params_cb=lambda job: job.kind == "reindex") as started:
        window.apply_settings({"chunk_tokens": 64})
    job = started.args[0]
    assert window.job_panel.row_for(job) is not None
    # Hold the job in the middle of building the new library, then search.
    qtbot.waitUntil(lambda: isinstance(job.progress, IngestProgress) and job.progress.done >= 1, timeout=300000)
    job.pause()
    with qtbot.waitSignal(window.library.searchFinished, timeout=60000) as found:
        window.library.search(QUESTION, k=3)
    assert job.running
    query, hits = found.args
    assert hits and hits[0].path.endswith("volcanoes.md")
    with qtbot.waitSignal(window.library.statusChanged, timeout=600000,
                          check_params_cb=lambda s: not window.jobs.running("reindex")):
        job.resume()
    assert job.state == "finished"
    status = window.library.status
    assert not status["reindex"]["needed"] and status["reindex"]["have"]["chunk_tokens"] == 64
    library = window.services.library
    embedder = window.services.embedder
    sizes = [embedder.count_tokens(t) for (t,) in library.store._db.execute("SELECT text FROM chunks")]
    assert max(sizes) <= 64 and status["totals"]["files"] == files


def test_an_interrupted_re_index_carries_on_by_itself_at_launch(qtbot, services, make_window, tmp_path):
    from desktop_app.core.jobs import CancelToken, Cancelled
    from desktop_app.core.library.reindex import plan, reindex

    docs = tmp_path / "docs"
    write_facts(docs)
    copy_modules(docs / "code", SMALL_MODULES[:6])
    library = services.library
    library.add([docs], token=CancelToken())
    services.settings.chunk_tokens = 64
    services.save_settings()
    token = CancelToken()

    def stop_after_two_files(progress):
        if isinstance(progress, IngestProgress) and progress.done >= 2:
            token.cancel()

    try:
        reindex(library, token=token, report=stop_after_two_files)
    except Cancelled:
        pass
    assert plan(library).resuming                       # as a quit in the middle leaves it

    window = make_window()
    qtbot.waitUntil(lambda: any(j.kind == "reindex" for j in window.jobs.jobs), timeout=120000)
    qtbot.waitUntil(lambda: not window.jobs.running("reindex")
                    and window.library.status.get("reindex", {}).get("needed") is False, timeout=600000)
    assert window.library.status["reindex"]["have"]["chunk_tokens"] == 64


def test_a_new_embedder_backend_from_the_window_re_embeds_with_that_backend(qtbot, window, tmp_path):
    import pytest

    from desktop_app.core.library.embed import available_backends

    services = window.services
    other = "torch" if services.settings.embedder_backend == "onnx-int8" else "onnx-int8"
    if other not in available_backends():
        pytest.skip(f"the {other} backend is not installed here")
    docs = tmp_path / "docs"
    write_facts(docs)
    with qtbot.waitSignal(window.library.statusChanged, timeout=300000,
                          check_params_cb=lambda s: bool(s.get("folders")) and not window.jobs.running("ingest")):
        window.library.add([str(docs)])
    with qtbot.waitSignal(window.jobs.jobStarted, timeout=60000,
                          check_params_cb=lambda job: job.kind == "reindex") as started:
        window.apply_settings({"embedder_backend": other})
    assert "embedding backend" in started.args[0].title
    qtbot.waitUntil(lambda: not window.jobs.running("reindex")
                    and window.library.status.get("reindex", {}).get("needed") is False, timeout=600000)
    assert started.args[0].state == "finished"
    assert window.library.status["reindex"]["have"]["embedder_backend"] == other
    assert services.library.embedder.backend == other          # queries are embedded by it too
    with qtbot.waitSignal(window.library.searchFinished, timeout=120000) as found:
        window.library.search(QUESTION, k=1)
    assert found.args[1][0].path.endswith("volcanoes.md")
