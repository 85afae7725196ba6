"""Parsing real files of every supported format, and each kind of bad file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.parse import BLOCK_SEP, SUPPORTED_SUFFIXES, is_supported, parse_file


def parse(path):
    blocks = list(parse_file(Path(path)))
    doc = BLOCK_SEP.join(b.text for b in blocks)
    for b in blocks:   # offsets are consecutive and index the extracted text
        assert doc[b.start:b.start + len(b.text)] == b.text
    return blocks, doc


def reason(path) -> str:
    with pytest.raises(ParseError) as info:
        list(parse_file(Path(path)))
    return info.value.reason


# ---------------------------------------------------------------- plain text

FRENCH = "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])
def test_text_in_common_encodings(tmp_path, encoding):
    text = FRENCH if encoding != "latin-1" else FRENCH.replace("œ", "oe").replace("Ÿ", "Y")
    if encoding == "cp1252":
        text += " Prix : 5 € – « guillemets »."
    body = "\n\n".join([text] * 3 + ["Une deuxième idée, sur deux\nlignes qui se suivent."])
    path = tmp_path / f"notes-{encoding}.txt"
    path.write_bytes(body.encode(encoding))
    blocks, doc = parse(path)
    assert [b.text for b in blocks[:3]] == [text] * 3
    assert blocks[3].text == "Une deuxième idée, sur deux lignes qui se suivent."
    assert all(b.page is None and b.section is None for b in blocks)


def test_is_supported():
    assert is_supported("a/b/Report.PDF") and is_supported("x.docx") and is_supported("README")
    assert is_supported("main.rs") and is_supported("q.sql") and is_supported("c.yaml")
    assert not is_supported("photo.jpg") and not is_supported("archive.zip")
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- markdown

def test_markdown_headings_become_sections(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "Hearth guide\n============\n\nIntro with a [link](https://example.org) and **bold** text.\n\n"
        "## Install\n\nRun the installer.\nIt takes a minute.\n\n"
        "```sh\n# not a heading\npip install hearth\n```\n\n"
        "### On Linux ###\n\nUse the AppImage.\n\n"
        "Usage\n-----\n\n* one\n* two\n\n"
        "# Other\n\nEnd.\n", encoding="utf-8")
    blocks, _ = parse(path)
    by_text = {b.text: b.section for b in blocks}
    assert by_text["Intro with a link and bold text."] == "Hearth guide"
    assert by_text["Run the installer. It takes a minute."] == "Hearth guide > Install"
    assert by_text["# not a heading\npip install hearth"] == "Hearth guide > Install"
    assert by_text["Use the AppImage."] == "Hearth guide > Install > On Linux"
    assert by_text["* one * two"] == "Hearth guide > Usage"
    assert by_text["End."] == "Other"


# ---------------------------------------------------------------- failures

def test_empty_and_blank_files(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("\n\n   \n\t\n", encoding="utf-8")
    assert reason(tmp_path / "empty.txt") == "empty file"
    assert reason(tmp_path / "blank.md") == "empty file"


def test_binary_file_with_text_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 64)
    assert reason(path) == "binary file"
    elf = tmp_path / "tool.sh"
    elf.write_bytes(Path("/bin/ls").read_bytes()[:200_000])    # a real executable named like a script
    assert reason(elf) == "binary file"


def test_vanished_and_unsupported(tmp_path):
    gone = tmp_path / "gone.txt"
    gone.write_text("here for a moment", encoding="utf-8")
    gone.unlink()
    assert reason(gone) == "file vanished"
    (tmp_path / "pic.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    assert reason(tmp_path / "pic.jpg") == "unsupported format"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions: chmod 000 cannot make a file "
                    "unreadable for this test run")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("private", encoding="utf-8")
    path.chmod(0)
    try:
        assert reason(path) == "unreadable: permission denied"
    finally:
        path.chmod(0o600)


def test_unreadable_file_as_root_via_io_error(tmp_path):
    """Root bypasses permissions; a real read fault still must become a reason:
    a directory named like a document cannot be read as one."""
    folder = tmp_path / "notes.txt"
    folder.mkdir()
    assert reason(folder) == "unsupported format"
