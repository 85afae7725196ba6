"""``hearth --self-test``: prove an installed Hearth works, offline.

Run on every freshly built bundle by the installer's build script (and by a
user who wants to know whether an install is sound). In a fresh temporary
data dir, with the network forbidden, it:

- shows a Qt window offscreen (the Qt platform, image and PDF plugins are
  bundled) and the real main window;
- indexes the bundled sample folder (Markdown, text, HTML, PDF) with the
  packaged embedder and searches it;
- asks a question through the chat engine with the packaged default model
  and checks that the answer cites the sample file that holds the fact;
- runs a calculator call through the tool registry and through the engine;
- checks that nothing tried to open a network connection.

It prints one ``PASS``/``FAIL`` line per check and a summary, and exits 0
only if every check passed. Qt is imported only inside the window checks, so
this module stays importable without a display.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, TextIO

from desktop_app.core.paths import RESOURCES_DIR, AppPaths

log = logging.getLogger(__name__)

SAMPLE_DIR = RESOURCES_DIR / "sample"
SAMPLE_FILES = (
    "brannock-point-lighthouse.md",
    "sourdough-starter.txt",
    "community-garden-rules.html",
    "team-offsite-notes.md",
    "ferrow-bay-harbour-notes.pdf",
)
# The fact only the lighthouse handbook holds, and how a right answer shows it.
QUESTION = "How many nautical miles is the Brannock Point lighthouse light visible for?"
QUESTION_SOURCE = "brannock-point-lighthouse.md"
QUESTION_FACT = "23"
SEARCH_QUERY = "visitor mooring price per night"
SEARCH_SOURCE = "ferrow-bay-harbour-notes.pdf"
CALC_EXPRESSION = "1234 * 5678"
CALC_RESULT = "7006652"
CALC_QUESTION = f"What is {CALC_EXPRESSION}?"


class CheckFailed(Exception):
    """A check ran and found something wrong; the message says what."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        return f"{status}  {self.name:<34} {self.detail}  ({self.seconds:.1f} s)"


class NetworkGuard:
    """Refuses (and records) every attempt to open a network connection.

    An audit hook sees ``socket.connect`` from any Python code, libraries
    included; local (AF_UNIX) sockets are allowed. Audit hooks cannot be
    removed, so the guard is installed only by ``main`` (the self-test
    process), never when the checks run inside a test process.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.active = False

    def install(self) -> None:
        import socket

        def hook(event: str, args: tuple) -> None:
            if not self.active:
                return
            if event == "socket.connect":
                sock, address = args[0], args[1]
                if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
                    return
                self.attempts.append(f"connect {address!r}")
                raise ConnectionRefusedError(f"Hearth self-test: network access refused ({address!r})")
            if event == "socket.getaddrinfo":
                host = args[0]
                if host not in (None, "localhost", "127.0.0.1", "::1"):
                    self.attempts.append(f"resolve {host!r}")
                    raise ConnectionRefusedError(f"Hearth self-test: name lookup refused ({host!r})")

        sys.addaudithook(hook)
        self.active = True


@dataclass
class SelfTestContext:
    paths: AppPaths
    sample_dir: Path
    services: object = None
    index_ok: bool = False
    guard: Optional[NetworkGuard] = None
    facts: dict = field(default_factory=dict)


def _hit_name(hit) -> str:
    path = hit.get("path") if isinstance(hit, dict) else getattr(hit, "path", "")
    return Path(str(path or "")).name


# --- the checks ----------------------------------------------------------------

def check_sample_folder(ctx: SelfTestContext) -> str:
    missing = [name for name in SAMPLE_FILES if not (SAMPLE_DIR / name).is_file()]
    if missing:
        raise CheckFailed(f"the bundled sample folder {SAMPLE_DIR} lacks {', '.join(missing)}")
    shutil.copytree(SAMPLE_DIR, ctx.sample_dir)
    return f"{len(SAMPLE_FILES)} documents from {SAMPLE_DIR}"


def _qapplication():
    from desktop_app.app import make_qapplication

    return make_qapplication()


def check_qt_window(ctx: SelfTestContext) -> str:
    """A plain window, an SVG/PNG icon and a PDF through QtPdf: the platform,
    image-format and PDF plugins are there and work."""
    from PySide6.QtCore import QEventLoop, QTimer, QUrl  # noqa: F401 - QUrl: QtPdf needs it
    from PySide6.QtGui import QIcon, QImage
    from PySide6.QtPdf import QPdfDocument
    from PySide6.QtWidgets import QLabel

    app = _qapplication()
    platform = app.platformName()
    label = QLabel("Hearth self-test")
    label.setWindowTitle("Hearth self-test")
    label.resize(320, 120)
    label.show()
    # Let the window be exposed and painted by the event loop (no
    # processEvents loop: one short run of a local event loop).
    loop = QEventLoop()
    QTimer.singleShot(50, loop.quit)
    loop.exec()
    try:
        if not label.isVisible():
            raise CheckFailed(f"the window did not become visible on the {platform!r} platform")
        shot = label.grab()
        if shot.isNull() or shot.width() < 100:
            raise CheckFailed("the window could not be rendered")
    finally:
        label.close()
        label.deleteLater()

    icons = RESOURCES_DIR / "icons"
    svg = next(iter(sorted(icons.glob("*.svg"))), None)
    if svg is None:
        raise CheckFailed(f"no SVG app icon under {icons}")
    pixmap = QIcon(str(svg)).pixmap(64, 64)
    if pixmap.isNull():
        raise CheckFailed(f"the SVG icon {svg.name} did not render (iconengines/imageformats plugins missing?)")
    png = next(iter(sorted(icons.glob("*.png"))), None)
    if png is not None and QImage(str(png)).isNull():
        raise CheckFailed(f"the PNG icon {png.name} did not load (imageformats plugins missing?)")

    pdf = QPdfDocument(None)
    try:
        status = pdf.load(str(ctx.sample_dir / SEARCH_SOURCE))
        if status != QPdfDocument.Error.None_ or pdf.pageCount() < 1:
            raise CheckFailed(f"QtPdf could not open the sample PDF ({status})")
        image = pdf.render(0, pdf.pagePointSize(0).toSize())
        if image.isNull():
            raise CheckFailed("QtPdf could not render the sample PDF")
        pages = pdf.pageCount()
    finally:
        pdf.close()
    return f"platform {platform}, icon rendered, QtPdf rendered {pages} pages"


def check_main_window(ctx: SelfTestContext) -> str:
    """The real main window on the self-test's services: shown, its startup
    jobs (library status, model catalog, loading the default model) run to
    the end without a failure, and the Library page lists the sample folder."""
    from desktop_app.app import build_gui
    from desktop_app.ui.self_test import run_self_test

    gui = build_gui(ctx.paths, services=ctx.services)
    window = gui.window
    try:
        window.show()
        if run_self_test(gui, timeout_ms=180_000) != 0:
            raise CheckFailed("the window's startup jobs reported problems (see above)")
        if "Hearth" not in window.windowTitle():
            raise CheckFailed(f"unexpected window title {window.windowTitle()!r}")
        shot = window.grab()
        if shot.isNull():
            raise CheckFailed("the main window could not be rendered")
        rows = window.library_page.model.rowCount()
        if ctx.index_ok and rows < 1:
            raise CheckFailed("the Library page does not list the indexed sample folder")
        return f"{window.windowTitle()!r} rendered {shot.width()}x{shot.height()}, {rows} library row(s)"
    finally:
        window.close()
        # The services belong to the self-test, which closes them at the end.
        window.shutdown()


def check_index(ctx: SelfTestContext) -> str:
    from desktop_app.core.jobs import CancelToken

    library = ctx.services.library
    progress = []
    report = library.add([ctx.sample_dir], token=CancelToken(), report=progress.append)
    if report.failed:
        reasons = "; ".join(f"{Path(path).name}: {reason}" for path, reason in report.failed)
        raise CheckFailed(f"{len(report.failed)} sample files failed: {reasons}")
    totals = library.status()["totals"]
    if totals["files"] != len(SAMPLE_FILES) or report.added != len(SAMPLE_FILES):
        raise CheckFailed(f"indexed {totals['files']} files ({report.added} added), "
                          f"expected {len(SAMPLE_FILES)}")
    if not totals["chunks"]:
        raise CheckFailed("no chunks were indexed")
    if not progress:
        raise CheckFailed("indexing reported no progress")
    ctx.index_ok = True
    embedder = ctx.services.embedder
    return f"{totals['files']} files, {totals['chunks']} chunks ({embedder.name}, {embedder.backend})"


def _field(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def check_search(ctx: SelfTestContext) -> str:
    _needs_index(ctx)
    hits = ctx.services.library.search(SEARCH_QUERY, k=3)
    if not hits:
        raise CheckFailed(f"no hits for {SEARCH_QUERY!r}")
    top = _hit_name(hits[0])
    if top != SEARCH_SOURCE:
        raise CheckFailed(f"top hit for {SEARCH_QUERY!r} is {top}, expected {SEARCH_SOURCE}")
    page = _field(hits[0], "page")
    if page != 2:
        raise CheckFailed(f"the mooring price is on page 2 of {SEARCH_SOURCE}, the hit says page {page}")
    return f"top hit {top} page {page}"


def check_calculator_tool(ctx: SelfTestContext) -> str:
    result = ctx.services.tools.run("calculator", {"expression": CALC_EXPRESSION})
    if not result.ok or result.output.strip() != CALC_RESULT:
        raise CheckFailed(f"calculator({CALC_EXPRESSION}) gave {result.output!r}, expected {CALC_RESULT}")
    refused = ctx.services.tools.run("calculator", {"expression": "9**9**9**9"})
    if refused.ok:
        raise CheckFailed("the calculator did not refuse 9**9**9**9")
    return f"{CALC_EXPRESSION} = {result.output}; 9**9**9**9 refused"


def _chat_engine(ctx: SelfTestContext):
    engine = ctx.facts.get("engine")
    if engine is None:
        from desktop_app.core.chat.engine import ChatEngine

        services = ctx.services
        engine = ChatEngine(services.library, services.llm, services.tools, services.settings)
        ctx.facts["engine"] = engine
    return engine


def check_model(ctx: SelfTestContext) -> str:
    info = ctx.services.llm.load(None)  # None: the packaged default, assembled on first use
    size = Path(info.path).stat().st_size / 1e6
    return f"{Path(info.path).name} loaded ({info.architecture}, {info.quantization}, {size:.0f} MB)"


def check_cited_answer(ctx: SelfTestContext) -> str:
    from desktop_app.core.jobs import CancelToken

    _needs_index(ctx)
    answer = _chat_engine(ctx).ask(QUESTION, token=CancelToken())
    text = answer.text
    citations = answer.citations
    cited = sorted({_hit_name(c) for c in citations})
    if QUESTION_SOURCE not in cited:
        raise CheckFailed(f"the answer cites {cited or 'nothing'}, expected {QUESTION_SOURCE}; "
                          f"answer: {text[:160]!r}")
    if not text.strip():
        raise CheckFailed("the answer is empty")
    fact = "states the fact" if QUESTION_FACT in text else "does not state 23 (small model)"
    return f"cites {QUESTION_SOURCE}; {fact}; answer: {text.strip()[:80]!r}"


def check_calculator_chat(ctx: SelfTestContext) -> str:
    from desktop_app.core.jobs import CancelToken

    answer = _chat_engine(ctx).ask(CALC_QUESTION, token=CancelToken())
    text = answer.text
    calls = answer.tool_calls
    used = [c for c in calls if _field(c, "tool") == "calculator"]
    if not used:
        raise CheckFailed(f"no calculator call for {CALC_QUESTION!r}; answer: {text[:120]!r}")
    outputs = [str(_field(c, "output")) for c in used]
    if CALC_RESULT not in outputs:
        raise CheckFailed(f"calculator calls gave {outputs}, expected {CALC_RESULT}")
    if CALC_RESULT not in text.replace(",", "").replace(" ", ""):
        raise CheckFailed(f"the answer does not state {CALC_RESULT}: {text[:120]!r}")
    return f"calculator({_field(used[0], 'input')}) = {CALC_RESULT}, stated in the answer"


def check_child_process(ctx: SelfTestContext) -> str:
    """Quantizing and evaluating run in a child ``[sys.executable, "-m", ...]``;
    in the bundle sys.executable is Hearth itself, which must honour ``-m``."""
    import subprocess

    from desktop_app import __version__

    cmd = [sys.executable, "-m", "desktop_app", "--version"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or __version__ not in output:
        raise CheckFailed(f"{' '.join(cmd)} exited {proc.returncode}: {output[-200:]!r}")
    return f"{Path(sys.executable).name} -m desktop_app --version: {output}"


def check_offline(ctx: SelfTestContext) -> str:
    if ctx.guard is None:
        return "not guarded (checks ran inside another process)"
    if ctx.guard.attempts:
        raise CheckFailed(f"{len(ctx.guard.attempts)} network attempts: {', '.join(ctx.guard.attempts[:3])}")
    return "no network connection or name lookup attempted"


def _needs_index(ctx: SelfTestContext) -> None:
    if not ctx.index_ok:
        raise CheckFailed("skipped: the sample folder was not indexed")


CHECKS: list[tuple[str, Callable[[SelfTestContext], str]]] = [
    ("sample folder bundled", check_sample_folder),
    ("Qt window offscreen (plugins)", check_qt_window),
    ("index sample folder", check_index),
    ("hybrid search", check_search),
    ("calculator via tool registry", check_calculator_tool),
    ("default model loads", check_model),
    ("cited answer from the sample", check_cited_answer),
    ("calculator via chat engine", check_calculator_chat),
    ("child process (-m) starts", check_child_process),
    ("main window and its startup jobs", check_main_window),
    ("offline", check_offline),
]


def run_checks(ctx: SelfTestContext, out: Optional[TextIO] = None,
               checks=None) -> list[CheckResult]:
    results = []
    for name, check in (checks or CHECKS):
        start = time.monotonic()
        try:
            detail = check(ctx)
            passed = True
        except CheckFailed as exc:
            detail, passed = str(exc), False
        except Exception as exc:  # a crash in one check must not hide the others
            log.error("self-test check %r crashed:\n%s", name, traceback.format_exc())
            detail, passed = f"{type(exc).__name__}: {exc}", False
        result = CheckResult(name, passed, detail, time.monotonic() - start)
        results.append(result)
        log.info("self-test %s", result.line())
        _emit(out, result.line())
    return results


def _emit(out: Optional[TextIO], line: str) -> None:
    if out is None:
        return
    try:
        out.write(line + "\n")
        out.flush()
    except (OSError, ValueError):  # no console (windowed app): the log has it
        pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hearth --self-test")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--report", metavar="FILE", default=None,
                        help="also write the PASS/FAIL lines to FILE (for windowed builds)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("-v", "--verbose", action="store_true")
    args, _rest = parser.parse_known_args(argv)
    return args


def self_test_settings():
    """Defaults, with answers kept short: the checks need a sentence, not an essay."""
    from desktop_app.core.settings import Settings

    settings = Settings()
    settings.max_tokens = 128
    settings.watch_folders = False
    return settings


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    # Offscreen always: the self-test must run on a build server and over
    # SSH; the window checks prove the platform plugins load all the same.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    guard = NetworkGuard()
    guard.install()

    from desktop_app.core.logs import setup_logging
    from desktop_app.core.services import Services

    root = Path(tempfile.mkdtemp(prefix="hearth-self-test-"))
    paths = AppPaths.at(root / "data").ensure()
    setup_logging(paths, verbose=args.verbose)
    out = sys.stdout
    _emit(out, f"Hearth self-test (data dir {paths.data_dir})")
    services = Services(paths, self_test_settings())
    ctx = SelfTestContext(paths=paths, sample_dir=root / "sample", services=services, guard=guard)
    started = time.monotonic()
    results: list[CheckResult] = []
    try:
        results = run_checks(ctx, out)
    finally:
        services.close()
        failed = [r for r in results if not r.passed] or ([] if results else ["crashed"])
        if args.keep or failed:
            _emit(out, f"kept {root} (log: {paths.log_file})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    summary = (f"SELF-TEST {'PASSED' if not failed else 'FAILED'}: {len(results) - len(failed)}/"
               f"{len(results)} checks passed in {time.monotonic() - started:.0f} s")
    _emit(out, summary)
    if args.report:
        Path(args.report).write_text("\n".join([r.line() for r in results] + [summary]) + "\n",
                                     encoding="utf-8")
    return 0 if not failed else 1
