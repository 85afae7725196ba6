"""Screenshots of the real Hearth window for the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Runs the real app under Xvfb (re-executing itself through ``xvfb-run`` when
there is no display), with a fresh demo data dir: it indexes the bundled
sample folder, asks a question, opens a cited source, and grabs each page in
the light and the dark palette, plus the chat page at 200% scaling.
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


def relaunch_under_xvfb(argv: list[str]) -> int:
    if shutil.which("xvfb-run") is None:
        print("xvfb-run is missing: apt-get install -y xvfb", file=sys.stderr)
        return 2
    screen = "2700x1800x24" if os.environ.get("QT_SCALE_FACTOR") == "2" else "1600x1000x24"
    cmd = ["xvfb-run", "-a", "-s", f"-screen 0 {screen} -dpi 96", sys.executable, __file__,
           "--inner", *argv]
    return subprocess.call(cmd, cwd=ROOT)


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


def make_variants(app, window, models, paths) -> None:
    default = next(e for e in models.entries if e.source == "default")
    variant = paths.models_dir / "gemma-3-270m-Q8_0.gguf"
    quant = models.quantize(str(default.path), str(variant), "Q8_0", from_f16=True)
    wait(app, lambda: not quant.running, 600)
    for path, parent in ((str(default.path), None), (str(variant), str(default.path))):
        job = models.evaluate(path, parent=parent, max_windows=4, n_ctx=256)
        wait(app, lambda: not job.running, 900)
    wait(app, lambda: window.models_page.compare_area.isVisibleTo(window.models_page), 60)
    window.models_page.select_path(str(variant))


def inner(out: Path, scale_only: bool) -> int:
    from desktop_app.app import build_gui
    from desktop_app.core.logs import setup_logging
    from desktop_app.core.paths import AppPaths
    from desktop_app.ui import theme

    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="hearth-demo-"))
    paths = AppPaths.at(data).ensure()
    setup_logging(paths)
    gui = build_gui(paths, autoload_model=True)
    gui.services.settings.max_tokens = 96
    app, window = gui.app, gui.window
    window.resize(1280, 820)
    window.show()
    settle(app, 1.0)

    folder = Path(tempfile.mkdtemp(prefix="hearth-sample-")) / "Sample documents"
    shutil.copytree(SAMPLE, folder)
    job = window.library.add([str(folder)])
    wait(app, lambda: not job.running and window.library_page.model.rowCount() > 0, 600)
    settle(app, 1.0)

    window.show_page(0)
    window.chat_page.input.setPlainText(QUESTION)
    window.chat_page.send()
    ask = window.chat.ask_job
    wait(app, lambda: not ask.running, 600)
    settle(app, 1.5)
    window.chat_page.input.setPlainText("What is 12.5% of 2,480 euros?")
    window.chat_page.send()
    ask = window.chat.ask_job
    wait(app, lambda: not ask.running, 600)
    window.chat_page.input.clear()
    settle(app, 1.5)
    window.library_page.search_box.setText("fog horn visibility")
    window.library_page.run_search()
    wait(app, lambda: bool(window.library_page.hits), 120)
    # A smaller variant of the default model, both evaluated (a short run),
    # so the Models page shows lineage and the comparison.
    models = window.models
    wait(app, lambda: bool(models.entries), 120)
    if not scale_only:  # only the chat page is shot at 200%
        make_variants(app, window, models, paths)
    window.job_panel.jobs.forget_ended()

    def grab(name: str) -> None:
        settle(app, 0.6)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        os.chmod(path, 0o644)  # the app's umask is private; docs are not
        print(f"wrote {path}")

    schemes = ["light", "dark"] if not scale_only else ["light"]
    suffix = "-200" if scale_only else ""
    for scheme in schemes:
        theme.apply(app, scheme)
        for index, page in enumerate(("chat", "library", "models")):
            if scale_only and page != "chat":
                continue
            window.show_page(index)
            grab(f"{page}-{scheme}{suffix}")
        if not scale_only:
            cards = window.chat_page.cards
            chips = cards[0].chip_buttons() if cards else []
            if chips:
                window.show_page(0)
                chips[0].click()
                viewer = window.chat_page.viewer
                wait(app, lambda: viewer.highlighted is not None or viewer.current_pdf_page, 30)
                settle(app, 1.0)
                viewer.grab().save(str(out / f"viewer-{scheme}.png"))
                os.chmod(out / f"viewer-{scheme}.png", 0o644)
                print(f"wrote {out / f'viewer-{scheme}.png'}")
                viewer.hide()
    gui.jobs.cancel_all()
    gui.shutdown()
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(folder.parent, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scale-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inner:
        rest = ["--out", str(args.out)]
        code = relaunch_under_xvfb(rest)
        if code == 0:  # the same at 200% scaling
            os.environ["QT_SCALE_FACTOR"] = "2"
            code = relaunch_under_xvfb([*rest, "--scale-only"])
        return code
    return inner(args.out.resolve(), args.scale_only)


if __name__ == "__main__":
    sys.exit(main())
