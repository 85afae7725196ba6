"""Smaller things a new user meets (issue 14, item 11): the window keeps its
size, the empty chat says what the library holds, Settings is wide enough
and opens with Ctrl+,, file dialogs start in the home folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.ui.conftest import activate, write_docs


def test_the_window_size_is_kept_between_runs(qtbot, make_window):
    # (smaller than the offscreen test screen, 800x600: Qt fits a restored
    # window to the screen)
    first = make_window()
    first.resize(300, 560)   # as narrow as it goes, and shorter than it opens
    qtbot.waitUntil(lambda: first.height() == 560, timeout=2000)
    size = first.size()
    first.shutdown()
    second = make_window()
    assert second.size() == size
    assert not second.job_dock.isVisible()


def test_the_empty_chat_says_what_the_library_holds(qtbot, window, tmp_path):
    welcome = window.chat_page.welcome
    qtbot.waitUntil(lambda: "Add folders" in welcome.text(), timeout=30000)
    with qtbot.waitSignal(window.library.statusChanged, timeout=120000,
                          check_params_cb=lambda s: bool(s.get("folders"))
                          and not window.jobs.running("ingest")):
        window.library.add([str(write_docs(tmp_path / "docs"))])
    qtbot.waitUntil(lambda: "3 files in 1 folder" in welcome.text(), timeout=10000)
    assert "Add folders" not in welcome.text()


def test_settings_open_with_ctrl_comma_wide_enough_to_read(qtbot, window):
    activate(window)
    seen = []

    def close_it():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(50, close_it)
            return
        seen.append((dialog.windowTitle(), dialog.width()))
        dialog.reject()

    QTimer.singleShot(100, close_it)
    qtbot.keyClick(window, Qt.Key_Comma, Qt.ControlModifier)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    title, width = seen[0]
    assert title == "Settings" and width >= 450


def test_file_dialogs_open_in_the_home_folder(qtbot, window, monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda parent, caption, folder="", *a, **k: asked.append(folder) or ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda parent, caption, folder="", *a, **k: asked.append(folder) or ([], "")))
    window.library_page.choose_folder()
    window.models_page.choose_model_file()
    assert asked and all(Path(folder) == Path.home() for folder in asked)


def test_settings_speak_plainly_and_offer_a_browse_button(qtbot, window, monkeypatch, tmp_path):
    from desktop_app.ui.settings_dialog import LABELS, SettingsDialog

    dialog = SettingsDialog(window.services.settings, window)
    qtbot.addWidget(dialog)
    backend = dialog.editors["embedder_backend"]
    texts = [backend.itemText(i) for i in range(backend.count())]
    assert all("-" not in t.split(" (")[0] for t in texts) and any(t.startswith("Fast") for t in texts)
    for name, editor in dialog.editors.items():
        tip = editor.toolTip()
        assert tip and tip.lower().rstrip(".") != LABELS[name].lower(), name
    model = tmp_path / "bigger.gguf"
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(model), "")))
    qtbot.mouseClick(dialog.browse_button, Qt.LeftButton)
    assert dialog.values()["model_path"] == str(model)


def test_tab_goes_from_send_to_the_conversation(qtbot, window):
    page = window.chat_page
    window.show_page(0)
    activate(window)
    window.job_dock.show()   # the Jobs panel is open and must not come first
    page.input.setPlainText("a question")
    page.send_button.setFocus()
    qtbot.keyClick(page.send_button, Qt.Key_Tab)
    focused = QApplication.focusWidget()
    assert focused is page.scroll or page.scroll.isAncestorOf(focused), focused
    window.job_dock.hide()
