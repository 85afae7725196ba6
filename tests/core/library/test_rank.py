"""Hybrid fusion: scores, not ranks, and several good passages of one file."""

from __future__ import annotations

from desktop_app.core.library.context import document_title, embed_text
from desktop_app.core.library.rank import BARE_TEXT_WEIGHTS, FusionWeights, fuse, normalized


def test_a_clear_vector_winner_stays_first_against_a_flat_bm25_list():
    # Vector: chunk 1 far ahead. BM25: ten near-ties that do not include it.
    vector = [(1, 0.80)] + [(10 + i, 0.45 - 0.001 * i) for i in range(20)]
    bm25 = [(100 + i, 7.0 - 0.01 * i) for i in range(20)]
    files = {c: f"f{c}" for c, _ in vector + bm25}
    assert fuse(vector, bm25, files)[0][0] == 1


def test_agreement_of_both_sides_beats_either_alone():
    vector = [(1, 0.70), (2, 0.69), (3, 0.40), (4, 0.39)]
    bm25 = [(3, 9.0), (2, 8.9), (5, 4.0), (6, 3.9)]
    files = {c: f"f{c}" for c in range(1, 7)}
    assert fuse(vector, bm25, files)[0][0] == 2


def test_several_good_passages_of_one_file_lift_its_best_one():
    vector = [(1, 0.60), (2, 0.59), (3, 0.58), (4, 0.30), (5, 0.29), (6, 0.28)]
    files = {1: "lone.html", 2: "topic.html", 3: "topic.html", 4: "x", 5: "y", 6: "z"}
    # Document evidence (the weights for vectors of bare passage text).
    assert fuse(vector, [], files, BARE_TEXT_WEIGHTS)[0][0] == 2
    # Without it the lone passage's higher score wins.
    assert fuse(vector, [], files, FusionWeights(doc_best=0.0, doc_rest=0.0))[0][0] == 1


def test_normalized_scores_span_zero_to_one():
    scores = normalized([(1, 5.0), (2, 3.0), (3, 1.0)], floor=0.5)
    assert scores == {1: 1.0, 2: 0.0, 3: 0.0}
    assert normalized([(7, 2.0)], floor=0.5) == {7: 1.0}
    assert normalized([], floor=0.5) == {}


def test_titles_and_embed_text():
    assert document_title("/usr/share/doc/git-doc/git-commit.html") == "git commit"
    assert document_title("/home/me/invoice_2026-11.v2.pdf") == "invoice 2026 11 v2"
    assert document_title("README") == "README"
    assert embed_text("git commit", "Options > --amend", "Replace the tip.") == \
        "git commit > Options > --amend: Replace the tip."
    # The heading path already starts with the title: not repeated.
    assert embed_text("shutil", "shutil — High-level file operations", "Copy a tree.") == \
        "shutil — High-level file operations: Copy a tree."
    assert embed_text("", None, "Bare text.") == "Bare text."
