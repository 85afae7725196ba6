"""The Models page with the real catalog and llama.cpp: the default model
listed with its metadata, a bad file's error, the quantize dialog's advice,
quantizing as a job (cancelled, then completed into the catalog), loading a
model for chat."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from tests.ui.conftest import drop_paths


def _wait_catalog(qtbot, window):
    qtbot.waitUntil(lambda: window.models_page.model.rowCount() > 0, timeout=60000)


def _default_row(page):
    for row in range(page.model.rowCount()):
        if page.model.entry(row).source == "default":
            return row
    raise AssertionError("the default model is not listed")


def test_catalog_shows_the_default_model_and_a_bad_files_error(qtbot, window, tmp_path):
    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    row = _default_row(page)
    page.table.selectRow(row)
    assert page.model.data(page.model.index(row, 1)) == "Q4_K_M"
    assert page.model.data(page.model.index(row, 3)) == "18"
    assert "gemma3" in page.details.toPlainText()
    assert page.use_button.isEnabled() and page.quantize_button.isEnabled()

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    with qtbot.waitSignal(window.models.errorRaised, timeout=30000) as error:
        drop_paths(page, [bad])
    assert "broken.gguf" in error.args[0]
    assert page.banner.isVisible() and "broken.gguf" in page.banner.text()


def test_quantize_button_opens_a_dialog_that_explains_each_type(qtbot, window):
    """The dialog as the user gets it (the Quantize button, a modal window
    on screen): for an already-quantized model it shows the warning and
    offers "F16 first", checked; Cancel starts nothing."""
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    page.table.selectRow(_default_row(page))
    seen = {}

    def inspect():
        dialog = QApplication.activeModalWidget()
        try:
            assert dialog is not None and dialog.isVisible(), "no dialog on screen"
            seen["title"] = dialog.windowTitle()
            seen["items"] = [dialog.types.item(i).text() for i in range(dialog.types.count())]
            seen["qtype"] = dialog.qtype
            seen["f16_shown"] = dialog.from_f16.isVisible()
            seen["f16_checked"] = dialog.from_f16.isChecked()
            seen["requant_shown"] = dialog.allow_requant.isVisible()
            seen["requant_checked"] = dialog.allow_requant.isChecked()
            seen["explain"] = dialog.explain.text()
            for i in range(dialog.types.count()):
                if dialog.types.item(i).data(Qt.UserRole) == "Q2_K":
                    dialog.types.setCurrentRow(i)
            seen["explain_q2"] = dialog.explain.text()
            seen["out_q2"] = dialog.values()["out"]
            # Ticking "directly" unticks "F16 first": the two are exclusive.
            qtbot.mouseClick(dialog.allow_requant, Qt.LeftButton, pos=dialog.allow_requant.rect().center())
            seen["after_click"] = (dialog.from_f16.isChecked(), dialog.allow_requant.isChecked())
        finally:
            if dialog is not None:
                qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.Cancel), Qt.LeftButton)

    QTimer.singleShot(200, inspect)
    started = []
    window.jobs.jobStarted.connect(lambda job: started.append(job.kind))
    qtbot.mouseClick(page.quantize_button, Qt.LeftButton)
    assert seen, "the Quantize button opened no dialog"
    assert seen["title"].startswith("Quantize")
    assert any(t.startswith("Q8_0") and "MB" in t for t in seen["items"])
    # The source (Q4_K_M) is already quantized: the dialog says so and offers F16 first.
    assert seen["f16_shown"] and seen["f16_checked"]
    assert seen["requant_shown"] and not seen["requant_checked"]
    assert seen["after_click"] == (False, True)
    assert seen["qtype"] == "Q8_0"
    assert "Typical quality cost" in seen["explain"] and "expected size" in seen["explain"]
    assert "very large loss" in seen["explain_q2"]
    assert seen["out_q2"].endswith("-Q2_K.gguf")
    # Other jobs (a catalog scan) may end meanwhile; none may start from the dialog.
    assert [k for k in started if k != "catalog"] == [], f"Cancel started a job: {started}"


def test_quantize_job_cancels_cleanly_then_completes_into_the_catalog(qtbot, window):
    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    entry = page.model.entry(_default_row(page))
    models_dir = window.services.paths.models_dir
    before = set(models_dir.iterdir())

    out = models_dir / "cancelled-Q8_0.gguf"
    job = page.start_quantize(entry, qtype="Q8_0", out=str(out), allow_requant=True)
    row = window.job_panel.row_for(job)
    assert row is not None and row.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: job.progress is not None and job.progress.done > 0, timeout=60000)
    with qtbot.waitSignal(job.cancelled, timeout=30000):
        qtbot.mouseClick(row.cancel_button, Qt.LeftButton)
    assert row.status.text() == "Cancelled"
    assert not out.exists()
    assert set(models_dir.iterdir()) == before, "a cancelled quantize left files behind"

    out = models_dir / "small-Q8_0.gguf"
    job = page.start_quantize(entry, qtype="Q8_0", out=str(out), allow_requant=True)
    with qtbot.waitSignal(window.models.catalogChanged, timeout=180000,
                          check_params_cb=lambda entries: any(Path(e.path).name == out.name
                                                              for e in entries)):
        pass
    assert job.state == "finished"
    row = page.model.row_of(str(out))
    assert row is not None
    assert page.model.data(page.model.index(row, 1)) == "Q8_0"
    assert page.model.data(page.model.index(row, 5)).startswith("Quantize of")
    assert "Made small-Q8_0.gguf" in page.banner.text()


def test_use_for_chat_loads_the_model_and_shows_it(qtbot, window):
    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    page.table.selectRow(_default_row(page))
    with qtbot.waitSignal(window.models.modelChanged, timeout=120000):
        qtbot.mouseClick(page.use_button, Qt.LeftButton)
    assert "Gemma" in window.model_status.text() or "gemma" in window.model_status.text()
    active = page.model.data(page.model.index(_default_row(page), 0))
    assert active.startswith("● ")
    # Remembered for the next start.
    assert window.services.settings.model_path


def test_use_for_chat_on_a_model_that_crashes_llama_cpp_keeps_the_loaded_one(qtbot, window, tmp_path):
    """A file that passes every header check but makes llama.cpp abort the
    process: the window stays up, says why in one sentence, and the model
    that was loaded stays loaded."""
    from tests.gguf_edit import copy_with_token

    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    page.table.selectRow(_default_row(page))
    with qtbot.waitSignal(window.models.modelChanged, timeout=120000):
        qtbot.mouseClick(page.use_button, Qt.LeftButton)
    loaded_label = window.model_status.text()
    default_path = window.models.loaded_path

    bad = copy_with_token(Path(default_path), tmp_path / "duplicate-token.gguf", 2, "<eos>")
    with qtbot.waitSignal(window.models.catalogChanged, timeout=60000,
                          check_params_cb=lambda entries: any(Path(e.path).name == bad.name for e in entries)):
        drop_paths(page, [bad])
    row = page.model.row_of(str(bad))
    assert row is not None
    page.table.selectRow(row)
    assert page.use_button.isEnabled()
    with qtbot.waitSignal(window.models.loadFailed, timeout=120000) as failed:
        qtbot.mouseClick(page.use_button, Qt.LeftButton)
    assert "duplicate-token.gguf cannot be used" in failed.args[0]
    assert page.banner.isVisible() and "duplicate-token.gguf cannot be used" in page.banner.text()
    assert window.model_status.text() == loaded_label
    assert window.services.llm.loaded is not None
    assert str(window.services.llm.loaded.path) == default_path
    assert window.services.settings.model_path != str(bad)
