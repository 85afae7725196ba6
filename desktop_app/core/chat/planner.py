"""The app as planner: word problems turned into calculator expressions.

The packaged 270M base model cannot write a multi-step expression from a
word problem (issue 3: it copies one number and drops the operation). So
for a model without native tool calling Hearth plans the arithmetic itself,
in two explicit steps, and only when both succeed:

1. **The operation** comes from the question's wording, never from the
   passages: "15% tip" (a share), "25% off" / "a 12% cut" (minus a share),
   "including 8% tax" (plus a share), "by what percent did it go up"
   (change), "what percentage of A is B" (ratio), "split evenly" (divide),
   "km in 2.5 hours ... speed" (rate), "250 g for 6 people ... for 9"
   (proportion), "how many 250 ml glasses from a 2 litre bottle" (fit, with
   unit conversion), "3 at $2.40 each and one for $1.15" (items), "total",
   "how much more" / "exceed", "average".
2. **The operands** are the question's own numbers, else labelled
   quantities read from the retrieved passages (``quantities.py``): table cells (named by their
   row and column: "Marketing, FY2027 proposed"), "Key: value" fields and
   numbers in sentences (named by the words around them). A reference in the
   question ("the lead result at site B", "the desk lamps", "the
   drinking-water lead limit") picks the quantity whose name shares most
   words with it. A quantity a document defines as a share of another
   ("a reserve of 3% of the total proposed budget") is resolved through that
   definition, one level deep.

``plan`` returns None whenever the wording or the operands are not clear;
the caller then falls back to the model's own expression. Passages supply
numbers only: nothing in a document chooses the operation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from desktop_app.core.chat.quantities import (
    COMPOUND_RATES, MONEY_UNIT, TEMPERATURES, Facts, Quantity, Table, calc_number, conversion, is_money,
    joined_passages, overlap, parse_number, question_quantities, stem, unit_of, words_of)

log = logging.getLogger(__name__)

__all__ = ["Plan", "Planner", "joined_passages", "plan"]

# Words that name the same amount in quotes, invoices and budgets.
_SYNONYMS = {
    "cost": {"price", "total", "amount"}, "pay": {"price", "total", "amount"},
    "spend": {"total", "amount"}, "order": {"subtotal", "total"}, "quote": {"subtotal", "total"},
    "invoice": {"subtotal", "total"}, "bill": {"total", "amount"}, "budget": {"proposed"},
    "limit": {"regulatory", "maximum"}, "site": {"location"},
}


# ----------------------------------------------------------------- plan

@dataclass(frozen=True)
class Plan:
    expression: str
    operation: str
    sources: tuple[int, ...] = ()


class _NoPlan(Exception):
    pass


def _expand(words: set[str]) -> set[str]:
    out = set(words)
    for w in words:
        out |= _SYNONYMS.get(w, set())
    return out



class Planner:
    """One question, its facts, and the rules above."""

    def __init__(self, question: str, passages: Sequence[tuple[int, str]] = ()) -> None:
        self.question = " ".join(question.split())
        self.q = self.question.lower()
        self.words = words_of(self.question)
        self.numbers = question_quantities(self.question)
        # "20 chairs instead of 12": the replaced number is not an operand.
        self.numbers = [n for n in self.numbers
                        if not re.search(r"instead\s+of\s*$", self.question[:n.start])]
        self.facts = Facts.read(passages)
        self.used_sources: set[int] = set()
        self._named: dict = {}   # (table, words) -> rows, see _rows_named
        self.wants_money = self._has(r"\b(pay|paid|cost|costs|price|spend|spent|budget|euros?|dollars?|usd|eur)\b")

    # ------------------------------------------------------------ helpers

    def _has(self, pattern: str) -> bool:
        return re.search(pattern, self.q) is not None

    def _percents(self) -> list[Quantity]:
        return [n for n in self.numbers if n.percent]

    def _plain(self) -> list[Quantity]:
        return [n for n in self.numbers if not n.percent]

    def _use(self, q: Optional[Quantity]) -> str:
        if q is None:
            raise _NoPlan("a cell the plan needs is empty")
        if q.source:
            self.used_sources.add(q.source)
        return q.text

    def _column_scores(self, table: Table, words: set[str]) -> list[tuple[float, int]]:
        scores = []
        for c, header in enumerate(table.headers):
            numeric = sum(bool(re.fullmatch(r"\s*[$€£]?\s*-?[\d,]*\.?\d+\s*%?\s*", row[c]))
                          for row in table.rows if c < len(row))
            if numeric < len(table.rows) / 2:
                continue
            hw = words_of(header)
            score = overlap(words, hw)
            if score == 0 and words & {"cost", "pay", "spend", "price"} and hw & {"total", "price", "amount"}:
                score = 0.5 + 0.25 * ("total" in hw or "amount" in hw)
            if "unit" in words and "price" in words and hw >= {"unit", "price"}:
                score += 2
            scores.append((score, c))
        return sorted(scores, reverse=True)

    def _rows_named(self, table: Table, words: set[str]) -> list[int]:
        """Rows the words name: by their identifier ("site B", "Marketing"),
        else by a distinctive word of their label; none when the question
        counts them all ("the four sites"). Asked once per table and words:
        scoring every cell asks it again."""
        key = (table.index, frozenset(words))
        if key not in self._named:
            self._named[key] = self._find_rows_named(table, words)
        return self._named[key]

    def _find_rows_named(self, table: Table, words: set[str]) -> list[int]:
        if any(n.value == len(table.rows) and not n.percent for n in self.numbers) and \
                re.search(r"\b(?:the|all|of)\s+(?:\w+\s+)?(?:two|three|four|five|six|seven|eight|nine|ten|\d+)\s+\w+",
                          self.q):
            return []
        ids = [r for r, row in enumerate(table.rows)
               if row and (row[0] in words or (len(row[0]) > 1 and stem(row[0]) in words))]
        if ids:
            return ids
        # A cell written out in the question ("N. Adebayo", "Old School borehole")
        verbatim = [r for r, row in enumerate(table.rows)
                    if any(len(cell) > 2 and re.search(r"[A-Za-z]", cell) and
                           re.search(rf"(?<!\w){re.escape(cell.lower())}(?!\w)", self.q) for cell in row)]
        if verbatim:
            return verbatim
        # "the 28-day cubes": rows whose "Age (days)" cell is 28
        for m in re.finditer(r"(\d+(?:\.\d+)?)-([a-z]+)", self.q):
            value, word = parse_number(m.group(1)), stem(m.group(2))
            for c, header in enumerate(table.headers):
                if word in words_of(header):
                    rows = [r for r, row in enumerate(table.rows)
                            if c < len(row) and re.fullmatch(r"\s*[\d.]+\s*", row[c]) and parse_number(row[c]) == value]
                    if rows:
                        return rows
        labels = table.label_words
        common = set.intersection(*labels) if labels else set()
        named = []
        for r, label in enumerate(labels):
            if overlap(words, label - common) > 0:
                named.append(r)
        return named

    def column_values(self, words: set[str]) -> Optional[tuple[Table, int, list[int]]]:
        """The best table column for ``words`` and the rows the words name
        (all rows when none is named)."""
        best = None
        for table in self.facts.tables:
            scores = self._column_scores(table, words)
            if not scores or scores[0][0] <= 0:
                continue
            rows = self._rows_named(table, words)
            key = (scores[0][0] + 0.5 * bool(rows), -table.index)
            if best is None or key > best[0]:
                best = (key, table, scores[0][1], rows)
        if best is None:
            return None
        _, table, c, rows = best
        return table, c, rows or list(range(len(table.rows)))

    def best_quantity(self, words: set[str], *, percent: Optional[bool] = None,
                      exclude: Sequence[Quantity] = ()) -> Optional[Quantity]:
        """The passage quantity whose name shares most words with ``words``."""
        words = _expand(words)
        best, best_score = None, 0.0
        for q in self.facts.quantities:
            if percent is not None and q.percent != percent:
                continue
            if any(q is e or (q.value == e.value and q.source == e.source) for e in exclude):
                continue
            score = 2 * overlap(words, q.words) + 0.5 * overlap(words, q.context - q.words)
            if q.keyed and overlap(words, q.words):
                score += 1
            if self.wants_money:
                score *= 1.5 if MONEY_UNIT.search(q.unit) else 0.5
            if q.table >= 0:
                table = self.facts.tables[q.table]
                if q.row not in self._rows_named(table, words):
                    score *= 0.4   # a cell of a row the question does not name
            if score > best_score + 1e-9:
                best, best_score = q, score
        return best if best_score >= 2 else None

    def resolve(self, phrase: str, *, depth: int = 0, percent: Optional[bool] = None) -> str:
        """An operand for a reference in the question: a cell, a field, a
        sentence's number, or a definition ("3% of the total budget")."""
        words = words_of(phrase)
        if self._sum_cue(phrase) and not self._rows_named_any(words):
            found = self.column_values(words)
            if found:
                table, c, rows = found
                return "(" + " + ".join(self._use(table.cell(r, c)) for r in rows) + ")"
        q = self.best_quantity(words, percent=percent)
        if q is None:
            raise _NoPlan(f"nothing in the passages matches {phrase!r}")
        if q.percent and depth == 0:
            defined = self._definition(q)
            if defined:
                return defined
        return self._use(q)

    def _rows_named_any(self, words: set[str]) -> bool:
        return any(len(self._rows_named(t, words)) == 1 for t in self.facts.tables)

    def _definition(self, q: Quantity) -> Optional[str]:
        """"a reserve of 3% of the total proposed budget" -> 3% * (sum)."""
        for n, sentence in self.facts.sentences:
            if n != q.source:
                continue
            m = re.search(rf"(?<![\d.]){re.escape(calc_number(q.value))}\s*%\s+of\s+(?:the\s+)?([^.;,]+)",
                          sentence.replace(",", ""))
            if m:
                base = self.resolve("total " + m.group(1) if "total" not in m.group(1) else m.group(1),
                                    depth=1)
                return f"{base} * {self._use(q)}"
        return None

    @staticmethod
    def _sum_cue(text: str) -> bool:
        return re.search(r"\b(total|sum|together|combined|altogether|in all|overall)\b", text.lower()) is not None

    # ------------------------------------------------------------ frames

    def plan(self) -> Optional[Plan]:
        asks_percent = self._has(r"\bwhat (?:percent(?:age)?|share|proportion)\b|\bby what percent|\bin percent\b|"
                                 r"\bhow many percent")
        for name in ("convert", "percent_ratio", "percent_change", "change", "fill", "percent", "proportion",
                     "fit", "per_unit", "rate", "share", "items", "mean", "difference", "total", "product",
                     "defined"):
            if asks_percent and name not in ("percent_ratio", "percent_change", "percent", "convert"):
                break   # a percentage is asked: no other frame answers with one
            try:
                expression = getattr(self, "_frame_" + name)()
            except _NoPlan:
                expression = None
            if expression:
                return Plan(expression=expression, operation=name, sources=tuple(sorted(self.used_sources)))
            self.used_sources.clear()
        return None

    def _frame_percent_ratio(self) -> Optional[str]:
        m = re.search(r"what (?:percent(?:age)?|share|fraction|proportion) of (.+?) "
                      r"(?:is|are|was|were|has|had|have|did|does|do) (.+)", self.q)
        if not m:
            return None
        whole_q = self.resolve(self.question[m.start(1): m.end(1)])
        part_q = self.resolve(self.question[m.start(2): m.end(2)])
        if whole_q == part_q:
            return None
        return f"{part_q} / {whole_q} * 100"

    def _frame_percent_change(self) -> Optional[str]:
        if not self._has(r"\b(by )?what percent(age)?\b|\bpercent(age)? (increase|decrease|change|rise|drop)"):
            return None
        m = re.search(r"from\s+\S*?(\d[\d,.]*)\s*(\S*)\s+to\s+\S*?(\d[\d,.]*)\s*(\w*)", self.question)
        if not m or any(unit_of(u) and unit_of(u)[0] in ("time", "calendar") for u in (m.group(2), m.group(4))):
            return None   # "from 7 days to 28 days": points in time, not the amounts
        old, new = calc_number(parse_number(m.group(1).rstrip("."))), calc_number(parse_number(m.group(3).rstrip(".")))
        if self._has(r"\b(drop|fell|fall|decreas|discount|reduc|cheaper|lower|cut|less|lost|down)"):
            return f"({old} - {new}) / {old} * 100"   # asked as a size of a fall: positive
        return f"({new} - {old}) / {old} * 100"

    def _frame_percent(self) -> Optional[str]:
        percents = self._percents()
        if len(percents) != 1:
            return None
        p = percents[0]
        plain = self._plain()
        base = None
        if len(plain) == 1:
            base = self._use(plain[0])
        elif not plain:
            # The base is named by the question without its percent and
            # without the terms added after it ("plus the installation fee").
            phrase = re.sub(r"\bplus\b.*", " ", re.sub(r"\d+(?:\.\d+)?\s*%", " ", self.question), flags=re.I)
            base = self.resolve(phrase, percent=False)
        else:
            return None
        after = self.q[p.start:]
        asked = re.search(r"\b(?:how much|what) (?:is|was|will be|would be) (?:the |my |our )?(\w+)\??$", self.q)
        noun = re.match(r"\s*[\d.,]+\s*%\s*(?:of\s+)?(?:the\s+)?(?:\w+\s+)?(\w+)", after)
        if asked and noun and stem(asked.group(1)) in (stem(noun.group(1)), stem(after.split()[1] if len(after.split()) > 1 else "")):
            return f"{base} * {self._use(p)}"        # "how much is the tip?"
        if re.search(r"\boff\b|\bdiscount|\bcut\b|\breduc|\bdecreas|\bless\b|\blower|\bmarkdown|\bdrop", self.q):
            extra = self._extra_terms()
            return f"({base} - {self._use(p)}){extra}"
        if re.search(r"\binclud|\bwith\b|\bplus\b|\btax|\bvat\b|\bincreas|\braise|\bmarkup|\bsurcharge|\binterest|\bafter\b",
                     self.q):
            extra = self._extra_terms()
            return f"({base} + {self._use(p)}){extra}"
        if re.search(rf"\d\s*%\s*of\b|\btip\b|\bdeposit\b|\bcommission\b", self.q):
            return f"{base} * {self._use(p)}"
        return None

    def _extra_terms(self) -> str:
        """"... plus the flat installation fee" -> " + 45"."""
        out = ""
        for m in re.finditer(r"\bplus (?:the |a |an )?([^,.?;]+)", self.question, re.I):
            if re.search(r"\d", m.group(1)):
                continue
            out += f" + {self.resolve(m.group(1))}"
        return out

    def _frame_proportion(self) -> Optional[str]:
        """"250 g for 6 people ... for 9 people": amount / 6 * 9."""
        fors = list(re.finditer(r"\bfor\s+(\d[\d,.]*)\s+(\w+)", self.question))
        pair = next(((a, b) for i, a in enumerate(fors) for b in fors[i + 1:]
                     if stem(a.group(2)) == stem(b.group(2))), None)
        if pair is None:
            return None
        first, second = pair
        others = [n for n in self._plain()
                  if not (first.start(1) <= n.start < first.end(1) or second.start(1) <= n.start < second.end(1))]
        if len(others) != 1:
            return None
        b, c = (calc_number(parse_number(m.group(1).rstrip(".,"))) for m in (first, second))
        return f"{self._use(others[0])} / {b} * {c}"

    def _frame_fit(self) -> Optional[str]:
        if not self._has(r"\bhow many\b.*\b(can|could|will|would)\b.*\b(fill|make|get|cut|pour|serve|pack)\b"):
            return None
        plain = self._plain()
        if len(plain) != 2:
            return None
        small, big = plain  # "how many 250 ml glasses ... from a 2 litre bottle"
        us, ub = unit_of(small.unit), unit_of(big.unit)
        if not us or not ub or us[0] != ub[0]:
            return None
        return f"{calc_number(big.value)}{conversion(ub[1], us[1])} / {calc_number(small.value)}"

    def _frame_convert(self) -> Optional[str]:
        """"Convert 68 degrees Fahrenheit to Celsius", "how many km is 26.2 miles"."""
        unit = r"([a-z]+(?:/[a-z]+)?)"
        m = (re.search(rf"\bconvert\s+(-?\d[\d,.]*)\s*(?:degrees?\s+)?{unit}\s+(?:to|into|in)\s+(?:degrees?\s+)?{unit}", self.q)
             or re.search(rf"\bhow many\s+{unit}\s+(?:is|are|in|make|equals?)\s+(-?\d[\d,.]*)\s*{unit}", self.q)
             or re.search(rf"\b(?:what is|what's|how much is)\s+(-?\d[\d,.]*)\s*(?:degrees?\s+)?{unit}\s+"
                          rf"(?:in|to|into)\s+(?:degrees?\s+)?{unit}\b", self.q))
        if not m:
            return None
        if m.re.pattern.startswith("\\bhow many"):
            to, raw, frm = m.group(1), m.group(2), m.group(3)
        else:
            raw, frm, to = m.group(1), m.group(2), m.group(3)
        value = calc_number(parse_number(raw.rstrip(".,")))
        tf, tt = TEMPERATURES.get(frm), TEMPERATURES.get(to)
        if tf and tt:
            to_c = {"C": value, "F": f"({value} - 32) * 5 / 9", "K": f"({value} - 273.15)"}[tf]
            return {"C": to_c, "F": f"{to_c} * 9 / 5 + 32", "K": f"{to_c} + 273.15"}[tt] if tt != tf else None
        uf, ut = unit_of(frm), unit_of(to)
        if not uf or not ut or uf[0] != ut[0] or uf == ut:
            return None
        return f"{value}{conversion(uf[1], ut[1])}"

    def _asked_rate(self) -> Optional[tuple[Optional[str], str]]:
        """The units of the rate asked for: "in miles per gallon" -> (mile, gallon),
        "what is that per kilogram" -> (None, kilogram), "km/h" -> (km, hour)."""
        for abbreviation, pair in COMPOUND_RATES.items():
            if re.search(rf"(?<![\w/]){re.escape(abbreviation)}(?![\w/])", self.q):
                return pair
        matches = list(re.finditer(r"(?:\b([a-z]+)\s+)?(?:per|a|an|each)\s+([a-z]+)\s*[?.]?\s*$|"
                                   r"(?:\b([a-z]+)\s+)?per\s+([a-z]+)", self.q))
        for m in reversed(matches):
            numerator = m.group(1) or m.group(3)
            denominator = m.group(2) or m.group(4)
            if unit_of(denominator):
                return (numerator if unit_of(numerator or "") else None), denominator
        return None

    def _time_quantity(self, n: Quantity) -> str:
        """"27 minutes 30 seconds" read as one time, in ``n``'s unit."""
        rest = self.question[n.start:]
        m = re.match(r"(\d[\d.]*)\s*([a-z]+)\s*(?:and\s+)?(\d[\d.]*)\s*([a-z]+)", rest)
        if m and unit_of(m.group(2)) and unit_of(m.group(4)) and unit_of(m.group(2))[0] == unit_of(m.group(4))[0] == "time" \
                and unit_of(m.group(2))[1] > unit_of(m.group(4))[1]:
            big, small = unit_of(m.group(2))[1], unit_of(m.group(4))[1]
            return f"({calc_number(n.value)} + {calc_number(parse_number(m.group(3)))}{conversion(small, big)})"
        return calc_number(n.value)

    def _frame_per_unit(self) -> Optional[str]:
        """A rate asked per some unit: the quantity measured in that unit is
        the divisor (converted), the other one the dividend."""
        asked = self._asked_rate()
        if asked is None:
            return None
        numerator_unit, denominator_unit = asked
        den_dim = unit_of(denominator_unit)
        plain = self._plain()
        # "54,600 a year ... per month": a rate given per another calendar unit
        for n in plain:
            after = self.question[n.start:].split(None, 1)[-1] if " " in self.question[n.start:] else ""
            m = re.match(r"(?:[$€£]\s*)?(?:a|an|per|each)\s+([a-z]+)", after.lower())
            if m and unit_of(m.group(1)) and unit_of(m.group(1))[0] == den_dim[0] and len(plain) == 1:
                return f"{self._use(n)}{conversion(den_dim[1], unit_of(m.group(1))[1])}"
        measured = [n for n in plain if unit_of(n.unit) and unit_of(n.unit)[0] == den_dim[0]]
        # skip the second part of a compound time ("27 minutes 30 seconds")
        if len(measured) != 1:
            return None
        divisor = measured[0]
        others = [n for n in plain if n is not divisor and not self._is_time_tail(n)]
        if numerator_unit:
            num_dim = unit_of(numerator_unit)
            others = [n for n in others if unit_of(n.unit) and unit_of(n.unit)[0] == num_dim[0]]
        if len(others) != 1:
            return None
        dividend = others[0]
        top = self._time_quantity(dividend) if unit_of(dividend.unit) and unit_of(dividend.unit)[0] == "time" \
            else calc_number(dividend.value)
        if numerator_unit and unit_of(dividend.unit):
            top += conversion(unit_of(dividend.unit)[1], unit_of(numerator_unit)[1])
        bottom = calc_number(divisor.value) + conversion(unit_of(divisor.unit)[1], den_dim[1])
        self._use(dividend), self._use(divisor)
        return f"{top} / ({bottom})" if " " in bottom else f"{top} / {bottom}"

    def _is_time_tail(self, n: Quantity) -> bool:
        before = self.question[: n.start]
        return bool(re.search(r"\d[\d.]*\s*(?:hours?|minutes?|mins?|h)\s*(?:and\s+)?$", before)) and \
            bool(unit_of(n.unit)) and unit_of(n.unit)[0] == "time"

    def _frame_change(self) -> Optional[str]:
        """"... at 2.36 a kilo and pay with a 20 note, how much change?"."""
        if not self._has(r"\bchange\b") or not self._has(r"\b(?:pay|paid|hand|give|gave)\b[^.?]*\bwith\b"):
            return None
        m = re.search(r"\bwith\s+(?:a|an|one)?\s*[$€£]?(\d[\d,.]*)", self.question, re.I)
        if not m:
            return None
        paid = parse_number(m.group(1).rstrip(".,"))
        others = [n for n in self._plain() if n.start != m.start(1)]
        if len(others) == 2:
            cost = f"{calc_number(others[0].value)} * {calc_number(others[1].value)}"
        elif len(others) == 1:
            cost = calc_number(others[0].value)
        else:
            return None
        return f"{calc_number(paid)} - {cost}"

    def _frame_fill(self) -> Optional[str]:
        """"holds 60 litres and it's 3/8 full: how much to fill it?"."""
        m = re.search(r"(\d+)\s*/\s*(\d+)\s+full|(\d[\d.]*)\s*%\s+full", self.q)
        if not m or not self._has(r"\b(fill|top up|add|needed|need|left|empty|room)\b"):
            return None
        share = f"{m.group(1)} / {m.group(2)}" if m.group(1) else f"{m.group(3)} / 100"
        capacity = [n for n in self._plain() if not (m.start() <= n.start < m.end())]
        if len(capacity) != 1:
            return None
        c = self._use(capacity[0])
        return f"{c} - {c} * {share}"

    def _frame_rate(self) -> Optional[str]:
        if not self._has(r"\b(speed|km/h|mph|per (hour|minute|second|day)|an hour|rate)\b"):
            return None
        if self._has(r"\bearn|\bpaid|\bwage|\bsalary|\bcost"):
            return None
        plain = self._plain()
        if len(plain) != 2:
            return None
        times = [n for n in plain if unit_of(n.unit) and unit_of(n.unit)[0] == "time"]
        if len(times) != 1:
            return None
        other = plain[0] if plain[1] is times[0] else plain[1]
        return f"{self._use(other)} / {self._use(times[0])}"

    def _frame_share(self) -> Optional[str]:
        if not self._has(r"\b(split|share|shared|divided|evenly|equally|per person|each)\b"):
            return None
        if not self._has(r"\beach (?:\w+ )?(?:pay|get|receive|owe|have)\b|\bper person\b|\bsplit\b|\bshare"):
            return None
        plain = self._plain()
        if len(plain) != 2:
            return None
        money = [n for n in plain if is_money(n, self.question)]
        total = money[0] if len(money) == 1 else max(plain, key=lambda n: n.value)
        count = plain[0] if plain[1] is total else plain[1]
        return f"{self._use(total)} / {self._use(count)}"

    def _frame_items(self) -> Optional[str]:
        """"3 notebooks at $2.40 each and a pen for $1.15" -> 3 * 2.40 + 1.15."""
        terms = []
        for m in re.finditer(r"(\d[\d,]*|\b(?:a|an|one)\b)\s+[\w -]{1,30}?\s+(?:at|for|costing)\s+[$€£]?"
                             r"(\d[\d,]*(?:\.\d+)?)(\s+each|\s+apiece|\s+a piece)?", self.question):
            count = m.group(1)
            price = calc_number(parse_number(m.group(2)))
            if count.isalpha():
                terms.append(price)
            else:
                terms.append(f"{calc_number(parse_number(count))} * {price}")
        if len(terms) < 2 or not self._has(r"\b(how much|total|spend|spent|pay|cost)\b"):
            return None
        return " + ".join(terms)

    def _frame_mean(self) -> Optional[str]:
        if not self._has(r"\b(average|mean)\b") or self._has(r"\bper\b"):
            return None
        plain = self._plain()
        listed = re.search(r"\d[\d,.]*(?:\s*,\s*\d[\d,.]*)*,?\s+and\s+\d", self.question)
        if len(plain) >= 2 and listed:
            values = [self._use(n) for n in plain]
        elif len(plain) >= 2 and not self.facts.tables:
            return None
        else:
            found = self.column_values(self.words)
            if not found:
                return None
            table, c, rows = found
            values = [self._use(table.cell(r, c)) for r in rows]
        if len(values) < 2:
            return None
        return f"({' + '.join(values)}) / {len(values)}"

    def _frame_difference(self) -> Optional[str]:
        if not self._has(r"\b(how (?:much|many) (?:more|less|fewer|longer|shorter|heavier|lighter|higher|lower)|"
                         r"difference|exceed|exceeds|more than|less than|remain|left over|are left|is left)\b"):
            return None
        plain = self._plain()
        if len(plain) == 2:
            a, b = plain
            return f"{calc_number(max(a.value, b.value))} - {calc_number(min(a.value, b.value))}"
        found = self.column_values(self.words)
        if found:
            table, c, rows = found
            if len(rows) == 2:
                a, b = (table.cell(r, c) for r in rows)
                if a and b:
                    big, small = (a, b) if a.value >= b.value else (b, a)
                    return f"{self._use(big)} - {self._use(small)}"
        # "how much more would the order need to qualify for the discount":
        # a threshold named by the question, and the amount it is compared with.
        m = re.search(r"\bwould (?:the |my |our |an? )?(.+?) need\b(.*?)\b(?:to (?:qualify for|reach|get|earn)) (.+)",
                      self.question, re.I)
        if m:
            current = self.best_quantity(words_of(m.group(1)), percent=False)
            target = self.best_quantity(words_of(m.group(2) + " " + m.group(3)), percent=False,
                                        exclude=[current] if current else [])
            if current is None or target is None or target.value <= current.value:
                return None
            return f"{self._use(target)} - {self._use(current)}"
        return None

    def _frame_total(self) -> Optional[str]:
        if not self._sum_cue(self.q) and not self._has(r"\bcost together\b|\band\b.*\btogether"):
            # "How many hours did N. Adebayo bill?": the rows of one name, added up
            if not self._has(r"^(?:in total,? )?how (?:many|much)\b") or self._plain():
                return None
            found = self.column_values(self.words)
            if not found:
                return None
            table, c, rows = found
            named = self._rows_named(table, self.words)
            if len(named) < 2 or len(named) == len(table.rows) or not re.search(
                    r"\b(hours?|days?|items?|units?|litres?|liters?|km|miles?|kg|sessions?|visits?|calls?)\b",
                    table.headers[c].lower() + " " + self.q):
                return None
            return "(" + " + ".join(self._use(table.cell(r, c)) for r in named) + ")"
        plain = self._plain()
        if len(plain) >= 2 and not self._has(r"\beach\b|\bper\b|\bevery\b"):
            money = [is_money(n, self.question) for n in plain]
            units = {stem(n.unit) for n in plain}
            if not all(money) and len(units) > 1:
                return None   # "18 bottles ... 5 crates in total": not a sum
            return " + ".join(self._use(n) for n in plain)
        if len(plain) == 2:
            return None   # "3 boxes with 24 eggs in each": a product
        found = self.column_values(self.words)
        if not found:
            return None
        table, c, rows = found
        cells = [table.cell(r, c) for r in rows]
        if any(cell is None for cell in cells) or len(cells) < 2:
            return None
        expression = "(" + " + ".join(self._use(cell) for cell in cells) + ")"
        # "how much did the fuel cost": litres times a price per litre.
        unit = cells[0].unit
        if unit and self._has(r"\b(cost|pay|paid|spend|spent|price)\b") and not (
                words_of(table.headers[c]) & {"price", "total", "cost", "amount"}):
            price = self._price_per(unit)
            if price is None:
                return None
            expression = f"{expression} * {self._use(price)}"
        return expression

    def _price_per(self, unit: str) -> Optional[Quantity]:
        unit_stem = stem(re.sub(r"[^a-z]", "", unit.split("/")[0]) or unit)
        for n, sentence in self.facts.sentences:
            for m in re.finditer(r"(\d[\d,]*(?:\.\d+)?)\s*(?:[A-Z]{3}|euros?|dollars?|pounds?|[$€£])?\s*(?:per|/|a)\s+(\w+)",
                                 sentence):
                if stem(m.group(2)) == unit_stem:
                    return Quantity(value=parse_number(m.group(1)), percent=False, words=frozenset(), source=n)
        return None

    def _frame_product(self) -> Optional[str]:
        plain = self._plain()
        if len(plain) == 2:
            a, b = plain
            nouns = {stem(a.unit), stem(b.unit)} - {""}
            # "24 eggs in each box", "$18.75 an hour ... 32 hours": a per-item link
            linked = any(stem(w) in nouns for w in re.findall(r"\b(?:each|per|every|an?)\s+(\w+)", self.q))
            priced = sum(is_money(n, self.question) for n in plain) == 1 and \
                self._has(r"\bhow much (?:do|does|did|would|will)\b|\bcosts?\b|\bearn")
            grouped = self._has(r"\bin total\b|\baltogether\b|\bin all\b") and len(nouns) == 2
            if linked or priced or grouped:
                return f"{self._use(a)} * {self._use(b)}"
            return None
        if len(plain) == 1 and self._has(r"\b(cost|pay|price)\b"):
            # "20 chairs at the quoted unit price": a count times a price from the passages.
            rest = self.question[: plain[0].start] + self.question[plain[0].start + len(plain[0].text):]
            words = words_of(rest) | {"price"}
            found = self.column_values(words | {"unit"} if self._has(r"\bunit price|\beach\b") else words)
            if found:
                table, c, rows = found
                named = self._rows_named(table, words)
                if len(named) == 1:
                    cell = table.cell(named[0], c)
                    if cell is not None:
                        return f"{self._use(plain[0])} * {self._use(cell)}"
        return None

    def _frame_defined(self) -> Optional[str]:
        """"How large is the contingency reserve?": a quantity the passages
        define as a share of another ("3% of the total proposed budget")."""
        if self.numbers and any(not n.percent for n in self.numbers):
            return None
        q = self.best_quantity(self.words, percent=True)
        if q is None:
            return None
        return self._definition(q)


def plan(question: str, passages: Sequence[tuple[int, str]] = ()) -> Optional[Plan]:
    """A calculator expression for ``question`` over the numbered passages
    ``[(n, text), ...]``, or None when the wording or operands are unclear."""
    try:
        return Planner(question, passages).plan()
    except _NoPlan:
        return None
    except Exception:  # a planner bug must not cost the user the answer
        from desktop_app.core.logs import user_text  # the question is private: see the log policy

        log.exception("the planner failed on %r; the model plans instead", user_text(question[:200]))
        return None
