"""Screenshots of the real Hearth window for the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--no-answers]

Runs the real app on a real X server the way a user sees it: for each screen
size (1024x700 and 1920x1080) it starts Xvfb and the openbox window manager,
runs Hearth with Qt's xcb platform plugin (not offscreen: fonts, styles and
layout timing differ, and an offscreen-only check once hid overlapping
sidebar rows), and captures the screen with ImageMagick's ``import``. A
fresh demo data dir: it indexes the bundled sample folder, asks a question,
searches, opens a source (an HTML page, rendered, with the passage marked),
runs a short Fit to size search, and shows each page and dialog in the
light and the dark theme.

``--no-answers`` skips everything that runs the language model (the
questions, the evaluation of a variant, the fit search) for machines where
it cannot run.

Needs: apt-get install -y xvfb openbox imagemagick libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "resources" / "sample"
QUESTION = "When was Brannock Point Lighthouse first lit?"
SIZES = ((1024, 700), (1920, 1080))
# The README's main table, and the dialogs, are shot at this size.
MAIN_SIZE = (1024, 700)


# --- the outer process: an X server and a window manager per size -----------

def _start_x(width: int, height: int) -> tuple[subprocess.Popen, subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             f"{width}x{height}x24", "-dpi", "96", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = ":" + pipe.readline().strip()
    env = {**os.environ, "DISPLAY": display}
    wm = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return xvfb, wm, display


def run_outer(out: Path, no_answers: bool) -> int:
    missing = [tool for tool in ("Xvfb", "openbox", "import") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install -y xvfb openbox imagemagick",
              file=sys.stderr)
        return 2
    code = 0
    for width, height in SIZES:
        xvfb, wm, display = _start_x(width, height)
        try:
            env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
            env.pop("QT_SCALE_FACTOR", None)
            cmd = [sys.executable, __file__, "--inner", "--out", str(out), "--size", f"{width}x{height}"]
            if no_answers:
                cmd.append("--no-answers")
            code = subprocess.call(cmd, cwd=ROOT, env=env) or code
        finally:
            wm.terminate()
            xvfb.terminate()
            wm.wait(10)
            xvfb.wait(10)
    return code


# --- the inner process: the real app on that display ------------------------

def wait(app, predicate, timeout: float) -> bool:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(50)
    deadline = time.monotonic() + timeout
    timer.timeout.connect(lambda: (predicate() or time.monotonic() > deadline) and loop.quit())
    timer.start()
    loop.exec()
    timer.stop()
    return predicate()


def settle(app, seconds: float = 0.4) -> None:
    wait(app, lambda: False, seconds)


def shoot_screen(app, path: Path) -> None:
    """What is on the X server's screen (frames, dialogs and all)."""
    settle(app, 0.8)
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    os.chmod(path, 0o644)  # the app's umask is private; docs are not
    print(f"wrote {path}")


def make_variant(app, window, models, paths, evaluate: bool) -> None:
    default = next(e for e in models.entries if e.source == "default")
    variant = paths.models_dir / "gemma-3-270m-Q8_0.gguf"
    quant = models.quantize(str(default.path), str(variant), "Q8_0", from_f16=True)
    wait(app, lambda: not quant.running, 600)
    if evaluate:
        for path, parent in ((str(default.path), None), (str(variant), str(default.path))):
            job = models.evaluate(path, parent=parent, max_windows=4, n_ctx=256)
            wait(app, lambda: not job.running, 900)
        wait(app, lambda: window.models_page.compare_area.isVisibleTo(window.models_page), 60)
    wait(app, lambda: models.entries and any(str(e.path) == str(variant) for e in models.entries), 60)
    window.models_page.select_path(str(variant))


def open_dialog_and_shoot(app, open_dialog, path: Path) -> None:
    """Open a modal dialog (its exec() runs its own loop), shoot, close it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def shoot_and_close():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(100, shoot_and_close)
            return
        shoot_screen(app, path)
        dialog.reject()

    QTimer.singleShot(300, shoot_and_close)
    open_dialog()


def shoot_fit(app, window, path: Path, searched: dict, run_search: bool) -> None:
    """The Fit to size dialog for the default model; the first time it runs
    a real search (short: 4 steps, 2 windows, with llama.cpp's presets), later
    (the other theme) it shows that same result again."""
    page = window.models_page
    default = next(e for e in window.models.entries if e.source == "default")
    page.select_path(str(default.path))
    page.fit_button.click()
    dialog = page.fit_dialog
    dialog.file_mb.setValue(230)
    dialog.steps.setValue(4)
    dialog.windows.setValue(2)
    if run_search and "result" not in searched:
        job = dialog.start_search()
        wait(app, lambda: not job.running, 1800)
        searched["result"] = dialog.search_result
    elif searched.get("result") is not None:
        dialog.show_search(searched["result"])
    settle(app, 0.5)
    shoot_screen(app, path)
    dialog.reject()


def run_inner(out: Path, size: str, no_answers: bool) -> int:
    from desktop_app.app import build_gui
    from desktop_app.core.logs import setup_logging
    from desktop_app.core.paths import AppPaths
    from desktop_app.ui import theme

    width, height = (int(v) for v in size.split("x"))
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="hearth-demo-"))
    paths = AppPaths.at(data).ensure()
    setup_logging(paths)
    gui = build_gui(paths, autoload_model=not no_answers)
    gui.services.settings.max_tokens = 96
    app, window = gui.app, gui.window
    window.showMaximized()
    settle(app, 1.5)

    folder = Path(tempfile.mkdtemp(prefix="hearth-sample-")) / "Sample documents"
    shutil.copytree(SAMPLE, folder)
    job = window.library.add([str(folder)])
    wait(app, lambda: not job.running and window.library_page.model.rowCount() > 0, 600)
    settle(app, 1.0)

    window.show_page(0)
    if not no_answers:
        for question in (QUESTION, "What is 12.5% of 2,480 euros?"):
            window.chat_page.input.setPlainText(question)
            window.chat_page.send()
            ask = window.chat.ask_job
            wait(app, lambda: not ask.running, 600)
            settle(app, 1.0)
    window.chat_page.input.clear()
    # The viewer is shot on an HTML source: the page rendered, its passage marked.
    html_hits = []

    def keep_html(_query, hits):
        html_hits.extend(h for h in hits if Path(h.path).suffix.lower() in (".html", ".htm"))

    window.library.searchFinished.connect(keep_html)
    window.library.search("watering can or hose in summer")
    wait(app, lambda: bool(html_hits), 120)
    window.library.searchFinished.disconnect(keep_html)
    window.library_page.search_box.setText("fog horn visibility")
    window.library_page.run_search()
    wait(app, lambda: bool(window.library_page.hits), 120)
    models = window.models
    wait(app, lambda: bool(models.entries), 120)
    main = (width, height) == MAIN_SIZE
    if main:
        make_variant(app, window, models, paths, evaluate=not no_answers)
    wait(app, lambda: not window.jobs.running() and not window.job_panel.rows, 30)
    window.library_page.table.selectRow(0)

    suffix = "" if main else f"-{width}x{height}"
    searched: dict = {}   # the fit search, run once and shown in both themes
    for scheme in ("light", "dark"):
        theme.apply(app, scheme)
        for index, page in enumerate(("chat", "library", "models")):
            window.show_page(index)
            shoot_screen(app, out / f"{page}-{scheme}{suffix}.png")
        cards = window.chat_page.cards
        chips = cards[0].chip_buttons() if cards else []
        viewer = None
        if html_hits:  # an HTML page rendered, as opened from a search hit
            window.show_page(1)
            viewer = window.library_page.viewer
            viewer.show_source(html_hits[0])
        elif chips:  # a cited source, as from an answer
            window.show_page(0)
            viewer = window.chat_page.viewer
            chips[0].click()
        elif window.library_page.hits:  # else the first search hit
            window.show_page(1)
            viewer = window.library_page.viewer
            viewer.show_source(window.library_page.hits[0])
        if viewer is not None and viewer.isVisible():
            wait(app, lambda: viewer.highlighted is not None or viewer.current_pdf_page, 30)
            shoot_screen(app, out / f"viewer-{scheme}{suffix}.png")
            viewer.hide()
        if main:
            window.show_page(2)
            page = window.models_page
            open_dialog_and_shoot(app, window.open_settings, out / f"settings-{scheme}.png")
            open_dialog_and_shoot(app, page.quantize_button.click, out / f"quantize-{scheme}.png")
            open_dialog_and_shoot(app, page.prune_button.click, out / f"prune-{scheme}.png")
            shoot_fit(app, window, out / f"fit-{scheme}.png", searched, run_search=not no_answers)
            window.show_page(1)
            open_dialog_and_shoot(app, window.library_page.remove_selected, out / f"remove-{scheme}.png")
    gui.jobs.cancel_all()
    gui.shutdown()
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(folder.parent, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--no-answers", action="store_true",
                        help="skip what runs the language model (questions, evaluation)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="1024x700", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inner:
        return run_outer(args.out.resolve(), args.no_answers)
    code = run_inner(args.out.resolve(), args.size, args.no_answers)
    # Leave without the interpreter's teardown, as the app does
    # (desktop_app/__main__.py): collecting Qt wrappers at finalization
    # intermittently aborts in PySide6 6.12 ("bool_dealloc").
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
