"""Chunking measured with the real embedder tokenizer (all-MiniLM-L6-v2's WordPiece)."""

from __future__ import annotations

import pytest

from desktop_app.core.library.chunk import chunk_blocks
from desktop_app.core.library.documents import Block
from desktop_app.core.library.parse import BLOCK_SEP, parse_file


@pytest.fixture(scope="module")
def count_tokens():
    """Token counts from the packaged embedder's own tokenizer file (the same
    WordPiece the embedder uses), without importing transformers."""
    from tokenizers import Tokenizer

    from desktop_app.core.defaults import default_embedder_dir

    tok = Tokenizer.from_file(str(default_embedder_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    calls = []

    def count(text: str) -> int:
        calls.append(len(text))
        return len(tok.encode(text, add_special_tokens=False).ids)

    count.calls = calls
    return count


def numbered(items):
    """Blocks with consecutive offsets, as parse_file makes them."""
    start = 0
    out = []
    for text, page, section in items:
        out.append(Block(text=text, page=page, section=section, start=start))
        start += len(text) + len(BLOCK_SEP)
    return out


def extracted(blocks):
    return BLOCK_SEP.join(b.text for b in blocks)


SENTENCES = [
    f"Sentence number {i} talks about the {w} of the library and why it matters to users."
    for i, w in enumerate(["speed", "safety", "layout", "memory", "search", "storage", "parsing",
                           "citations", "history", "design"] * 6)
]


def test_chunks_respect_token_budget_overlap_and_offsets(count_tokens):
    paras = [" ".join(SENTENCES[i:i + 4]) for i in range(0, len(SENTENCES), 4)]
    blocks = numbered((p, None, "Guide") for p in paras)
    doc = extracted(blocks)
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=60, overlap_tokens=20))
    assert len(chunks) > 5
    for c in chunks:
        assert doc[c.start:c.end] == c.text
        assert count_tokens(c.text) <= 60 + 3   # per-sentence sums may differ by a token at joins
        assert c.section == "Guide"
    # every sentence lands in some chunk, in order, and consecutive chunks overlap
    covered = " ".join(c.text for c in chunks)
    for s in SENTENCES:
        assert s in covered
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks share overlap text"
        assert b.start > a.start
    # the overlap is whole sentences, not cut words
    for c in chunks:
        assert c.text[0].isupper() and c.text.rstrip()[-1] == "."


def test_never_crosses_pdf_page_and_prefers_section_boundaries(count_tokens):
    blocks = numbered([
        ("Intro", 1, "Intro"),
        (" ".join(SENTENCES[:3]), 1, "Intro"),
        (" ".join(SENTENCES[3:7]), 2, "Intro"),            # same section, next page
        ("Details", 2, "Intro > Details"),
        (" ".join(SENTENCES[7:12]), 2, "Intro > Details"),
    ])
    doc = extracted(blocks)
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=200, overlap_tokens=40))
    for c in chunks:
        assert doc[c.start:c.end] == c.text
        pages = {b.page for b in blocks if b.start < c.end and b.start + len(b.text) > c.start}
        assert pages == {c.page}, f"chunk spans pages {pages}"
    # page 1 is one chunk with the heading; page 2 splits at the new section
    assert chunks[0].page == 1 and chunks[0].text.startswith("Intro")
    page2 = [c for c in chunks if c.page == 2]
    assert any(c.section == "Intro > Details" and c.text.startswith("Details") for c in page2)
    assert not any("Sentence number 4 " in c.text and "Details" in c.text for c in page2)


def test_lone_heading_joins_the_following_section(count_tokens):
    blocks = numbered([
        ("Chapter One", None, "Chapter One"),
        ("Getting started", None, "Chapter One > Getting started"),
        (" ".join(SENTENCES[:3]), None, "Chapter One > Getting started"),
    ])
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=200))
    assert len(chunks) == 1
    assert chunks[0].text.startswith("Chapter One\n\nGetting started\n\nSentence number 0")


def test_giant_sentence_is_split_by_words_with_few_token_counts(count_tokens):
    words = [f"word{i % 97}" for i in range(20000)]    # ~200 KB, no sentence boundary
    blocks = numbered([(" ".join(words), None, None)])
    count_tokens.calls.clear()
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=100, overlap_tokens=0))
    doc = extracted(blocks)
    assert sum(len(c.text.split()) for c in chunks) == len(words)
    for c in chunks:
        assert doc[c.start:c.end] == c.text
        assert count_tokens(c.text) <= 100
        assert not c.text.startswith(" ") and not c.text.endswith(" ")
    # measured on pieces, not on the whole 200 KB string over and over
    assert sum(count_tokens.calls[: len(count_tokens.calls) - len(chunks)]) < 6 * len(doc)
    assert max(count_tokens.calls) < 20000


def test_unbreakable_token_run_is_cut_by_characters(count_tokens):
    blob = "ab9f" * 3000    # like a base64 blob: one 12,000 char "word"
    blocks = numbered([(blob, None, None)])
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=64, overlap_tokens=0))
    assert "".join(c.text for c in chunks) == blob
    assert all(count_tokens(c.text) <= 64 for c in chunks)


def test_chunks_of_a_parsed_markdown_file(tmp_path, count_tokens):
    body = "\n\n".join(" ".join(SENTENCES[i:i + 5]) for i in range(0, 40, 5))
    path = tmp_path / "guide.md"
    path.write_text(f"# Guide\n\n{body}\n\n## Install\n\nRun `pip install hearth` once.\n", encoding="utf-8")
    blocks = list(parse_file(path))
    doc = extracted(blocks)
    chunks = list(chunk_blocks(blocks, count_tokens, max_tokens=80, overlap_tokens=20))
    assert all(doc[c.start:c.end] == c.text for c in chunks)
    assert chunks[-1].section == "Guide > Install"
    assert "pip install hearth" in chunks[-1].text
    assert chunks[0].section == "Guide"


def test_chunker_is_lazy(count_tokens):
    """Chunks come out while blocks are still being produced (streaming)."""
    produced = []

    def blocks():
        start = 0
        for i in range(10_000):
            text = SENTENCES[i % len(SENTENCES)]
            produced.append(i)
            yield Block(text=text, start=start)
            start += len(text) + len(BLOCK_SEP)

    it = chunk_blocks(blocks(), count_tokens, max_tokens=100, overlap_tokens=20)
    first = next(it)
    assert first.text.startswith("Sentence number 0")
    assert len(produced) < 20
