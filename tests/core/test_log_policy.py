"""The log file keeps the user's questions and document text out unless the
``log_content`` setting is on: a real path that logs the question and the
passage's sentences (checking a document answer against its passage, with the
real embedder), with a real log file."""

from __future__ import annotations

import logging

import pytest

from desktop_app.core.chat import support
from desktop_app.core.chat.citations import Source
from desktop_app.core.logs import setup_logging, user_text
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings

QUESTION = "How many apples are hidden in my secret diary?"
PASSAGE = Source(n=1, path="/home/user/diary.txt",
                 text="The secret diary says that 47 apples are hidden under the old oak tree.")


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


def test_questions_stay_out_of_the_log_unless_the_setting_is_on(tmp_path, fresh_logging, embedder):
    paths = AppPaths.at(tmp_path / "data").ensure()
    setup_logging(paths)  # the default settings: content off
    draft = "Yes, you can."        # not an answer: checked, logged, replaced by the passage's sentence
    support.ground(QUESTION, draft, [PASSAGE.citation()], [PASSAGE], embedder.encode)
    text = _log_text(paths)
    assert "best sentence score" in text, "what was decided must still be logged"
    assert "secret diary" not in text and "apples" not in text and "oak" not in text
    assert f"<{len(QUESTION)} characters hidden" in text

    settings = Settings(log_content=True)
    settings.save(paths.settings_file)
    setup_logging(paths)  # the next start reads the setting
    support.ground(QUESTION, draft, [PASSAGE.citation()], [PASSAGE], embedder.encode)
    assert "secret diary" in _log_text(paths)


def test_library_warnings_go_to_the_log_file_not_the_terminal(tmp_path, fresh_logging, capfd):
    import warnings

    paths = AppPaths.at(tmp_path / "data").ensure()
    setup_logging(paths)
    warnings.warn_explicit("converting a tensor to a Python boolean", UserWarning, "tracer.py", 1)
    assert "converting a tensor" not in capfd.readouterr().err
    assert "converting a tensor" in _log_text(paths)
