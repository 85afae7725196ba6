"""The cited-passage box tells code from prose in passages as the parsers cut
them (blocks joined by blank lines; only code keeps its line breaks). Real
passages of the Python docs where installed, and written ones. No Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.library.chunk import chunk_blocks
from desktop_app.core.library.parse import parse_file
from desktop_app.ui.passage_text import looks_like_code, passage_html, passage_parts

SHUTIL = Path("/usr/share/doc/python3.11/html/library/shutil.html")


def test_code_with_blank_lines_inside_stays_one_code_part():
    passage = ("An example that uses the ignore_patterns() helper:\n\n"
               "from shutil import copytree, ignore_patterns\n\n"
               "copytree(source, destination, ignore=ignore_patterns('*.pyc', 'tmp*'))\n\n"
               "This will copy everything except .pyc files.\n\n"
               "from shutil import copytree\nimport logging\n\n"
               "def _logpath(path, names):\n    logging.info('Working in %s', path)\n    return []\n\n"
               "copytree(source, destination, ignore=_logpath)")
    parts = passage_parts(passage)
    assert [p.kind for p in parts] == ["text", "code", "text", "code"]
    assert parts[1].text == ("from shutil import copytree, ignore_patterns\n\n"
                             "copytree(source, destination, ignore=ignore_patterns('*.pyc', 'tmp*'))")
    assert parts[3].text.startswith("from shutil import copytree\nimport logging\n\ndef _logpath(path, names):\n"
                                    "    logging.info(")
    assert parts[3].text.endswith("copytree(source, destination, ignore=_logpath)")


@pytest.mark.parametrize("prose", [
    "The garden has 48 raised-bed plots; the yearly fee is 35 euros.",
    "For example:",
    "Changed in version 3.8: the function now returns the path (see above).",
    "| Part | Interval | | Valve | yearly |",
    "The value x = 3 is used here.",
])
def test_sentences_are_prose(prose):
    assert not looks_like_code(prose)


@pytest.mark.parametrize("code", [
    ">>> print(1)\n1",
    "$ ls -l /tmp",
    "import os",
    "print(n)",
    "total = price * count",
    "for n in range(3):\n    print(n)",
    "int main(void) {\n  return 0;\n}",
])
def test_statements_and_sessions_are_code(code):
    assert looks_like_code(code)


def test_a_source_file_passage_is_code_whole_and_html_is_escaped():
    assert [p.kind for p in passage_parts("x = 1\n\nThis comment-like line.", source_is_code=True)] == ["code"]
    html = passage_html("if a < b:\n    print('<b>')", background="#ff0", foreground="#000",
                        code_background="#eee", border="#ccc")
    assert "<pre" in html and "if a &lt; b:\n    print('&lt;b&gt;')" in html


@pytest.mark.skipif(not SHUTIL.exists(), reason="real HTML comes from Debian's python3.11-doc, not installed")
def test_every_code_block_of_a_real_page_shows_as_code_in_its_passages():
    """Each <pre> block the parser read (a block with line breaks) lands in a
    code part of every passage that holds it."""
    code_blocks = [b.text for b in parse_file(SHUTIL) if "\n" in b.text]
    assert len(code_blocks) >= 5
    chunks = list(chunk_blocks(parse_file(SHUTIL), lambda text: len(text.split()), 120, 20))
    checked = 0
    for chunk in chunks:
        code_parts = [p.text for p in passage_parts(chunk.text) if p.kind == "code"]
        for block in code_blocks:
            if block in chunk.text:
                checked += 1
                assert any(block in part for part in code_parts), block[:60]
    assert checked >= len(code_blocks)
