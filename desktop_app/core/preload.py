"""Import ahead of time what the long jobs import on first use.

An import runs with the GIL held, much of it in single C calls (compiling a
module's source when there is no cached bytecode, loading an extension,
executing a module body) that Python cannot interrupt to let another thread
in. The first ingest, answer or quantize of a session used to pay for
parsing, chat, tool and GGUF-writing modules while the other jobs ran, and
the window's thread, which needs the GIL for every Python slot, stalled for
100-230 ms (bench/ui_stall.py). The window runs ``preload_job_modules`` on a
worker once it has painted, alongside the embedder and model loading, so a
session's first jobs find them loaded.
"""

from __future__ import annotations

import importlib
import logging

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress

log = logging.getLogger(__name__)

# Modules the jobs import lazily, in the order a session usually needs them.
JOB_MODULES = (
    # indexing: parsing (and the parsers' own libraries), chunking
    "desktop_app.core.library.parse",
    "desktop_app.core.library.chunk",
    "selectolax.lexbor",
    "charset_normalizer",
    "pypdfium2",
    "docx",
    # answering: the chat engine, its tools and the calculator's grammar
    "desktop_app.core.chat.engine",
    "desktop_app.core.tools.registry",
    "desktop_app.core.tools.calculator",
    "desktop_app.core.tools.extract",
    "desktop_app.core.tools.grammar",
    # the model workshop: quantizing and the GGUF library
    "desktop_app.core.llm.optimize.quantize",
    "gguf",
)


def preload_job_modules(*, token: CancelToken, report: Report = ignore_progress,
                        modules: tuple[str, ...] = JOB_MODULES) -> list[str]:
    """Import ``modules``; returns those that could not be imported (each
    is logged: the job that needs it will report the problem to the user)."""
    missing = []
    for i, name in enumerate(modules):
        token.check()
        report(Progress("preparing", i, len(modules), name))
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a warm-up never fails the app
            log.warning("could not preload %s: %s", name, exc)
            missing.append(name)
    return missing
