"""The Library page driven like a user: drop a folder, watch it index, see
problems, search, open a hit, pause/resume/cancel, background sync."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl

from tests.ui.conftest import activate, drop_paths, write_docs


def _folder_row(page, folder: Path):
    model = page.model
    for row in range(model.rowCount()):
        if Path(model.folder_path(row)) == folder.resolve():
            return row
    return None


def _cell(page, row, column) -> str:
    return page.model.data(page.model.index(row, column), Qt.DisplayRole)


def test_dropped_folder_is_indexed_with_progress_rows_and_problems(qtbot, window, tmp_path):
    folder = write_docs(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    page = window.library_page
    window.show_page(1)

    with qtbot.waitSignal(window.library.ingestStarted, timeout=10000) as started:
        drop_paths(page, [folder])
    job = started.args[0]
    # Progress is shown on the page (and in the job panel) while it runs.
    assert page.progress_rows, "no progress row for the running ingest"
    assert window.job_panel.row_for(job) is not None
    assert window.job_dock.isVisible()

    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))
                          and not window.jobs.running("ingest")):
        pass
    qtbot.waitUntil(lambda: not page.progress_rows, timeout=10000)
    assert job.state == "finished"
    row = _folder_row(page, folder)
    assert row is not None
    assert _cell(page, row, 0) == "docs"
    assert int(_cell(page, row, 1)) >= 3          # files
    assert int(_cell(page, row, 2)) >= 3          # passages
    assert _cell(page, row, 3) != "never"
    # The broken PDF is listed with its reason, on the row and in the list.
    assert _cell(page, row, 4) == "1 file"
    tooltip = page.model.data(page.model.index(row, 4), Qt.ToolTipRole)
    assert "broken.pdf" in tooltip
    assert page.failures.isVisible()
    texts = [page.failures.item(i).text() for i in range(page.failures.count())]
    assert any(t.startswith("broken.pdf — ") and len(t) > len("broken.pdf — ") for t in texts)
    assert "Library updated" in page.banner.text()
    assert "1 folder" in window.library_status.text()


def test_search_shows_highlighted_hits_and_opens_the_source(qtbot, window, tmp_path):
    folder = write_docs(tmp_path / "docs")
    page = window.library_page
    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))):
        page.add_paths([str(folder)])

    window.show_page(1)
    activate(window)
    qtbot.keyClick(window, Qt.Key_F, Qt.ControlModifier)
    assert page.search_box.hasFocus()
    qtbot.keyClicks(page.search_box, "Zorblax eruption")
    with qtbot.waitSignal(window.library.searchFinished, timeout=30000):
        qtbot.keyClick(page.search_box, Qt.Key_Return)
    assert page.hits, "no hits"
    assert Path(page.hits[0].path).name == "volcanoes.md"
    html = page.results.toHtml()
    assert "volcanoes.md" in page.results.toPlainText()
    # The matched term is marked (a coloured, bold span) in the snippet.
    assert "Zorblax</span>" in html and "font-weight:600" in html

    page.results.anchorClicked.emit(QUrl("hit:0"))
    viewer = page.viewer
    qtbot.waitUntil(lambda: viewer.highlighted is not None, timeout=10000)
    assert viewer.isVisible()
    start, end = viewer.highlighted
    shown = viewer.text_view.toPlainText()
    assert "Zorblax" in shown[start:end]
    assert viewer.title.text() == "volcanoes.md"


def test_pause_resume_and_cancel_an_ingest(qtbot, window, tmp_path):
    folder = write_docs(tmp_path / "many", count=80)
    page = window.library_page
    with qtbot.waitSignal(window.library.ingestStarted, timeout=10000) as started:
        page.add_paths([str(folder)])
    job = started.args[0]
    row = page.progress_rows[id(job)]
    qtbot.waitUntil(lambda: job.progress is not None and bool(job.progress.total), timeout=120000)

    qtbot.mouseClick(row.pause_button, Qt.LeftButton)
    assert job.paused and row.pause_button.text() == "Resume"
    assert "paused" in row.status.text()
    qtbot.mouseClick(row.pause_button, Qt.LeftButton)
    assert not job.paused and row.pause_button.text() == "Pause"

    with qtbot.waitSignal(job.cancelled, timeout=60000):
        qtbot.mouseClick(row.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not page.progress_rows, timeout=10000)
    assert "cancelled" in page.banner.text().lower()
    # The library still opens and lists the folder; adding again resumes.
    with qtbot.waitSignal(window.library.statusChanged, timeout=180000,
                          check_params_cb=lambda s: any(int(f["files"]) == 80 for f in s["folders"])):
        page.add_paths([str(folder)])


def test_changed_files_are_reindexed_in_the_background(qtbot, window, tmp_path):
    folder = write_docs(tmp_path / "docs")
    controller = window.library
    controller._debounce.setInterval(200)  # the real debounce is 2 s
    with qtbot.waitSignal(controller.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))):
        controller.add([str(folder)])
    qtbot.waitUntil(lambda: str(folder.resolve()) in controller.watched_dirs, timeout=10000)

    (folder / "new_fact.md").write_text("# Comets\n\nThe comet Veltrane returns every "
                                        "83 years.\n", encoding="utf-8")
    with qtbot.waitSignal(controller.statusChanged, timeout=120000,
                          check_params_cb=lambda s: any(int(f["files"]) == 4
                                                        for f in s["folders"])):
        pass
    with qtbot.waitSignal(controller.searchFinished, timeout=30000) as found:
        controller.search("Veltrane comet")
    assert any(Path(h.path).name == "new_fact.md" for h in found.args[1])


def _indexed_by_older_text_parser(services, folder: Path, monkeypatch) -> None:
    """``folder``'s three files indexed as by the text parser's previous
    version: what a library looks like after an update of Hearth."""
    from desktop_app.core.library.parse import text as text_parser

    with monkeypatch.context() as m:
        m.setattr(text_parser, "PARSER_VERSION", text_parser.PARSER_VERSION - 1)
        services.library.add([str(folder)])
    assert services.library.status()["totals"]["reparse"] == 3


def _record_status_lines(monkeypatch) -> list[str]:
    """Every text the window's library status line takes, from its first."""
    from desktop_app.ui.main_window import MainWindow

    shown: list[str] = []
    show = MainWindow._show_library_status

    def recording(self, status):
        show(self, status)
        shown.append(self.library_status.text())

    monkeypatch.setattr(MainWindow, "_show_library_status", recording)
    return shown


SYNC_TITLE = "Syncing library folders"
REREAD = "3 files will be re-read by a newer parser on the next sync"


def _syncs(window) -> list:
    return [j for j in window.jobs.jobs if j.title == SYNC_TITLE]


def _synced_and_status_read(window) -> bool:
    """The window's own sync has ended and the status it asked for is in."""
    return bool(_syncs(window)) and not window.jobs.running("ingest") and not window.jobs.running(
        "library-status")


def test_opening_the_window_re_reads_the_files_a_newer_parser_waits_for(qtbot, services, make_window,
                                                                       tmp_path, monkeypatch):
    folder = write_docs(tmp_path / "docs")
    _indexed_by_older_text_parser(services, folder, monkeypatch)
    services.settings.watch_folders = False   # no watcher, no timer: only the launch syncs
    shown = _record_status_lines(monkeypatch)

    window = make_window()
    # The first status line says what will happen; the window then does it
    # by itself, as a job with its progress row.
    qtbot.waitUntil(lambda: bool(_syncs(window)), timeout=60000)
    assert shown[0].startswith("Library: 1 folder, 3 files, ") and REREAD in shown[0]
    qtbot.waitUntil(lambda: _synced_and_status_read(window)
                    and window.library.status["totals"]["reparse"] == 0, timeout=120000)
    text = window.library_status.text()
    assert text.startswith("Library: 1 folder, 3 files, ") and "parser" not in text
    assert "3 parsed again by a newer parser" in window.library_page.banner.text()
    assert len(_syncs(window)) == 1
    # The re-read passages answer.
    with qtbot.waitSignal(window.library.searchFinished, timeout=30000) as found:
        window.library.search("Zorblax eruption ash")
    assert any(Path(h.path).name == "volcanoes.md" for h in found.args[1])


def test_a_folder_that_is_not_there_keeps_its_files_waiting_without_a_sync_loop(
        qtbot, services, make_window, tmp_path, monkeypatch):
    folder = write_docs(tmp_path / "docs")
    _indexed_by_older_text_parser(services, folder, monkeypatch)
    services.settings.watch_folders = False
    folder.rename(tmp_path / "unplugged")          # a drive not connected at launch

    window = make_window()
    qtbot.waitUntil(lambda: _synced_and_status_read(window), timeout=120000)
    assert window.library.status["totals"]["reparse"] == 3       # kept, still waiting
    assert REREAD in window.library_status.text()
    assert len(_syncs(window)) == 1 and _syncs(window)[0].state == "finished"
    assert "failed" not in window.library_page.banner.text().lower()
    assert window.library_page.model.rowCount() == 1


def test_remove_a_folder(qtbot, window, tmp_path):
    folder = write_docs(tmp_path / "docs")
    page = window.library_page
    window.show_page(1)
    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))):
        page.add_paths([str(folder)])
    assert not page.hint.isVisible()
    page.table.selectRow(0)
    assert page.remove_button.isEnabled()
    # Remove asks first; Cancel keeps the folder and its index.
    asked = _answer_question_box(qtbot, "Cancel")
    qtbot.mouseClick(page.remove_button, Qt.LeftButton)
    assert asked and "docs" in asked[0] and "files themselves stay" in asked[1]
    assert not window.jobs.running("library-remove") and page.model.rowCount() == 1
    asked = _answer_question_box(qtbot, "Remove")
    with qtbot.waitSignal(window.library.statusChanged, timeout=60000,
                          check_params_cb=lambda s: not s.get("folders")):
        qtbot.mouseClick(page.remove_button, Qt.LeftButton)
    assert asked
    assert page.model.rowCount() == 0
    assert page.hint.isVisible()
    assert folder.exists() and (folder / "bread.txt").exists()  # the user's files stay


def _answer_question_box(qtbot, button_text: str) -> list[str]:
    """Once the modal question box is open, note its text and press ``button_text``."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list[str] = []

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, answer)
            return
        seen.extend([box.text(), box.informativeText()])
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        qtbot.mouseClick(button, Qt.LeftButton)

    QTimer.singleShot(100, answer)
    return seen


def test_interrupted_indexing_says_so_and_resumes_at_the_next_launch(qtbot, services, make_window,
                                                                    tmp_path):
    folder = write_docs(tmp_path / "many", count=60)
    window = make_window()
    page = window.library_page
    with qtbot.waitSignal(window.library.ingestStarted, timeout=10000) as started:
        page.add_paths([str(folder)])
    job = started.args[0]
    qtbot.waitUntil(lambda: job.progress is not None and job.progress.done >= 3, timeout=120000)
    with qtbot.waitSignal(window.library.statusChanged, timeout=60000):
        job.cancel()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and not window.jobs.running("ingest"),
                    timeout=30000)
    files = int(page.model.folders[0]["files"])
    assert files < 60
    # The folder says it is incomplete.
    last_update = page.model.index(0, 3)
    qtbot.waitUntil(lambda: page.model.data(last_update).startswith("Incomplete"), timeout=10000)
    window.shutdown()

    # Next launch: the indexing resumes by itself and completes the folder.
    again = make_window()
    qtbot.waitUntil(lambda: any(j.title.startswith("Resuming indexing") for j in again.jobs.jobs),
                    timeout=30000)
    with qtbot.waitSignal(again.library.statusChanged, timeout=240000,
                          check_params_cb=lambda s: any(int(f["files"]) == 60 and f["last_update"]
                                                        for f in s["folders"])):
        pass
    qtbot.waitUntil(lambda: not again.library_page.model.data(
        again.library_page.model.index(0, 3)).startswith("Incomplete"), timeout=10000)


def test_problems_of_several_folders_name_their_folder(qtbot, window, tmp_path):
    page = window.library_page
    folders = []
    for name in ("letters", "manuals"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "note.txt").write_text(f"A readable note in {name}.\n", encoding="utf-8")
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
        folders.append(str(folder))
    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: len(s.get("folders", [])) == 2
                          and not window.jobs.running("ingest")):
        page.add_paths(folders)
    page.table.clearSelection()
    qtbot.waitUntil(lambda: page.failures.count() == 2, timeout=10000)
    texts = sorted(page.failures.item(i).text() for i in range(2))
    assert texts[0].startswith("letters: broken.pdf — ") and texts[1].startswith("manuals: broken.pdf — ")
    page.table.selectRow(1)
    assert page.failures.count() == 1 and "in manuals" in page.failures_label.text()


def test_selected_folder_lists_its_files_with_state_reason_and_passages(qtbot, window, tmp_path):
    from desktop_app.core.library.store import FileStart

    folder = write_docs(tmp_path / "shelf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    page = window.library_page
    window.show_page(1)
    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))
                          and not window.jobs.running("ingest")):
        page.add_paths([str(folder)])
    # Nothing selected: no file list.
    page.table.clearSelection()
    assert not page.files_view.isVisible()

    page.table.selectRow(_folder_row(page, folder))
    qtbot.waitUntil(lambda: page.files_view.topLevelItemCount() == 4, timeout=10000)
    assert page.files_view.isVisible()
    rows = {page.files_view.topLevelItem(i).text(0): page.files_view.topLevelItem(i)
            for i in range(4)}
    assert set(rows) == {"volcanoes.md", "bread.txt", "notes.rst", "broken.pdf"}
    for name in ("volcanoes.md", "bread.txt", "notes.rst"):
        assert rows[name].text(1) == "Indexed"
        assert int(rows[name].text(2)) >= 1
    # The passage counts are the library's, which the folder row sums.
    total = sum(int(rows[n].text(2)) for n in ("volcanoes.md", "bread.txt", "notes.rst"))
    assert total == int(_cell(page, _folder_row(page, folder), 2))
    failed = rows["broken.pdf"]
    assert failed.text(1).startswith("Failed: ") and len(failed.text(1)) > len("Failed: ")
    assert failed.text(2) == ""
    assert "4 files: 3 indexed, 1 failed" in page.files_label.text()

    # A file whose indexing was cut off (what a crash mid-file leaves in the
    # store) reads as pending once the status is read again.
    library = window.services.library
    source_id = next(s.id for s in library.store.sources() if Path(s.path) == folder.resolve())
    library.store.write_batch([FileStart(str((folder / "bread.txt").resolve()), source_id)], None)
    with qtbot.waitSignal(window.library.statusChanged, timeout=10000):
        window.library.refresh_status()
    qtbot.waitUntil(lambda: any(page.files_view.topLevelItem(i).text(1).startswith("Pending")
                                for i in range(page.files_view.topLevelItemCount())), timeout=10000)
    assert "1 pending" in page.files_label.text()

    # Selecting nothing hides the list again.
    page.table.clearSelection()
    assert not page.files_view.isVisible()
