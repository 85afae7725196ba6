"""The services Hearth is made of, built once and handed down.

The CLI and the GUI (``app.py``) both build one ``Services`` and pass it to
what needs it: no module-level singletons, and tests build their own in
``tmp_path``. Heavy things (the embedder, the LLM) are created lazily on
first use, so startup stays fast.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings

log = logging.getLogger(__name__)


class Services:
    def __init__(self, paths: AppPaths, settings: Optional[Settings] = None) -> None:
        self.paths = paths
        self.settings = settings if settings is not None else Settings.load(paths.settings_file)
        self._lock = threading.RLock()
        self._embedder = None
        self._library = None
        self._catalog = None
        self._llm = None
        self._tools = None
        self._conversations = None

    def save_settings(self) -> None:
        from desktop_app.core.logs import user_text

        self.settings.save(self.paths.settings_file)
        user_text.show = self.settings.log_content  # the log policy follows the setting at once

    # Each accessor builds its service once, on first use, under one lock so
    # that two worker threads never build two embedders.

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from desktop_app.core.library.embed import load_embedder

                # The ONNX export is a per-user cache shared by every data dir.
                self._embedder = load_embedder(self.settings.embedder_backend)
            return self._embedder

    @property
    def library(self):
        with self._lock:
            if self._library is None:
                from desktop_app.core.library.library import Library

                self._library = Library(self.paths.library_dir, embedder_factory=lambda: self.embedder,
                                        settings=self.settings, read_only=self.paths.read_only)
            return self._library

    def reload_embedder(self) -> None:
        """After a change of the embedder backend setting: the next use loads
        the new backend (the library is re-embedded alongside, reindex.py)."""
        with self._lock:
            self._embedder = None
            if self._library is not None:
                self._library.reset_embedder()

    def close_library(self) -> None:
        """Close the open library (if any); the next ``library`` opens it
        again from disk (a rebuild starting from a fresh database)."""
        with self._lock:
            if self._library is not None:
                self._library.close()
                self._library = None

    @property
    def catalog(self):
        with self._lock:
            if self._catalog is None:
                from desktop_app.core.llm.catalog import ModelCatalog

                from desktop_app.core.llm.discovery import request_from_settings

                self._catalog = ModelCatalog(self.paths, scan=lambda: request_from_settings(self.settings))
            return self._catalog

    @property
    def llm(self):
        if self._llm is None:
            self.ensure_safe_loading()   # outside the lock: on first use it runs a child process
        with self._lock:
            if self._llm is None:
                from desktop_app.core.llm.session import LlmSession

                self._llm = LlmSession(self.paths, self.settings)
            return self._llm

    def ensure_safe_loading(self) -> None:
        """Once per llama.cpp build and CPU: turn off weight repacking if it
        crashes here (see core/llm/native.py). Needs the default model, which
        loading assembles anyway; a failure only logs (the check is a guard)."""
        from desktop_app.core.defaults import default_llm_path
        from desktop_app.core.llm.native import ensure_safe_loading

        try:
            ensure_safe_loading(self.paths.data_dir, default_llm_path(self.paths.models_dir))
        except Exception as exc:  # noqa: BLE001 - never stop the app over the guard itself
            log.warning("could not check llama.cpp weight repacking: %s", exc)

    @property
    def tools(self):
        with self._lock:
            if self._tools is None:
                from desktop_app.core.tools.registry import default_registry

                self._tools = default_registry()
            return self._tools

    @property
    def conversations(self):
        with self._lock:
            if self._conversations is None:
                from desktop_app.core.chat.conversations import ConversationStore

                self._conversations = ConversationStore(self.paths.conversations_dir)
            return self._conversations

    def close(self) -> None:
        with self._lock:
            for name in ("_llm", "_library"):
                service = getattr(self, name)
                if service is not None and hasattr(service, "close"):
                    try:
                        service.close()
                    except Exception:  # closing must not mask the real error
                        log.exception("closing %s failed", name)
                setattr(self, name, None)
