"""Fixtures for the library tests: real files, the real embedder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_app.core.library.library import Library
from desktop_app.core.settings import Settings
from library_corpus import SMALL_MODULES, STDLIB, write_facts


@pytest.fixture
def facts_dir(tmp_path) -> Path:
    root = tmp_path / "docs"
    write_facts(root)
    # Things the walk must skip: hidden files and folders, unsupported types.
    (root / ".secret.md").write_text("hidden file about volcanoes", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "notes.md").write_text("hidden folder about volcanoes", encoding="utf-8")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return root


@pytest.fixture
def make_library(tmp_path, embedder):
    """Build Libraries on the session's real embedder; closed at the end."""
    opened: list[Library] = []

    def make(library_dir: Path | None = None, **settings) -> Library:
        lib = Library(library_dir or tmp_path / "library", embedder_factory=lambda: embedder,
                      settings=Settings(**settings))
        opened.append(lib)
        return lib

    yield make
    for lib in opened:
        lib.close()


@pytest.fixture
def stdlib_library(tmp_path, make_library):
    """A library of small real standard-library sources (100+ passages)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in SMALL_MODULES:
        if (STDLIB / f"{name}.py").is_file():
            shutil.copyfile(STDLIB / f"{name}.py", docs / f"{name}.py")
    lib = make_library()
    lib.add([docs])
    assert lib.store.totals()["chunks"] > 100
    return lib
