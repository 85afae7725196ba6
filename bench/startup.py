"""Time from process start to the Hearth window shown (first paint), against
a bare QApplication + QWidget measured in the same run.

    .venv/bin/python bench/startup.py [--runs 3]

Target: the window appears within 2 s (heavy libraries load after the first
paint, on worker threads). Runs with the platform in QT_QPA_PLATFORM
(offscreen when unset and no display is available).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "HEARTH-SHOWN"


def child(kind: str, data_dir: str) -> None:
    from PySide6.QtCore import QEvent, QObject

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Paint:
                print(MARK, flush=True)
                os._exit(0)  # measured: skip the orderly shutdown
            return False

    if kind == "bare":
        from PySide6.QtWidgets import QApplication, QWidget

        app = QApplication([])
        widget = QWidget()
        widget.setWindowTitle("bare")
        widget.resize(1180, 780)
        spy = FirstPaint()
        widget.installEventFilter(spy)
        widget.show()
        app.exec()
    else:
        from desktop_app.app import build_gui
        from desktop_app.core.paths import AppPaths

        gui = build_gui(AppPaths.at(data_dir).ensure())
        spy = FirstPaint()
        gui.window.installEventFilter(spy)
        gui.window.show()
        gui.app.exec()


def measure(kind: str, data_dir: str) -> float:
    env = dict(os.environ)
    if "QT_QPA_PLATFORM" not in env and not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, data_dir], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.strip() == MARK:
            elapsed = time.perf_counter() - started
            break
    else:
        raise SystemExit(f"{kind}: the window never painted (exit {proc.wait()})")
    proc.wait()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 1
    with tempfile.TemporaryDirectory(prefix="hearth-startup-") as data_dir:
        measure("app", data_dir)  # first start assembles nothing visible, but warms the disk cache
        bare, app = [], []
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            bare.append(measure("bare", data_dir))
            app.append(measure("app", data_dir))
    b, a = statistics.median(bare), statistics.median(app)
    print(f"bare QApplication+QWidget to first paint: median {b * 1000:.0f} ms  {[round(x * 1000) for x in bare]}")
    print(f"Hearth window to first paint:             median {a * 1000:.0f} ms  {[round(x * 1000) for x in app]}")
    print(f"ratio Hearth / bare: {a / b:.2f}   target: window < 2000 ms -> "
          f"{'MET' if a < 2.0 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
