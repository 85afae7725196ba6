"""`hearth library ...`: the document library from a terminal.

add (with a progress bar; Ctrl-C cancels cleanly), remove, status, files, search,
reindex (after a change of the index settings).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Optional

from desktop_app.cli import ProgressPrinter, UserError, print_json, progress_job
from desktop_app.core.jobs import Progress

log = logging.getLogger(__name__)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _tell_waiting(progress: Progress) -> bool:
    """Say (always, bar or not) that another process holds the library."""
    from desktop_app.core.library.library import WAITING

    if progress.stage != WAITING:
        return False
    _say(f"hearth: {progress.detail} (Ctrl-C to stop waiting)")
    return True


class IngestProgressPrinter(ProgressPrinter):
    """The ingest's bar: files done/total, chunks embedded, chunks/s, ETA."""

    def __call__(self, progress: Progress) -> None:
        if not _tell_waiting(progress):
            super().__call__(progress)

    def format_line(self, progress: Progress, elapsed: float) -> str:
        chunks = getattr(progress, "chunks", None)
        if chunks is None or not progress.total:
            return super().format_line(progress, elapsed)
        return format_ingest(progress, chunks, elapsed, self._first_done)


def format_ingest(progress: Progress, chunks: int, elapsed: float, first_done: int = 0) -> str:
    frac = min(1.0, progress.done / progress.total) if progress.total else 0.0
    bar = "#" * int(frac * 24)
    parts = [progress.stage, f"[{bar:<24}] {progress.done}/{progress.total} files", f"{chunks} chunks"]
    if elapsed > 0.5:
        parts.append(f"{chunks / elapsed:.1f} chunks/s")
        worked = progress.done - first_done
        if worked > 0:
            remaining = (progress.total - progress.done) * elapsed / worked
            parts.append(f"ETA {int(remaining // 60)}:{int(remaining % 60):02d}")
    if progress.detail:
        parts.append(Path(progress.detail).name[-40:])
    return "  ".join(parts)


# --- add ----------------------------------------------------------------------

def _cmd_add(args, services) -> int:
    paths = [Path(p) for p in args.paths]
    with progress_job(printer=IngestProgressPrinter()) as (token, printer):
        report = services.library.add(paths, token=token, report=printer)
    if len(report.missing) + len(report.unavailable) == len(paths):
        raise UserError("\n".join([f"not found: {p}" for p in report.missing]
                                  + [f"unavailable: {p}: {r}" for p, r in report.unavailable]))
    if args.json:
        print_json(report.to_dict())
        return 0
    _say(f"{report.summary()} in {report.seconds:.1f}s")
    for path in report.missing:
        _say(f"  not found: {path}")
    for path, reason in report.unavailable:
        _say(f"  unavailable: {path}: {reason}")
    for path, reason in report.failed:
        _say(f"  failed: {path}: {reason}")
    _say_pending_reindex(services.library)
    return 0


def _say_pending_reindex(library) -> None:
    from desktop_app.core.library.reindex import plan

    the_plan = plan(library)
    if the_plan.needed:
        _say(f"index settings changed: {the_plan.describe()} Run `hearth library reindex` to do it now.")


def _register_add(commands) -> None:
    p = commands.add_parser("add", help="index folders and files (again: only what changed)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="folder or file")
    p.add_argument("--json", action="store_true", help="print one JSON document (the ingest report)")
    p.set_defaults(handler=_cmd_add)


# --- rebuild ------------------------------------------------------------------

def _cmd_rebuild(args, services) -> int:
    from desktop_app.core.library.recovery import LibraryDamaged, move_aside
    from desktop_app.core.library.store import DB_NAME

    try:
        library = services.library
        if args.fresh:
            # Start from an empty database (the old one is kept aside).
            services.close_library()
            move_aside(services.paths.library_dir / DB_NAME)
            library = services.library
    except LibraryDamaged as exc:
        _say(f"hearth: {exc}")
        library = services.library          # a fresh, empty database now
    with progress_job(printer=IngestProgressPrinter()) as (token, printer):
        report = library.rebuild(token=token, report=printer)
    if args.json:
        print_json(report.to_dict())
        return 0
    _say(f"rebuilt: {report.summary()} in {report.seconds:.1f}s")
    for path, reason in report.failed:
        _say(f"  failed: {path}: {reason}")
    return 0


def _register_rebuild(commands) -> None:
    p = commands.add_parser("rebuild", help="index every known folder again (after a damaged database)")
    p.add_argument("--fresh", action="store_true",
                   help="start from an empty database (the current one is kept aside)")
    p.add_argument("--json", action="store_true", help="print one JSON document (the ingest report)")
    p.set_defaults(handler=_cmd_rebuild)


# --- reindex ------------------------------------------------------------------

def _cmd_reindex(args, services) -> int:
    from desktop_app.core.library.reindex import plan, reindex

    library = services.library
    if args.check:
        the_plan = plan(library)
        if args.json:
            print_json(the_plan.to_dict())
        else:
            _say(the_plan.describe())
        return 0
    with progress_job(printer=IngestProgressPrinter()) as (token, printer):
        result = reindex(library, token=token, report=printer)
    if args.json:
        print_json(result.to_dict())
        return 0
    _say(result.summary())
    return 0


def _register_reindex(commands) -> None:
    p = commands.add_parser(
        "reindex", help="apply changed index settings (passage size, embedding backend): the new index is "
                        "built alongside and search keeps working; Ctrl-C stops, the next run carries on")
    p.add_argument("--check", action="store_true", help="only say what a re-index would do")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_reindex)


# --- remove -------------------------------------------------------------------

def _cmd_remove(args, services) -> int:
    with progress_job() as (token, _printer):
        removed = services.library.remove(Path(args.path), token=token, report=_tell_waiting)
    if args.json:
        from desktop_app.core.library.fsnames import display

        print_json({"path": display(str(Path(args.path).expanduser().resolve())), "removed_files": removed})
        return 0
    if removed == 0:
        raise UserError(f"nothing in the library under {args.path}")
    _say(f"removed {removed} file{'s' if removed != 1 else ''} from the library")
    return 0


def _register_remove(commands) -> None:
    p = commands.add_parser("remove", help="take a folder or file out of the library")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_remove)


# --- status -------------------------------------------------------------------

def _when(timestamp: Optional[float]) -> str:
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _cmd_status(args, services) -> int:
    from desktop_app.core.library.parser_upgrade import reparse_note

    status = services.library.status()
    if args.json:
        print_json(status)
        return 0
    totals = status["totals"]
    print(f"{totals['sources']} sources, {totals['files']} files, {totals['chunks']} passages, "
          f"{totals['failed']} failed" + (f", {totals['indexing']} interrupted" if totals["indexing"] else ""))
    for folder in status["folders"]:
        print(f"  {folder['path']}  ({folder['kind']}): {folder['files']} files, {folder['chunks']} passages, "
              f"updated {_when(folder['last_update'])}")
        if not folder["available"]:
            print(f"    unavailable: {folder['unavailable_reason']}")
    for failure in status["failures"]:
        print(f"  failed: {failure['path']}: {failure['reason']}")
    if status["totals"]["reparse"]:
        print(f"{reparse_note(status['totals']['reparse'])}. Run `hearth library add` on their folder to do it now.")
    if status["reindex"]["needed"]:
        print(f"index settings changed: {status['reindex']['description']} "
              "Run `hearth library reindex` to do it now.")
    return 0


def _register_status(commands) -> None:
    p = commands.add_parser("status", help="folders, files, passages and failures")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_status)


def _cmd_files(args, services) -> int:
    files = services.library.files(args.path)
    if not files:
        raise UserError(f"{args.path} is not a folder or file in the library (see: library status)")
    if args.json:
        print_json([f.to_dict() for f in files])
        return 0
    for f in files:
        detail = f"{f.passages} passages" if f.state == "indexed" else (f.reason or "")
        print(f"{f.state:8}  {f.path}" + (f"  ({detail})" if detail else ""))
    return 0


def _register_files(commands) -> None:
    p = commands.add_parser("files", help="one added folder's files: indexed, failed (why) or pending")
    p.add_argument("path", help="the folder (or file) as added")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(handler=_cmd_files)


# --- search -------------------------------------------------------------------

def _hit_dict(hit) -> dict:
    return {"path": hit.path, "page": hit.page, "section": hit.section, "score": hit.score,
            "similarity": hit.similarity, "text": hit.text, "start": hit.start, "end": hit.end,
            "chunk_id": hit.chunk_id}


def _cmd_search(args, services) -> int:
    if args.k < 1:
        raise UserError("-k must be at least 1")
    library = services.library
    if args.queries:
        try:
            lines = Path(args.queries).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read {args.queries}: {exc.strerror or exc}") from None
        # One JSON line per input line, so results line up with the questions.
        for line in lines:
            hits = library.search(line.strip(), k=args.k, mode=args.mode) if line.strip() else []
            print_json([_hit_dict(h) for h in hits])
        return 0
    if not args.query:
        raise UserError("give a QUERY or --queries FILE")
    hits = library.search(args.query, k=args.k, mode=args.mode)
    if args.json:
        print_json([_hit_dict(h) for h in hits])
        return 0
    if not hits:
        _say("no matches")
        return 0
    for rank, hit in enumerate(hits, 1):
        where = hit.path + (f" p.{hit.page}" if hit.page else "") + (f" § {hit.section}" if hit.section else "")
        print(f"{rank}. {where}  (score {hit.score:.4f})")
        text = " ".join(hit.text.split())
        print(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0


def _register_search(commands) -> None:
    from desktop_app.core.library.library import SEARCH_MODES

    p = commands.add_parser("search", help="find the passages that best match a query")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid",
                   help="hybrid (vectors + BM25, the default), vector or bm25")
    p.add_argument("--queries", metavar="FILE",
                   help="one query per line; prints one JSON hit list per line (models load once)")
    p.add_argument("--json", action="store_true", help="print one JSON document (the hit list)")
    p.set_defaults(handler=_cmd_search)


SUBCOMMANDS = (_register_add, _register_remove, _register_rebuild, _register_reindex, _register_status, _register_files,
               _register_search)


def register(subparsers) -> None:
    parser = subparsers.add_parser("library", help="your documents: add, remove, status, search")
    commands = parser.add_subparsers(dest="library_command", metavar="COMMAND", required=True)
    for add_command in SUBCOMMANDS:
        add_command(commands)
