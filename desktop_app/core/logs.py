"""Logging: one logger per module, a rotating log file in the data dir that
the UI can open, and stderr only when asked (the CLI's stdout stays JSON)."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from desktop_app.core.paths import AppPaths

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(paths: AppPaths, verbose: bool = False) -> None:
    root = logging.getLogger()
    if getattr(root, "_hearth_configured", None) == str(paths.log_file):
        return
    for handler in list(root.handlers):
        if getattr(handler, "_hearth", False):
            root.removeHandler(handler)
            handler.close()
    paths.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    file_handler = logging.handlers.RotatingFileHandler(
        paths.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler.setLevel(logging.INFO)
    file_handler._hearth = True
    root.addHandler(file_handler)
    if verbose:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(logging.Formatter(_FORMAT))
        err.setLevel(logging.DEBUG)
        err._hearth = True
        root.addHandler(err)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root._hearth_configured = str(paths.log_file)
    # Python warnings from libraries (torch's TracerWarning, deprecations)
    # go to the log file, not to the user's terminal (stderr has them only
    # with --verbose).
    logging.captureWarnings(True)
    # Libraries are chatty at INFO; keep the log about Hearth.
    for noisy in ("sentence_transformers", "transformers", "urllib3", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
