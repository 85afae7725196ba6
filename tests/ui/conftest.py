"""UI test setup: real services in tmp_path (with the session's real
embedder and default model) and the real main window."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop_app.core.paths import AppPaths
from desktop_app.core.services import Services


def _share_default_model(default_llm: Path, models_dir: Path) -> None:
    """Hard-link the session's assembled default model (and its checksum
    marker) so each test's data dir has it without copying 250 MB."""
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / default_llm.name
    try:
        os.link(default_llm, target)
    except OSError:
        shutil.copy2(default_llm, target)
    marker = default_llm.with_suffix(".verified")
    if marker.exists() and target.stat().st_ino == default_llm.stat().st_ino:
        shutil.copy2(marker, target.with_suffix(".verified"))


@pytest.fixture
def services(tmp_path, embedder, default_llm):
    paths = AppPaths.at(tmp_path / "data").ensure()
    _share_default_model(Path(default_llm), paths.models_dir)
    s = Services(paths)
    s._embedder = embedder  # the session's real embedder, loaded once
    yield s
    s.close()


@pytest.fixture
def make_window(qtbot, services):
    """Build the real main window; teardown cancels jobs and waits for them."""
    from desktop_app.ui import theme
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.workers import JobManager

    made = []

    def make(autoload_model: bool = False, **kwargs):
        theme.apply(QApplication.instance(), services.settings.theme)
        jobs = JobManager()
        window = MainWindow(services, jobs, autoload_model=autoload_model, **kwargs)
        qtbot.addWidget(window)
        # Teardown may close it while a job runs: answer the "Stop and close?"
        # question with yes instead of blocking on a modal box.
        window.confirm_close_during_jobs = lambda _count: True
        window.show()
        activate(window)
        made.append((window, jobs))
        return window

    yield make
    for window, jobs in made:
        window.shutdown()
        assert jobs.wait(60000), "jobs still running after shutdown"
    # Collect the test's cyclic garbage here, on the GUI thread: left to the
    # collector, it runs in whichever thread allocates next, and freeing Qt
    # wrappers from a worker thread segfaulted a later test's setup
    # (PySide6 6.12, "Garbage-collecting" in a job thread).
    gc.collect()


@pytest.fixture
def window(make_window):
    return make_window()


def activate(window) -> None:
    """Make ``window`` the active window (shortcuts need one)."""
    from PySide6.QtTest import QTest

    window.activateWindow()
    assert QTest.qWaitForWindowActive(window, 5000), "the window did not become active"


def drop_paths(widget, paths) -> None:
    """What the file manager does: a drag enters, then a drop with file URLs."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the widget refused the drag"
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, drop)


def write_docs(folder: Path, count: int = 3) -> Path:
    """A small real folder of documents with distinctive facts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "volcanoes.md").write_text(
        "# Volcanoes\n\nMount Zorblax erupted in 1783 and covered the valley in ash.\n\n"
        "## Monitoring\n\nSeismometers around Zorblax record tremors every hour.\n", encoding="utf-8")
    (folder / "bread.txt").write_text(
        "Sourdough bread needs a starter culture of wild yeast and lactobacilli.\n\n"
        "The dough rests for twelve hours before baking at 240 degrees.\n", encoding="utf-8")
    (folder / "notes.rst").write_text(
        "Garden notes\n============\n\nTomatoes need six hours of sun a day. Water them at the "
        "roots, not the leaves.\n", encoding="utf-8")
    for i in range(3, count):
        (folder / f"extra_{i:03d}.txt").write_text(
            f"Note number {i}. " + " ".join(f"word{i}_{j}" for j in range(120)) + "\n",
            encoding="utf-8")
    return folder


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real multi-page PDF with a text layer, written by Qt's PDF writer."""
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

    writer = QPdfWriter(str(path))
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.A4), QPageLayout.Portrait,
                                     QMarginsF(20, 20, 20, 20), QPageLayout.Millimeter))
    writer.setResolution(96)
    painter = QPainter(writer)
    for i, text in enumerate(pages):
        if i:
            writer.newPage()
        doc = QTextDocument()
        doc.setPlainText(text)
        doc.setTextWidth(painter.viewport().width())
        doc.drawContents(painter)
    painter.end()
    return path
