"""The window runs the same workflows as the command line: its quantize is
calibrated with an importance matrix for low-bit K types (the lineage says
so), and the models other apps keep are listed by a job, with the places
chosen in the Settings dialog."""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.llm.lineage import read_sidecar


def test_window_quantize_uses_the_importance_matrix_like_the_cli(qtbot, window):
    page = window.models_page
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=60000)
    entry = next(page.model.entry(r) for r in range(page.model.rowCount())
                 if page.model.entry(r).source == "default")
    out = window.services.paths.models_dir / "calibrated-Q4_K_S.gguf"
    job = page.start_quantize(entry, qtype="Q4_K_S", out=str(out), allow_requant=True)
    with qtbot.waitSignal(window.models.variantMade, timeout=600000) as made:
        pass
    assert job.state == "finished" and made.args[0] == str(out)
    lineage = read_sidecar(out)
    assert lineage["method"] == "quantize" and lineage["parent"] == str(Path(entry.path).resolve())
    settings = lineage["settings"]
    assert settings["type"] == "Q4_K_S"
    assert settings["imatrix"] == "computed from the calibration text"
    assert "windows of" in settings["calibration"]
    # the hidden matrix is gone once the variant is written
    assert not any(p.name.endswith(".imatrix.gguf") for p in out.parent.iterdir())


def test_other_apps_models_are_listed_by_a_job_and_chosen_in_settings(qtbot, window, tmp_path, default_llm,
                                                                       monkeypatch):
    from desktop_app.ui.settings_dialog import SettingsDialog

    home = tmp_path / "home"
    lm = home / ".lmstudio/models/lmstudio-community/gemma-GGUF/gemma-3-270m-it-Q4_K_M.gguf"
    lm.parent.mkdir(parents=True)
    os.link(default_llm, lm) if os.stat(default_llm).st_dev == os.stat(lm.parent).st_dev else \
        lm.write_bytes(default_llm.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    page = window.models_page

    def listed():
        return [page.model.entry(r) for r in range(page.model.rowCount())
                if page.model.entry(r).source == "lmstudio"]

    with qtbot.waitSignal(window.models.catalogChanged, timeout=60000):
        window.models.refresh_catalog()
    assert [e.app_name for e in listed()] == ["lmstudio-community/gemma-GGUF/gemma-3-270m-it-Q4_K_M.gguf"]
    row = page.model.row_of(str(lm))
    assert page.model.data(page.model.index(row, 5)) == "LM Studio"

    dialog = SettingsDialog(window.services.settings, window)
    qtbot.addWidget(dialog)
    box = dialog.editors["scan_lmstudio"]
    assert box.isChecked() and box.accessibleName() == "LM Studio"
    box.setChecked(False)
    with qtbot.waitSignal(window.models.catalogChanged, timeout=60000,
                          check_params_cb=lambda entries: not any(e.source == "lmstudio" for e in entries)):
        window.apply_settings(dialog.values())   # what Save in the dialog does
    assert listed() == []
    assert window.services.settings.scan_lmstudio is False


def test_model_details_say_whether_it_fits_and_what_the_gpu_setting_does(qtbot, window):
    window.services.settings.gpu_layers = 12
    page = window.models_page
    window.show_page(2)
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=60000)
    row = next(r for r in range(page.model.rowCount()) if page.model.entry(r).source == "default")
    page.table.selectRow(row)
    text = page.details.toPlainText()
    ctx = window.services.settings.context_length
    assert f"Memory at {ctx:,} tokens" in text and "KV cache" in text
    assert "Fits this computer?" in text and "free" in text
    # this machine's llama-cpp-python is a CPU build: the window says so
    assert "runs on the CPU only" in text and "GPU layers have no effect" in text


def test_quantize_dialog_calibrates_on_the_library_when_chosen(qtbot, window, tmp_path):
    """The Quantize dialog offers the user's library for the importance
    matrix only once it has passages; chosen, it reaches the core workflow
    (the lineage names the library)."""
    from desktop_app.ui.pages.model_dialogs import QuantizeDialog
    from tests.ui.conftest import write_docs

    page = window.models_page
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=60000)
    entry = next(page.model.entry(r) for r in range(page.model.rowCount())
                 if page.model.entry(r).source == "default")
    empty = QuantizeDialog(entry, window.services.paths.models_dir, window,
                           library_passages=window.models.library_passages)
    qtbot.addWidget(empty)
    assert window.models.library_passages == 0
    assert not empty.calibration.model().item(1).isEnabled() and "no passages" in empty.calibration.itemText(1)

    docs = write_docs(tmp_path / "docs", count=14)
    with qtbot.waitSignal(window.library.statusChanged, timeout=180000,
                          check_params_cb=lambda s: bool(s.get("folders")) and not window.jobs.running("ingest")):
        window.library.add([str(docs)])
    qtbot.waitUntil(lambda: window.models.library_passages > 0, timeout=30000)
    dialog = QuantizeDialog(entry, window.services.paths.models_dir, window,
                            library_passages=window.models.library_passages)
    qtbot.addWidget(dialog)
    assert dialog.calibration.model().item(1).isEnabled()
    dialog.calibration.setCurrentIndex(1)
    for row in range(dialog.types.count()):
        if dialog.types.item(row).text().startswith("Q4_K_S"):
            dialog.types.setCurrentRow(row)
    assert "passages of your library" in dialog.explain.text()
    dialog.allow_requant.setChecked(True)     # skip the F16 conversion: quicker, same calibration path
    values = dialog.values()
    assert values["calibration"] == "library" and values["qtype"] == "Q4_K_S"
    job = page.start_quantize(entry, **values)
    with qtbot.waitSignal(window.models.variantMade, timeout=600000):
        pass
    assert job.state == "finished"
    settings = read_sidecar(values["out"])["settings"]
    assert settings["calibration_source"] == "library"
    assert settings["calibration"].startswith("your library (")
    assert settings["imatrix"] == "computed from the calibration text"
