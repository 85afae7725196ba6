"""Cancelling each kind of model job from the Models page with the real core
(model load, prune, evaluate): the job panel says "Cancelled" and nothing
half-written is left in the models folder; the Prune and Evaluate dialogs
explain what each choice means before anything runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from tests.ui.test_models_page import _default_row, _wait_catalog


def _select_default(qtbot, window):
    window.show_page(2)
    page = window.models_page
    _wait_catalog(qtbot, window)
    page.table.selectRow(_default_row(page))
    return page, page.model.entry(_default_row(page))


def _cancel_from_panel(qtbot, window, job, *, after_progress: bool = True,
                       when=lambda progress: True) -> None:
    row = window.job_panel.row_for(job)
    assert row is not None and row.cancel_button.isEnabled()
    if after_progress:  # cancel mid-work, not before the job began
        qtbot.waitUntil(lambda: (job.progress is not None and when(job.progress)) or not job.running,
                        timeout=120000)
    assert job.running, f"the job ended before it could be cancelled: {job.state} {job.message}"
    with qtbot.waitSignal(job.ended, timeout=120000):
        qtbot.mouseClick(row.cancel_button, Qt.LeftButton)
    assert job.state == "cancelled", job.message
    assert row.status.text() == "Cancelled"
    assert not row.cancel_button.isEnabled()


def _click_and_accept(qtbot, button, title: str, fill) -> None:
    """Click ``button``, which opens a modal dialog titled ``title...``; let
    ``fill(dialog)`` choose, then press OK."""
    opened = []

    def accept():
        dialog = QApplication.activeModalWidget()
        assert dialog is not None and dialog.windowTitle().startswith(title)
        fill(dialog)
        opened.append(dialog)
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.Ok), Qt.LeftButton)

    QTimer.singleShot(200, accept)
    qtbot.mouseClick(button, Qt.LeftButton)
    assert opened, f"no {title} dialog opened"


def test_cancelling_a_model_load_leaves_no_model_loaded(qtbot, window):
    page, entry = _select_default(qtbot, window)
    job = window.models.load_active(str(entry.path))
    # Cancel at once: loading a 270M model takes far longer than a click.
    _cancel_from_panel(qtbot, window, job, after_progress=False)
    assert window.models.loaded_path is None
    assert window.model_status.text() == "Model: not loaded"
    assert not window.services.settings.model_path, "a cancelled load was remembered"


def test_prune_button_starts_the_chosen_prune_and_cancel_stops_it(qtbot, window):
    page, entry = _select_default(qtbot, window)
    models_dir = window.services.paths.models_dir
    before = sorted(p.name for p in models_dir.iterdir())
    chosen = []

    def two_blocks(dialog):
        dialog.count.setValue(2)
        chosen.append(dialog.output.text())

    _click_and_accept(qtbot, page.prune_button, "Prune", two_blocks)
    assert chosen and chosen[0].endswith("-pruned2.gguf")
    [job] = window.jobs.running("prune")
    _cancel_from_panel(qtbot, window, job)  # while it ranks the blocks
    assert sorted(p.name for p in models_dir.iterdir()) == before


def test_cancelling_a_prune_while_writing_leaves_no_partial_file(qtbot, window):
    _page, entry = _select_default(qtbot, window)
    models_dir = window.services.paths.models_dir
    before = sorted(p.name for p in models_dir.iterdir())
    out = models_dir / "cancelled-pruned.gguf"
    # Named blocks: no ranking, the job goes straight to writing the file.
    job = window.models.prune(str(entry.path), str(out), [8, 9])
    qtbot.waitUntil(lambda: not job.running or (
        job.progress is not None and job.progress.stage == "writing pruned model"
        and job.progress.done > 0), timeout=120000)
    partial = [p.name for p in models_dir.iterdir() if p.name.endswith(".hearth-part")]
    assert partial, "no partial file while writing: the test would prove nothing"
    _cancel_from_panel(qtbot, window, job)
    assert not out.exists()
    assert sorted(p.name for p in models_dir.iterdir()) == before, \
        "a cancelled prune left files in the models folder"


def test_evaluate_button_asks_how_thorough_and_cancel_stores_nothing(qtbot, window):
    page, entry = _select_default(qtbot, window)
    models_dir = window.services.paths.models_dir
    before = sorted(p.name for p in models_dir.iterdir())
    shown = []

    def quick(dialog):
        dialog.depths.setCurrentRow(0)
        shown.append(dialog.explain.text())

    _click_and_accept(qtbot, page.evaluate_button, "Evaluate", quick)
    assert shown and "Quick" in shown[0] and "2,048 tokens" in shown[0]
    [job] = window.jobs.running("evaluate")
    _cancel_from_panel(qtbot, window, job)
    assert sorted(p.name for p in models_dir.iterdir()) == before, \
        "a cancelled evaluation left files (or a stored result) behind"
    assert "Evaluated" not in page.banner.text()


def test_evaluate_dialog_says_what_is_measured(qtbot, window):
    from desktop_app.ui.pages.model_dialogs import EvaluateDialog

    _page, entry = _select_default(qtbot, window)
    alone = EvaluateDialog(entry, None, window)
    qtbot.addWidget(alone)
    intro = alone.findChildren(type(alone.explain))[0].text()
    assert "perplexity" in intro and "no recorded parent" in intro
    assert alone.values() == {"max_windows": 16, "parent": None}  # Standard by default
    assert "Standard" in alone.explain.text() and "8,192 tokens with the model" in alone.explain.text()
    alone.depths.setCurrentRow(2)
    assert "Thorough" in alone.explain.text() and "twice as long" in alone.explain.text()
    assert alone.values()["max_windows"] == 32

    # A variant whose parent is on disk: the comparison is part of the run.
    variant = EvaluateDialog(entry, str(entry.path), window)
    qtbot.addWidget(variant)
    intro = variant.findChildren(type(variant.explain))[0].text()
    assert "KL divergence" in intro and Path(entry.path).name in intro
    assert "with both models" in variant.explain.text()
    # A parent that was deleted: nothing to compare with, and it says so.
    gone = EvaluateDialog(entry, str(Path(entry.path).with_name("deleted.gguf")), window)
    qtbot.addWidget(gone)
    assert gone.values()["parent"] is None


def test_prune_dialog_explains_each_choice(qtbot, window):
    from desktop_app.ui.pages.model_dialogs import PruneDialog

    _page, entry = _select_default(qtbot, window)
    dialog = PruneDialog(entry, window.services.paths.models_dir, window)
    qtbot.addWidget(dialog)
    assert "18" in dialog.findChildren(type(dialog.explain))[0].text()  # the intro names the blocks
    one = dialog.explain.text()
    assert "Removes 1 of 18 blocks" in one
    assert "Expected size" in one and "Expected quality cost: small to moderate" in one
    assert dialog.values() == {"remove": 1, "out": dialog.output.text()}
    assert dialog.output.text().endswith("-pruned1.gguf")

    dialog.count.setValue(6)
    six = dialog.explain.text()
    assert "Removes 6 of 18 blocks" in six and "severe" in six
    # More blocks removed: a smaller expected file.
    size = lambda text: text.split("Expected size ≈ ", 1)[1].split(" (now", 1)[0]  # noqa: E731
    assert size(six) != size(one)
    assert dialog.output.text().endswith("-pruned6.gguf")
    assert dialog.count.maximum() == 17
