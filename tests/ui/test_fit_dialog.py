"""Fit to size in the window, on the real default model (Gemma 3 270M
Q4_K_M, so the search converts it to F16 first): the dialog opens from the
Models page, a real search runs as a job (kept short: a budget just above
the start preset's 253 MB, so only the two smallest up-steps fit, one search
step, two text windows), the chart shows the measured points with the preset
marked, the table preselects the best within the budget, and building it
adds a catalog entry with lineage that loads. Stop cancels a search and
leaves no file; a budget below the smallest reachable size says so."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.llm.lineage import read_sidecar
from tests.ui.test_models_page import _default_row, _wait_catalog


def _open(qtbot, window):
    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    page.table.selectRow(_default_row(page))
    assert page.fit_button.isEnabled()
    page.fit_button.click()
    dialog = page.fit_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.steps.setValue(1)
    dialog.windows.setValue(2)
    dialog.presets.setChecked(False)
    return page, dialog


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_fit_dialog_searches_charts_and_builds_a_variant_that_loads(qtbot, window):
    page, dialog = _open(qtbot, window)
    models_dir = window.services.paths.models_dir
    before = _files(models_dir)
    # A memory budget says which file size it allows (Hearth's estimate).
    dialog.by_memory.setChecked(True)
    dialog.memory_mb.setValue(400)
    dialog.context.setValue(2048)
    note = dialog.budget_note.text()
    assert "400 MB at 2,048 tokens" in note and "allows a file of at most" in note
    budget = dialog.budget()
    assert 0 < budget.file_bytes < 400_000_000 and budget.memory_bytes == 400_000_000
    dialog.memory_mb.setValue(50)
    assert "less than this model needs" in dialog.budget_note.text()
    assert not dialog.search_button.isEnabled()

    dialog.by_file.setChecked(True)
    dialog.file_mb.setValue(254)
    assert dialog.search_button.isEnabled()
    with qtbot.waitSignal(dialog.searched, timeout=900000) as searched:
        job = dialog.start_search()
        assert job is not None and dialog.stop_button.isEnabled()
    search = searched.args[0]
    assert job.state == "finished"
    assert search.via_f16 and search.budget.file_bytes == 254_000_000
    measured = search.measured
    assert len(measured) >= 2, "the start preset and at least one mix"
    # the chart drew one mark per candidate, the start preset marked as a preset
    dialog.chart.grab()   # paint now
    kinds = [kind for kind, _c, _p in dialog.chart.marks]
    assert len(kinds) == len(measured) and kinds.count("preset") == 1 and "Q4_K_M" in [
        c.name for kind, c, _p in dialog.chart.marks if kind == "preset"]
    assert {"front", "mix"} & set(kinds)
    # KL axis from zero: every point lies inside the plot, none on its bottom edge unless KL is 0
    assert all(p.y() < dialog.chart.height() for _k, _c, p in dialog.chart.marks)
    assert "candidates" in dialog.chart.accessibleDescription()
    # the table lists them all, the best within the budget preselected
    assert dialog.table.rowCount() == len(measured)
    best = search.best
    assert best is not None and best.file_size <= 254_000_000
    assert dialog.selected_candidate() == best
    assert "Proposed" in dialog.status.text() and dialog.build_button.isEnabled()
    assert _files(models_dir) == before, "search work files left behind"

    out = models_dir / "gemma-fit-test.gguf"
    dialog.output.setText(str(out))
    dialog.evaluate_windows = 2
    # Stop during the build: no half-written model, no work files
    stopped = dialog.start_build()
    qtbot.waitUntil(lambda: stopped.progress is not None and stopped.progress.stage in ("building", "quantizing"),
                    timeout=300000)
    with qtbot.waitSignal(stopped.ended, timeout=60000):
        dialog.stop_button.click()
    assert stopped.state == "cancelled" and "Stopped" in dialog.status.text()
    assert _files(models_dir) == before, "a cancelled build left files"
    assert dialog.build_button.isEnabled() and dialog.output.text() == str(out)   # the name typed stays
    with qtbot.waitSignal(dialog.built, timeout=900000) as built:
        assert dialog.start_build() is not None
    result = built.args[0]
    assert out.is_file() and out.stat().st_size == best.file_size
    lineage = read_sidecar(out)
    default = page.model.entry(_default_row(page))
    assert lineage["method"] == "fit" and lineage["parent"] == str(Path(default.path).resolve())
    assert lineage["settings"]["overrides"] == dict(best.types)
    assert lineage["settings"]["via"] == "F16" and "Q4_K_M" in lineage["settings"]["warning"]
    assert result.evaluation is not None and result.evaluation.kl_mean is not None
    assert "evaluation" in lineage or read_sidecar(out).get("evaluation")
    assert "Built" in dialog.status.text()
    qtbot.waitUntil(lambda: page.model.row_of(str(out)) is not None, timeout=60000)
    entry = page.model.entry(page.model.row_of(str(out)))
    assert entry.info is not None and entry.info.lineage["method"] == "fit"
    page.select_path(str(out))
    details = page.details.toPlainText()
    assert "Fit of gemma" in details and "fitted to a file of at most 254 MB" in details
    assert "KL from parent" in details      # the build's evaluation, stored with the model
    # ...and it loads for chat
    with qtbot.waitSignal(window.models.modelChanged, timeout=120000):
        window.models.load_active(str(out))
    assert Path(window.models.loaded_path) == out
    dialog.close_button.click()
    assert not dialog.isVisible()


def test_stop_cancels_a_search_and_a_budget_too_small_is_one_sentence(qtbot, window):
    page, dialog = _open(qtbot, window)
    models_dir = window.services.paths.models_dir
    before = _files(models_dir)
    dialog.file_mb.setValue(200)   # below the start preset: a long search
    job = dialog.start_search()
    qtbot.waitUntil(lambda: "Measuring" in dialog.status.text(), timeout=300000)
    with qtbot.waitSignal(job.ended, timeout=60000):
        dialog.stop_button.click()
    assert job.state == "cancelled"
    assert "Stopped" in dialog.status.text() and dialog.search_button.isEnabled()
    assert _files(models_dir) == before, "a cancelled search left files"

    dialog.file_mb.setValue(100)   # the smallest this model can get is ~149 MB
    with qtbot.waitSignal(dialog.searched, timeout=600000) as searched:
        dialog.start_search()
    search = searched.args[0]
    assert search.best is None
    text = dialog.status.text()
    assert text.startswith("Nothing fits") and "the smallest file Hearth can make from this model is about" in text
    assert f"{search.smallest_reachable / 1e6:,.0f} MB" in text and search.smallest_reachable > 100_000_000
    assert not dialog.build_button.isEnabled()
    assert _files(models_dir) == before
