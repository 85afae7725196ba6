"""The composition root of the window: build the services once, hand them to
the UI, run the event loop, and shut down cleanly.

Only Qt and Hearth's light modules are imported here; torch,
sentence-transformers and llama.cpp load later on worker threads, after the
window has painted, so the window appears fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Optional

from desktop_app.core.paths import RESOURCES_DIR, AppPaths

log = logging.getLogger(__name__)

ICON_PATH = RESOURCES_DIR / "icons" / "hearth.svg"


def parse_gui_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hearth", add_help=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--self-test", action="store_true",
                        help="open the window, check the services, close (installer check)")
    parser.add_argument("command", nargs="?", choices=["gui"], default=None)
    args, _qt_args = parser.parse_known_args(argv)
    return args


def app_icon():
    from PySide6.QtGui import QIcon

    icon = QIcon(str(ICON_PATH))
    png = ICON_PATH.with_name("hearth-256.png")
    if png.exists():
        icon.addFile(str(png))
    return icon


def make_qapplication(argv: Optional[list[str]] = None):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0], *(argv or [])])
    app.setApplicationName("Hearth")
    app.setApplicationDisplayName("Hearth")
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")
    app.setWindowIcon(app_icon())
    return app


@dataclass
class Gui:
    """What ``build_gui`` made: the pieces a self-test or a test drives."""

    app: object
    services: object
    jobs: object
    window: object
    # The library database found damaged (and moved aside) at startup.
    damage: object = None

    def shutdown(self) -> None:
        self.window.shutdown()
        self.services.close()


def build_gui(paths: AppPaths, *, services=None, autoload_model: bool = True,
              argv: Optional[list[str]] = None) -> Gui:
    from desktop_app.core.services import Services
    from desktop_app.ui import theme
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.workers import JobManager

    app = make_qapplication(argv)
    services = services if services is not None else Services(paths)
    theme.apply(app, services.settings.theme)
    try:  # follow the desktop's light/dark switch while running (Qt >= 6.5)
        app.styleHints().colorSchemeChanged.connect(
            lambda _scheme: services.settings.theme == "system" and theme.apply(app, "system"))
    except AttributeError:
        pass
    jobs = JobManager()
    window = MainWindow(services, jobs, autoload_model=autoload_model)
    damage = _check_library(paths)
    if damage is not None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: offer_rebuild(window, damage))
    return Gui(app=app, services=services, jobs=jobs, window=window, damage=damage)


def _check_library(paths: AppPaths):
    from desktop_app.core.library.database import check_database

    return check_database(paths.library_dir / "library.sqlite3")


def offer_rebuild(window, damage, ask=None):
    """Tell the user the library database was damaged (it is already moved
    aside) and offer to index the saved folders again. Returns the job."""
    from desktop_app.core.library.fsnames import to_fs

    if ask is None:
        from PySide6.QtWidgets import QMessageBox

        def ask(text: str) -> bool:
            if not damage.folders:
                QMessageBox.warning(window, "Library damaged", text)
                return False
            answer = QMessageBox.question(window, "Library damaged", text + "\n\nRebuild the library now?")
            return answer == QMessageBox.StandardButton.Yes

    text = str(damage).replace("Run `hearth library rebuild` to", "Hearth can")
    if ask(text) and damage.folders:
        return window.library.add([to_fs(p) for p in damage.folders])
    return None


def run_gui(argv: list[str]) -> int:
    if "--self-test" in argv:
        # The installer's end-to-end check (offline, fresh temp data dir):
        # desktop_app/selftest.py, which runs this window's own startup
        # self-test (ui/self_test.py) as one of its checks.
        from desktop_app.selftest import main as self_test_main

        return self_test_main(argv)
    args = parse_gui_args(list(argv))
    from desktop_app.core.logs import setup_logging

    from desktop_app.core.paths import DataDirError

    try:
        paths = AppPaths.at(args.data_dir).ensure()
    except DataDirError as exc:
        # Before any window: say it where the user started us, and in a box.
        print(f"hearth: {exc}", file=sys.stderr)
        from PySide6.QtWidgets import QMessageBox

        make_qapplication()
        QMessageBox.critical(None, "Hearth cannot start", str(exc))
        return 2
    setup_logging(paths, verbose=args.verbose)
    log.info("starting the window (data dir %s)", paths.data_dir)
    gui = build_gui(paths)
    gui.window.show()
    if args.self_test:
        from desktop_app.ui.self_test import run_self_test

        code = run_self_test(gui)
    else:
        code = gui.app.exec()
    gui.shutdown()
    log.info("window closed (exit code %s)", code)
    return int(code)
