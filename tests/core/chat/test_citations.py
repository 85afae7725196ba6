"""Citations attributed by meaning with the real default embedder: a marker
the model wrote stays only when its passage supports the sentence."""

from __future__ import annotations

from desktop_app.core.chat.citations import Source, resolve_citations, sentences

SOURCES = [
    Source(1, "/d/bikes.txt", "The bike shed opens at 8 am; bicycles must be locked to the rack "
                              "and have lights after dark."),
    Source(2, "/d/garden.md", "Tomatoes in the community garden are watered every morning at 7 am "
                              "by volunteers."),
    Source(3, "/d/photo.md", "The photography club owns two tripods and a film scanner; its annual "
                             "meeting is in March."),
]


def cited(citations):
    return [(c["n"], c["inferred"]) for c in citations]


def test_a_wrong_marker_is_removed_and_the_supporting_passage_cited_as_inferred(embedder):
    text, citations = resolve_citations("The tomatoes are watered every morning at 7 am [1].",
                                        SOURCES, embedder.encode)
    assert "[1]" not in text and "7 am" in text
    assert cited(citations) == [(2, True)]
    assert citations[0]["path"] == "/d/garden.md" and "watered" in citations[0]["text"]


def test_a_supported_marker_is_kept_as_the_models_own(embedder):
    text, citations = resolve_citations("The photography club owns two tripods [3]. Its annual "
                                        "meeting is held in March [3].", SOURCES, embedder.encode)
    assert text.count("[3]") == 2
    assert cited(citations) == [(3, False)]


def test_each_sentence_is_judged_on_its_own(embedder):
    answer = "Tomatoes are watered at 7 am by volunteers. [2] The club owns two tripods [2]."
    text, citations = resolve_citations(answer, SOURCES, embedder.encode)
    # The marker after the first full stop belongs to the first sentence and holds;
    # the second sentence's [2] does not, and the club's passage is cited instead.
    assert text == "Tomatoes are watered at 7 am by volunteers. [2] The club owns two tripods."
    assert cited(citations) == [(2, False), (3, True)]


def test_uncited_answer_is_attributed_to_the_passage_it_matches_not_the_first(embedder):
    _, citations = resolve_citations("The photography club has a film scanner and two tripods.",
                                     SOURCES, embedder.encode)
    assert cited(citations) == [(3, True)]


def test_too_short_to_judge_keeps_the_models_marker_or_falls_back_to_the_top_passage(embedder):
    assert cited(resolve_citations("Yes [3].", SOURCES, embedder.encode)[1]) == [(3, False)]
    assert cited(resolve_citations("Yes.", SOURCES, embedder.encode)[1]) == [(1, True)]
    assert resolve_citations("[7]", SOURCES, embedder.encode) == ("", [])


def test_sentences_keep_markers_with_the_sentence_before():
    assert sentences("Tomatoes are watered at seven. [2] Bikes are locked to the rack [1].") == [
        "Tomatoes are watered at seven. [2]", "Bikes are locked to the rack [1]."]
    # A fragment too short to judge joins its neighbour.
    assert sentences("Yes. Tomatoes are watered at seven every morning.") == [
        "Yes. Tomatoes are watered at seven every morning."]


def test_a_short_answer_is_judged_together_with_its_question(embedder):
    _, citations = resolve_citations("Two.", SOURCES, embedder.encode,
                                     question="How many tripods does the photography club own?")
    assert cited(citations) == [(3, True)]
