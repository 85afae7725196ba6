"""Logging: one logger per module, a rotating log file in the data dir that
the UI can open, and stderr only when asked (the CLI's stdout stays JSON).

What the log holds is described in the README ("What the log file
contains"). Questions, answers and document text are the user's private
content: a log call that would include them wraps them in ``user_text``,
which writes only their length unless the ``log_content`` setting is on.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Optional

from desktop_app.core.paths import AppPaths

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class user_text:  # noqa: N801 - used like a function in log calls
    """A question, answer or document text as a log argument: written as
    ``<N characters hidden>`` unless the ``log_content`` setting is on.

    Whether content is shown is process-wide, like the log itself; it is set
    by ``setup_logging`` from the settings."""

    show = False

    def __init__(self, text: object) -> None:
        self.text = text

    def __str__(self) -> str:
        return str(self.text) if user_text.show else self._hidden()

    def __repr__(self) -> str:
        return repr(self.text) if user_text.show else self._hidden()

    def _hidden(self) -> str:
        return f"<{len(str(self.text))} characters hidden; see the log_content setting>"


def setup_logging(paths: AppPaths, verbose: bool = False, *, log_content: Optional[bool] = None) -> None:
    """``log_content``: None reads the setting from the settings file."""
    if log_content is None:
        from desktop_app.core.settings import Settings

        log_content = Settings.load(paths.settings_file).log_content
    user_text.show = bool(log_content)
    root = logging.getLogger()
    if getattr(root, "_hearth_configured", None) == str(paths.log_file):
        return
    for handler in list(root.handlers):
        if getattr(handler, "_hearth", False):
            root.removeHandler(handler)
            handler.close()
    try:
        paths.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        file_handler = logging.handlers.RotatingFileHandler(
            paths.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:   # a read-only data dir: Hearth still reads, without a log file
        file_handler = None
    if file_handler is not None:
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
