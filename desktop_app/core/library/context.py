"""Where a passage sits in its document: the words that name its subject.

A passage cut from the middle of a long page rarely repeats the page's
subject ("the third argument may be omitted" says nothing of *which*
function). The document's title and the heading path above the passage do,
so both are stored with every passage, searched by BM25 as their own
weighted fields, and prefixed to the text the embedder sees.

The title is derived from the file name (``hyperref-doc.pdf`` -> "hyperref
doc"). That is deliberate: it is known for every format, costs nothing, is
often the most specific name a document has (``shutil.html``,
``longtable.pdf``, ``tenancy_agreement_flat_3.docx``), and a library built by an
older version can be given exactly the same titles from the paths it stored,
without re-reading a single file. Formats with a real title heading (HTML
``h1``, PDF bookmarks, Markdown ``#``) already carry it as the first element
of the section path.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Optional

# Bumped when what the embedder sees for a passage changes: a library whose
# vectors were made from another composition is re-embedded (in the
# background, the old vectors serving searches meanwhile).
EMBED_TEXT_VERSION = 2

_SEPARATORS = re.compile(r"[_\-.+\s]+")
_MAX_TITLE = 120
_MAX_SECTION = 200


def document_title(path: str) -> str:
    """A short, searchable title from the file name: its stem with
    separators as spaces ("git-commit.html" -> "git commit")."""
    stem = PurePath(path).name
    dot = stem.rfind(".")
    if dot > 0:
        stem = stem[:dot]
    return _SEPARATORS.sub(" ", stem).strip()[:_MAX_TITLE]


def embed_text(title: Optional[str], section: Optional[str], text: str) -> str:
    """What the embedder sees for a passage: "title > headings: text".

    The heading path is cut to its last levels when long (the nearest
    headings say most), and the title is left out when the path already
    starts with it, so the context costs a few tokens of the chunk's budget.
    """
    title = (title or "").strip()
    section = (section or "").strip()
    if len(section) > _MAX_SECTION:
        section = "… " + section[-_MAX_SECTION:].split(" > ", 1)[-1]
    if title and section and _same_words(section.split(" > ", 1)[0], title):
        title = ""
    head = " > ".join(part for part in (title, section) if part)
    return f"{head}: {text}" if head else text


def _same_words(a: str, b: str) -> bool:
    words_a = set(re.findall(r"\w+", a.lower()))
    words_b = set(re.findall(r"\w+", b.lower()))
    return bool(words_b) and words_b <= words_a
