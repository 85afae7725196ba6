"""The command line: the same core as the GUI, driven from a terminal.

Each command group lives in its own module and registers itself with
``register(subparsers)``; handlers take ``(args, services)`` and return an exit
code. Commands that report data accept ``--json`` and then print exactly one
JSON document on stdout (progress and messages go to stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from desktop_app import __version__
from desktop_app.core.jobs import CancelToken, Cancelled, Progress

log = logging.getLogger(__name__)

COMMAND_MODULES = ("library", "chat", "model", "settings")


class UserError(Exception):
    """An error the user caused and can fix: printed as a message, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="hearth",
        description="Hearth: a private AI assistant over your own documents, fully offline.\n"
        "Run without a command to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"Hearth {__version__}")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="keep all state (library, models, chats, settings) in DIR")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.set_defaults(handler=None)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"desktop_app.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"desktop_app.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def wants_gui(argv: list[str]) -> bool:
    """No command (only global options), or the explicit `gui` command."""
    rest = list(argv)
    while rest:
        head = rest[0]
        if head == "--data-dir" and len(rest) > 1:
            rest = rest[2:]
        elif head.startswith("--data-dir=") or head in ("-v", "--verbose"):
            rest = rest[1:]
        elif head in ("--self-test",):
            return True
        else:
            break
    return not rest or rest[0] == "gui"


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from desktop_app.core.library.recovery import LibraryError
    from desktop_app.core.logs import setup_logging
    from desktop_app.core.paths import AppPaths, DataDirError
    from desktop_app.core.services import Services

    try:
        paths = AppPaths.at(args.data_dir).ensure()
    except DataDirError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 2
    setup_logging(paths, verbose=args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    if paths.read_only:
        print(f"hearth: the data folder {paths.data_dir} is read-only: reading only", file=sys.stderr)
    services = Services(paths)
    try:
        return int(handler(args, services) or 0)
    except (UserError, LibraryError) as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:
        # Damage found after opening (a bad page deep in the file): never a
        # traceback; the rebuild moves the file aside and starts again.
        log.exception("library database error")
        print(f"hearth: the library database could not be read ({exc}); "
              "`hearth library rebuild --fresh` keeps it aside and indexes your folders again into a new one", file=sys.stderr)
        return 2
    except Cancelled:
        print("hearth: cancelled", file=sys.stderr)
        return 130
    finally:
        services.close()


def print_json(document) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


@contextmanager
def interruptible() -> Iterator[CancelToken]:
    """A CancelToken that Ctrl-C cancels (the job then stops cleanly at its
    next boundary). A second Ctrl-C interrupts at once."""
    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        if token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nhearth: cancelling… (Ctrl-C again to abort)", file=sys.stderr)
        token.cancel()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


class ProgressPrinter:
    """A one-line terminal progress bar on stderr: stage, count, rate, ETA."""

    def __init__(self, stream=None, enabled: Optional[bool] = None) -> None:
        import time

        self._time = time.monotonic
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._stage = None
        self._started = 0.0
        self._first_done = 0   # done count when the stage began (rates count from there)
        self._width = 0

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = self._time()
        if progress.stage != self._stage:
            if self._stage is not None:
                self.stream.write("\n")
            self._stage = progress.stage
            self._started = now
            self._first_done = progress.done
        line = self.format_line(progress, now - self._started)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def format_line(self, progress: Progress, elapsed: float) -> str:
        """The bar's text; a job with richer progress overrides this."""
        return format_progress(progress, elapsed)

    def close(self) -> None:
        if self.enabled and self._stage is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._stage = None


@contextmanager
def progress_job(*errors: type[BaseException],
                 printer: Optional[ProgressPrinter] = None) -> Iterator[tuple[CancelToken, ProgressPrinter]]:
    """A token Ctrl-C cancels and a progress bar for one long job. The bar is
    closed however the job ends; ``errors`` (the job's failures a user can
    fix, e.g. QuantizeError) become a UserError; Cancelled passes through."""
    printer = printer or ProgressPrinter()
    try:
        with interruptible() as token:
            yield token, printer
    except errors as exc:
        raise UserError(str(exc)) from None
    finally:
        printer.close()


def output_path(path: Path, force: bool) -> Path:
    """Where a command writes a new file; an existing one only with --force."""
    out = Path(path).expanduser()
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to replace it")
    return out


def format_progress(progress: Progress, elapsed: float) -> str:
    parts = [progress.stage]
    if progress.total:
        frac = min(1.0, progress.done / progress.total)
        bar = "#" * int(frac * 24)
        parts.append(f"[{bar:<24}] {progress.done}/{progress.total}")
        if elapsed > 0.5 and progress.done:
            rate = progress.done / elapsed
            parts.append(f"{rate:.1f}/s")
            remaining = (progress.total - progress.done) / rate if rate else 0
            parts.append(f"ETA {int(remaining // 60)}:{int(remaining % 60):02d}")
    elif progress.done:
        parts.append(str(progress.done))
    if progress.detail:
        parts.append(progress.detail[-48:])
    return "  ".join(parts)
