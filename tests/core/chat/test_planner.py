"""The app-side planner: word problems to calculator expressions.

Documents are real files parsed by Hearth's own parser (the passages the
planner sees in the app); each planned expression is evaluated by the real
calculator and compared with the hand-computed answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.chat.planner import plan
from desktop_app.core.chat.quantities import words_of
from desktop_app.core.library.parse import parse_file
from desktop_app.core.tools.calculator import evaluate

INVOICE = """# Invoice 2291 — Harbour Print Ltd

**Client:** Okafor & Lind, 9 Quay Street, Hull

| Line | Item                     | Qty | Unit price (GBP) | Amount (GBP) |
|------|--------------------------|----:|-----------------:|-------------:|
| 1    | Business cards, 500 pack |   4 |            18.00 |        72.00 |
| 2    | A1 poster, matt          |  12 |             9.50 |       114.00 |
| 3    | Tri-fold leaflet         | 800 |             0.15 |       120.00 |

**Net total:** 306.00 GBP

VAT of 20% is added to the net total. Delivery costs a flat 12.00 GBP per order.
Orders above 500.00 GBP net ship free.
"""

LOG = """TURBINE VIBRATION LOG - unit T4

Shift     Operator     Axial (mm/s)   Radial (mm/s)   Bearing temp (C)
Early     K. Osei      2.1            3.4             61
Late      M. Duarte    2.7            4.1             64
Night     K. Osei      1.8            2.9             58

Alarm threshold: radial vibration 7.1 mm/s; bearing temp 80 C.
"""


@pytest.fixture(scope="module")
def passages(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_docs")
    (root / "invoice.md").write_text(INVOICE, encoding="utf-8")
    (root / "vibration.txt").write_text(LOG, encoding="utf-8")
    out = []
    for n, name in enumerate(("invoice.md", "vibration.txt"), start=1):
        out.append((n, " ".join(b.text for b in parse_file(Path(root / name)))))
    return out


def value_of(planned) -> float:
    assert planned is not None
    result = evaluate(planned.expression)
    return float(result.value)


@pytest.mark.parametrize("question, answer", [
    ("A bus ticket costs $2.75. How much do 8 tickets cost?", 22),
    ("A crate holds 18 bottles. How many bottles are in 5 crates in total?", 90),
    ("Lunch came to $64.00 and we tip 20%. How much is the tip?", 12.8),
    ("A $90 lamp is 30% off. What is the sale price?", 63),
    ("Three flatmates split a $1,410 rent evenly. How much does each flatmate pay?", 470),
    ("A cyclist rides 54 km in 3 hours. What is her average speed?", 18),
    ("Soup for 4 people needs 600 ml of stock. How much stock do I need for 10 people?", 1500),
    ("The price went from $80 to $92. By what percent did it increase?", 15),
    ("How many 330 ml cans can I fill from a 1.65 litre jug?", 5),
    ("I bought 2 shirts at $14.50 each and a tie for $9. How much did I spend in total?", 38),
    ("Convert 100 degrees Celsius to Fahrenheit", 212),
    ("how many km is 26.2 miles", 26.2 * 1.609344),
    ("Our van covered 630 km on 45 litres of diesel. What is that in km per litre?", 14),
    ("Rent is 1,150 a month. How much is that per year?", 13800),
    ("A 400 g jar of honey costs $6. What does it cost per kg?", 15),
    ("I swam 1.5 km in 36 minutes. What was my pace in minutes per km?", 24),
    ("I buy 3 coffees at 2.80 each and pay with a 10 note. How much change do I get?", 1.6),
    ("The 80 litre tank is 1/4 full. How many litres do I need to add to fill it?", 60),
    ("A coat fell from 250 to 200 pounds in the sale. What percentage discount is that?", 20),
])
def test_word_problems_with_their_own_numbers(question, answer):
    assert value_of(plan(question)) == pytest.approx(answer)


@pytest.mark.parametrize("question, answer, source", [
    ("What does the Harbour Print invoice come to including the 20% VAT?", 367.2, 1),
    ("How much do the posters and the leaflets on the invoice cost together?", 234, 1),
    ("If we ordered 10 packs of business cards instead of 4, at the unit price, how much would they cost?",
     180, 1),
    ("What is the average radial vibration of the three shifts of turbine T4?", (3.4 + 4.1 + 2.9) / 3, 2),
    ("By how many degrees does the bearing temp on the Late shift exceed the Night shift?", 6, 2),
    ("What percentage of the alarm threshold for radial vibration is the Late shift's radial reading?",
     4.1 / 7.1 * 100, 2),
    ("What is the mean bearing temp of the shifts K. Osei worked?", (61 + 58) / 2, 2),
])
def test_word_problems_over_document_numbers(passages, question, answer, source):
    planned = plan(question, passages)
    assert value_of(planned) == pytest.approx(answer)
    assert planned.sources == (source,)


@pytest.mark.parametrize("question", [
    "What is the net total of invoice 2291?",            # a lookup, no arithmetic
    "Who operated the early shift?",
    "What happens when you divide by zero in Python?",
    "How do I raise the maximum recursion depth?",
    "In which Python version was the walrus operator added?",
    "How many shifts were logged for unit T4?",
    "What is the VAT rate?",
    "By what percentage did the radial vibration change from the 2 early shifts to the 3 late ones?",
    "We stayed 3 nights and got 4 days of per diem. What did the trip cost?",
])
def test_lookups_and_conceptual_questions_are_not_planned(passages, question):
    assert plan(question, passages) is None


def test_labels_in_numbers_are_not_operands():
    """Invoice numbers, street numbers, years and 'week 46' name things."""
    assert plan("How much did we spend in week 46 at 9 Quay Street in 2026?") is None


def test_identifiers_and_articles():
    assert {"B", "site"} <= words_of("the lead at site B")
    assert "A" in words_of("compare site A with site C")
    assert "A" not in words_of("A pizza costs $12")


def test_a_table_cut_between_two_chunks_is_joined_again(tmp_path):
    """The chunker cuts a long table; the planner sees the retrieved chunks
    of one document joined back together, so no row is missing."""
    from desktop_app.core.chat.citations import Source
    from desktop_app.core.chat.quantities import joined_passages
    from desktop_app.core.library.chunk import chunk_blocks

    rows = "\n".join(f"Day {i:02d}    Depot run {i}    {10 + i}.5" for i in range(1, 25))
    path = tmp_path / "fuel.txt"
    path.write_text("Date    Route    Fuel filled (litres)\n" + rows + "\n", encoding="utf-8")
    chunks = list(chunk_blocks(parse_file(path), lambda text: len(text.split()), max_tokens=60,
                               overlap_tokens=10))
    assert len(chunks) >= 3
    sources = [Source(n=i + 1, path=str(path), text=c.text, start=c.start, end=c.end)
               for i, c in enumerate(chunks)][::-1]     # retrieval order is not document order
    question = "How many litres of fuel were filled in total over the 24 days?"
    assert value_of(plan(question, joined_passages(sources))) == pytest.approx(sum(10.5 + i for i in range(1, 25)))
    assert plan(question, [(s.n, s.text) for s in sources]) is None or \
        value_of(plan(question, [(s.n, s.text) for s in sources])) != pytest.approx(sum(10.5 + i for i in range(1, 25)))


def test_a_month_before_an_amount_does_not_make_it_a_date():
    """'By the end of October EUR 11,960 had been spent': an amount; '3
    November' and 'November 3' are dates."""
    memo = ("The travel budget for 2026 is EUR 9,000. By the end of June EUR 3,600 had been spent. "
            "The next review is on 3 November and the audit on November 14.")
    planned = plan("What percentage of the travel budget had been spent by the end of June?", [(1, memo)])
    assert value_of(planned) == pytest.approx(40)
    from desktop_app.core.chat.quantities import numbers_in_text
    assert sorted(q.value for q in numbers_in_text(memo)) == [3600, 9000]
