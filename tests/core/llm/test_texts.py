"""The evaluation and calibration texts: one reader for a file, a string or
the bundled default, with the caller's error for an unreadable file."""

from __future__ import annotations

import pytest

from desktop_app.core.llm.optimize.evaluate import DEFAULT_EVAL_TEXT, EvaluationError, load_text
from desktop_app.core.llm.optimize.imatrix import default_calibration_text
from desktop_app.core.llm.optimize.prune import PruneError, load_calibration_text
from desktop_app.core.llm.optimize.texts import read_text_input


def test_file_string_and_default(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes("Caf\u00e9 notes\n".encode("utf-8") + b"\xff broken byte\n")
    for load, default in ((load_text, DEFAULT_EVAL_TEXT), (load_calibration_text, default_calibration_text())):
        name, content = load(notes)
        assert name == "notes.txt" and content.startswith("Caf\u00e9 notes\n") and "\ufffd broken byte" in content
        assert load("the text itself") == ("text", "the text itself")
        name, content = load(None)
        assert name == default.name and content == default.read_text(encoding="utf-8") and len(content) > 10_000


def test_unreadable_file_raises_the_callers_error(tmp_path):
    with pytest.raises(EvaluationError, match="cannot read evaluation text .*missing.txt"):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(PruneError, match="cannot read calibration text .*missing.txt"):
        load_calibration_text(tmp_path / "missing.txt")
    with pytest.raises(KeyError, match="cannot read my text"):
        read_text_input(tmp_path, default=DEFAULT_EVAL_TEXT, what="my text", error=KeyError)
