"""The second pass over fused candidates (rerank.rerank), alone and in a
real library with the real embedder."""

from __future__ import annotations

import numpy as np

from desktop_app.core.library.rerank import RerankWeights, rerank

ONLY_SAME_FILE = RerankWeights(file_evidence=0.0, near_duplicate=0.0)
ONLY_COPIES = RerankWeights(file_evidence=0.0, same_file=0.0)
NOTHING = RerankWeights(file_evidence=0.0, same_file=0.0, near_duplicate=0.0)


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def ids(out):
    return [c for c, _ in out]


def test_a_files_further_passages_yield_to_another_files_nearly_as_good_one():
    ranked = [(1, 1.00), (2, 0.95), (3, 0.90), (4, 0.80)]
    files = {1: "manual", 2: "manual", 3: "manual", 4: "other"}
    assert ids(rerank(ranked, files, 4, params=ONLY_SAME_FILE)) == [1, 4, 2, 3]
    # Without the penalty the fused order stands.
    assert ids(rerank(ranked, files, 4, params=NOTHING)) == [1, 2, 3, 4]


def test_a_clearly_better_second_passage_keeps_its_place():
    ranked = [(1, 1.00), (2, 0.90), (3, 0.40)]
    files = {1: "a", 2: "a", 3: "b"}
    assert ids(rerank(ranked, files, 3, params=ONLY_SAME_FILE)) == [1, 2, 3]


def test_a_near_copy_in_another_file_yields_but_a_different_passage_does_not():
    # 2 is nearly the same text as 1 (a page and its source); 3 says something else.
    vectors = {1: unit(1, 0, 0), 2: unit(1, 0.05, 0), 3: unit(0.5, 1, 0)}
    ranked = [(1, 1.00), (2, 0.98), (3, 0.85)]
    files = {1: "page.html", 2: "page.txt", 3: "other.html"}
    assert ids(rerank(ranked, files, 3, vectors, ONLY_COPIES)) == [1, 3, 2]
    # The same scores, but 2 only shares the topic (cosine 0.5): it keeps its place.
    vectors[2] = unit(0.6, 1, 0)
    assert ids(rerank(ranked, files, 3, vectors, ONLY_COPIES)) == [1, 2, 3]


def test_k_places_sorted_scores_and_only_the_pool_moves():
    ranked = [(i, 1.0 - 0.01 * i) for i in range(60)]
    files = {i: f"f{i % 3}" for i in range(60)}
    out = rerank(ranked, files, 20, params=RerankWeights(pool=30, file_evidence=0.0, near_duplicate=0.0))
    assert len(out) == 20 and len(set(ids(out))) == 20
    assert all(c < 30 for c in ids(out))
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True)
    assert len({files[c] for c in ids(out[:3])}) == 3
    assert out[3] == (3, 0.97 - 0.3)  # the placed score: fused less the penalty


def test_several_good_passages_of_one_file_lift_it_above_a_lone_passage():
    # 1 is a lone passage; 2, 3, 4 are one file that matches in several places.
    ranked = [(1, 0.80), (2, 0.75), (3, 0.70), (4, 0.65), (5, 0.20)]
    files = {1: "lone", 2: "topic", 3: "topic", 4: "topic", 5: "x"}
    assert ids(rerank(ranked, files, 2, params=RerankWeights(near_duplicate=0.0))) == [2, 1]
    assert ids(rerank(ranked, files, 2, params=ONLY_SAME_FILE)) == [1, 2]
    # Only candidates in the pool count: the same file beyond it adds nothing.
    assert ids(rerank(ranked, files, 2, params=RerankWeights(near_duplicate=0.0, pool=2))) == [1, 2]


def test_only_the_strongest_candidates_count_as_document_evidence():
    # 1 answers alone; "long" has one candidate near the top and many
    # middling ones further down the pool.
    ranked = [(1, 0.95), (2, 0.88)] + [(i, 0.40) for i in range(3, 20)]
    files = {1: "answer", 2: "long", **{i: "long" for i in range(3, 20)}}
    whole_pool = RerankWeights(near_duplicate=0.0, same_file=0.0, evidence_pool=30)
    assert ids(rerank(ranked, files, 1, params=whole_pool)) == [2]
    assert ids(rerank(ranked, files, 1, params=RerankWeights(near_duplicate=0.0, same_file=0.0))) == [1]
    # Two strong passages of one file among the first five still lift it.
    ranked = [(1, 0.90), (2, 0.88), (3, 0.86), (4, 0.30)]
    files = {1: "answer", 2: "topic", 3: "topic", 4: "x"}
    assert ids(rerank(ranked, files, 1, params=RerankWeights(near_duplicate=0.0, same_file=0.0))) == [2]


def test_a_chunk_without_a_file_or_vector_is_its_own():
    ranked = [(1, 1.0), (2, 0.99), (3, 0.5)]
    assert ids(rerank(ranked, {}, 3, {})) == [1, 2, 3]
    assert rerank([], {}, 5) == []


# A real library: a long guide kept twice (the file and a backup copy) and a
# calendar with one passage on the same subject.
GUIDE = """# Growing tomatoes

## Watering
Water tomato plants deeply two or three times a week rather than a little every day. Tomatoes in pots \
dry out faster and may need water daily in hot weather. Water at the base of the plant in the morning \
so the leaves stay dry.

## Soil
Tomato plants like rich, well drained soil with plenty of compost. Work a balanced fertiliser into the \
bed before planting and side-dress the tomatoes with compost when the first fruits set.

## Staking and pruning
Tie tall tomato varieties to a stake or cage as they grow. Pinch out the side shoots that appear \
between the main stem and the leaf stalks of cordon tomatoes so the plant puts its energy into fruit.

## Sunlight
Tomatoes need at least six to eight hours of direct sun a day. A tomato plant grown in shade makes \
leggy stems, few flowers and little fruit.

## Harvest
Pick tomatoes when they are fully coloured and slightly soft. At the end of the season, ripen the last \
green tomatoes indoors on a sunny windowsill.
"""
CALENDAR = """# Garden calendar

## March
Sow tomato seeds indoors in small pots on a warm windowsill; plant the young tomatoes outside after \
the last frost, when nights stay above ten degrees.

## October
Rake fallen leaves onto the compost heap and plant spring bulbs such as tulips and daffodils.
"""


def test_in_a_real_library_copies_and_one_files_passages_leave_room_for_other_evidence(tmp_path, make_library):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tomato_guide.md").write_text(GUIDE, encoding="utf-8")
    (docs / "tomato_guide_backup.md").write_text(GUIDE, encoding="utf-8")
    (docs / "garden_calendar.md").write_text(CALENDAR, encoding="utf-8")
    lib = make_library()
    lib.add([docs])
    question = "when should I plant tomatoes"

    # The setting this test is about: by similarity alone, the guide and its
    # copy take the first three places, the same passage twice among them.
    by_vector = lib.search(question, k=3, mode="vector")
    assert {p.split("/")[-1] for p in (h.path for h in by_vector)} <= {"tomato_guide.md", "tomato_guide_backup.md"}
    assert len({h.text for h in by_vector}) < 3

    hybrid = lib.search(question, k=3, mode="hybrid")
    assert "garden_calendar.md" in [h.path.split("/")[-1] for h in hybrid]
    assert len({h.text for h in hybrid}) == 3
    scores = [h.score for h in hybrid]
    assert scores == sorted(scores, reverse=True)

    # The chat asks for the fused order (rerank=False): the guide's passages
    # stay together, as the answer built from them needs.
    fused = lib.search(question, k=3, mode="hybrid", rerank=False)
    assert "garden_calendar.md" not in [h.path.split("/")[-1] for h in fused]
