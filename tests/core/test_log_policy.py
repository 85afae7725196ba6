"""The log file keeps the user's questions and document text out unless the
``log_content`` setting is on: a real failure path that logs the question
(the planner failing on malformed passages), with a real log file."""

from __future__ import annotations

import logging

import pytest

from desktop_app.core.chat import planner
from desktop_app.core.logs import setup_logging, user_text
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings

QUESTION = "How much is 3 plus the 47 apples in my secret diary?"


@pytest.fixture
def fresh_logging():
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hearth", False):
            root.removeHandler(handler)
            handler.close()
    root._hearth_configured = None
    user_text.show = False
    logging.captureWarnings(False)


def _log_text(paths: AppPaths) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return paths.log_file.read_text(encoding="utf-8")


def test_questions_stay_out_of_the_log_unless_the_setting_is_on(tmp_path, fresh_logging):
    paths = AppPaths.at(tmp_path / "data").ensure()
    setup_logging(paths)  # the default settings: content off
    assert planner.plan(QUESTION, passages=[(1, None)]) is None  # fails inside, logs, goes on
    text = _log_text(paths)
    assert "the planner failed" in text, "the failure itself must still be logged"
    assert "secret diary" not in text and "apples" not in text
    assert f"<{len(QUESTION)} characters hidden" in text

    settings = Settings(log_content=True)
    settings.save(paths.settings_file)
    setup_logging(paths)  # the next start reads the setting
    planner.plan(QUESTION, passages=[(1, None)])
    assert "secret diary" in _log_text(paths)


def test_library_warnings_go_to_the_log_file_not_the_terminal(tmp_path, fresh_logging, capfd):
    import warnings

    paths = AppPaths.at(tmp_path / "data").ensure()
    setup_logging(paths)
    warnings.warn_explicit("converting a tensor to a Python boolean", UserWarning, "tracer.py", 1)
    assert "converting a tensor" not in capfd.readouterr().err
    assert "converting a tensor" in _log_text(paths)
