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
   quantities read from the retrieved passages: table cells (named by their
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
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

log = logging.getLogger(__name__)

# --------------------------------------------------------------- words

_STOP = frozenset("""
a an the of in on at to for from by with and or is are was were be been being do does did
what whats how much many which who whom whose this that these those it its i my me we our you
your they their there here as if would could should can will shall may might must than then
into per each one ones some any all about after before over under up down out off not no
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’][a-z]+)?|\d+[A-Za-z][A-Za-z0-9]*")

# Words that name the same amount in quotes, invoices and budgets.
_SYNONYMS = {
    "cost": {"price", "total", "amount"}, "pay": {"price", "total", "amount"},
    "spend": {"total", "amount"}, "order": {"subtotal", "total"}, "quote": {"subtotal", "total"},
    "invoice": {"subtotal", "total"}, "bill": {"total", "amount"}, "budget": {"proposed"},
    "limit": {"regulatory", "maximum"}, "site": {"location"},
}


def stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    w = re.sub(r"'s$|'$", "", w)
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and re.search(r"(ss|x|ch|sh)es$", w):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def words_of(text: str, keep_letters: bool = True) -> set[str]:
    """Content-word stems of ``text``. A capital single letter ("site B")
    is kept as an identifier; "a" and "I" are not."""
    out = set()
    previous = ""
    for match in _WORD.finditer(text):
        token, before, previous = match.group(0), previous, match.group(0)
        if len(token) == 1:
            # "site B", "plan A": an identifier after a word; "A pizza": an article.
            if keep_letters and token.isupper() and (token not in ("A", "I") or before.islower()):
                out.add(token)
            continue
        s = stem(token)
        if s not in _STOP:
            out.add(s)
    return out


def _match(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:
        return False
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 5 and (long_.endswith(short) or long_.startswith(short))


def overlap(query: set[str], named: Iterable[str]) -> int:
    named = list(named)
    return sum(1 for q in query if any(_match(q, n) for n in named))


# -------------------------------------------------------------- numbers

_NUMBER = re.compile(
    r"(?<![\w.,/-])(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)"
    r"(\s*(?:%|per\s*cent\b|percent\b))?(?![\w/-]|[.,]\d)")
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_MONTH_BEFORE = re.compile(rf"\b{_MONTHS}\.?\s*$", re.I)   # "November 3"
_MONTH_AFTER = re.compile(rf"^\s*{_MONTHS}\b", re.I)       # "3 November"

NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "dozen": 12,
}


def _value(raw: str) -> float:
    return float(raw.replace(",", ""))


def _clean(value: float) -> str:
    """A number as the calculator reads it (no grouping commas)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True)
class Quantity:
    """A number in the question or a passage, with the words that name it."""
    value: float
    percent: bool
    words: frozenset                  # what names it (row + column, or nearby words)
    context: frozenset = frozenset()  # its sentence / table headers
    unit: str = ""                    # word right after it ("km", "litre", "people")
    source: int = 0                   # passage number, 0 for the question
    table: int = -1
    row: int = -1
    column: str = ""
    start: int = 0                    # offset in its text (question order)
    keyed: bool = False               # the value of a "Key: value" line

    @property
    def text(self) -> str:
        return _clean(self.value) + ("%" if self.percent else "")


_LABEL_BEFORE = re.compile(
    r"\b(?:week|day|page|p\.|chapter|section|room|no\.|number|#|year|version|step|line|model|"
    r"item|floor|article|clause|figure|table|unit|route|report)\s*$", re.I)
_ADDRESS_AFTER = re.compile(r"^\s+(?:[A-Z][a-z]+\s+){1,3}(?:Lane|Street|St|Road|Rd|Avenue|Ave|Way|Drive|"
                            r"Place|Square|Court|Boulevard)\b")


def _is_identifier_or_date(text: str, match: re.Match) -> bool:
    """Years, dates, "week 46", "page 3", "14 Mill Lane": labels, not amounts."""
    before, after = text[max(0, match.start() - 12): match.start()], text[match.end(): match.end() + 30]
    value = _value(match.group(1))
    if match.group(2):
        return False
    if value == int(value) and 1900 <= value <= 2100:
        return True   # a year
    return bool(_MONTH_BEFORE.search(before) or _MONTH_AFTER.search(after[:12]) or _LABEL_BEFORE.search(before)
                or _ADDRESS_AFTER.match(after))


def numbers_in_text(text: str, source: int = 0) -> list[Quantity]:
    """Every number in a sentence, named by the words around it."""
    out = []
    for m in _NUMBER.finditer(text):
        if _is_identifier_or_date(text, m):
            continue
        # Words of its own clause name it ("nitrate 50 mg/L; lead 10 ug/L").
        left = re.split(r"[;,()]", text[max(0, m.start() - 60): m.start()])[-1]
        right = re.split(r"[;,()]", text[m.end(): m.end() + 30])[0]
        near = list(_WORD.findall(left))[-5:] + list(_WORD.findall(right))[:3]
        unit_match = re.match(r"\s*([A-Za-z]+(?:/[A-Za-z]+)?)", right)
        out.append(Quantity(
            value=_value(m.group(1)), percent=bool(m.group(2)),
            words=frozenset(words_of(" ".join(near))), context=frozenset(words_of(text)),
            unit=(unit_match.group(1).lower() if unit_match and not m.group(2) else ""),
            source=source, start=m.start(), keyed=bool(re.search(r"\w\s*:\s*[$€£]?\s*$", left))))
    return out


def question_quantities(question: str) -> list[Quantity]:
    found = numbers_in_text(question)
    for m in re.finditer(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", question, re.I):
        right = question[m.end(): m.end() + 30]
        unit_match = re.match(r"\s*([A-Za-z]+)", right)
        found.append(Quantity(value=float(NUMBER_WORDS[m.group(1).lower()]), percent=False,
                              words=frozenset(words_of(right)), unit=(unit_match.group(1).lower()
                                                                      if unit_match else ""),
                              start=m.start()))
    return sorted(found, key=lambda q: q.start)


# --------------------------------------------------------------- tables

@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    source: int
    index: int

    def row_label(self, r: int) -> str:
        return " ".join(c for c in self.rows[r] if re.search(r"[A-Za-z]", c))

    def cells(self) -> list[Quantity]:
        out = []
        context = frozenset(words_of(" ".join(self.headers)))
        for r, row in enumerate(self.rows):
            label = words_of(self.row_label(r))
            for c, cell in enumerate(row):
                m = re.fullmatch(r"\s*[$€£]?\s*(-?[\d,]*\.?\d+)\s*(%?)\s*", cell)
                if not m or c >= len(self.headers):
                    continue
                try:
                    value = _value(m.group(1))
                except ValueError:
                    continue
                header = self.headers[c]
                unit = re.search(r"\(([^)]+)\)", header)
                out.append(Quantity(value=value, percent=bool(m.group(2)),
                                    words=frozenset(label | words_of(header)), context=context,
                                    unit=unit.group(1).lower() if unit else "", source=self.source,
                                    table=self.index, row=r, column=header))
        return out


_PIPE_RUN = re.compile(r"\|(?:[^|\n]*\|){2,}")


def find_tables(text: str, source: int, first_index: int = 0) -> tuple[list[Table], str]:
    """Pipe tables ("| a | b | | c | d |", as Hearth's parsers write
    Markdown, DOCX and aligned plain-text tables), and the text left over."""
    tables = []
    rest = text
    for m in _PIPE_RUN.finditer(text):
        cells = [c.strip() for c in m.group(0).strip()[1:-1].split("|")]
        width = cells.index("") if "" in cells else len(cells)
        if width < 2:
            continue
        rows, i = [], 0
        while i < len(cells):
            row = cells[i: i + width]
            if len(row) == width and not all(re.fullmatch(r":?-+:?", c) for c in row if c):
                rows.append(row)
            if i + width < len(cells) and cells[i + width] != "":
                break   # no "| |" between rows: what follows is not this table
            i += width + 1
        if len(rows) < 2:
            continue
        tables.append(Table(headers=rows[0], rows=rows[1:], source=source,
                            index=first_index + len(tables)))
        rest = rest.replace(m.group(0), " ")
    return tables, rest


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9-])|\s+-\s+|\n+")


@dataclass
class Facts:
    """Everything numeric the passages say, labelled."""
    quantities: list[Quantity] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    sentences: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def read(cls, passages: Sequence[tuple[int, str]]) -> "Facts":
        facts = cls()
        for n, text in passages:
            tables, rest = find_tables(text, n, len(facts.tables))
            facts.tables.extend(tables)
            for table in tables:
                facts.quantities.extend(table.cells())
            for sentence in _SENTENCE.split(rest):
                sentence = sentence.strip()
                if sentence:
                    facts.sentences.append((n, sentence))
                    facts.quantities.extend(numbers_in_text(sentence, n))
        return facts


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


def _money(q: Quantity, question: str) -> bool:
    before = question[max(0, q.start - 2): q.start]
    return "$" in before or "€" in before or "£" in before or q.unit in ("usd", "eur", "euro", "dollar",
                                                                          "pound", "gbp")


_MONEY_UNIT = re.compile(r"^(?:usd|eur|gbp|euros?|dollars?|pounds?|chf)\b")

# unit -> (dimension, size in the dimension's base unit)
_UNITS = {
    "ml": ("volume", 1), "millilitre": ("volume", 1), "milliliter": ("volume", 1), "cl": ("volume", 10),
    "l": ("volume", 1000), "litre": ("volume", 1000), "liter": ("volume", 1000),
    "gallon": ("volume", 3785.411784), "gal": ("volume", 3785.411784),
    "g": ("mass", 1), "gram": ("mass", 1), "kg": ("mass", 1000), "kilo": ("mass", 1000),
    "kilogram": ("mass", 1000), "tonne": ("mass", 10 ** 6), "lb": ("mass", 453.59237),
    "pound": ("mass", 453.59237), "oz": ("mass", 28.349523125), "ounce": ("mass", 28.349523125),
    "mm": ("length", 1), "cm": ("length", 10), "m": ("length", 1000), "metre": ("length", 1000),
    "meter": ("length", 1000), "km": ("length", 10 ** 6), "kilometre": ("length", 10 ** 6),
    "kilometer": ("length", 10 ** 6), "inch": ("length", 25.4), "foot": ("length", 304.8),
    "feet": ("length", 304.8), "ft": ("length", 304.8), "yard": ("length", 914.4),
    "mile": ("length", 1609344), "mi": ("length", 1609344),
    "second": ("time", 1), "sec": ("time", 1), "s": ("time", 1), "minute": ("time", 60),
    "min": ("time", 60), "hour": ("time", 3600), "hr": ("time", 3600), "h": ("time", 3600),
    "day": ("time", 86400), "week": ("time", 604800),
    # calendar units: a year is 12 months or 52 weeks (pay and rent are counted so)
    "month": ("calendar", 1), "year": ("calendar", 12), "annum": ("calendar", 12),
}
_COMPOUND_RATES = {"km/h": ("km", "hour"), "kmh": ("km", "hour"), "kph": ("km", "hour"),
                   "mph": ("mile", "hour"), "mpg": ("mile", "gallon"), "m/s": ("m", "second")}
_TEMPERATURES = {"c": "C", "celsius": "C", "centigrade": "C", "f": "F", "fahrenheit": "F",
                 "k": "K", "kelvin": "K"}


def _unit(word: str) -> Optional[tuple[str, float]]:
    if not word:
        return None
    return _UNITS.get(word.lower()) or _UNITS.get(stem(word))


def _factor(a: float, b: float) -> str:
    """``a / b`` written for the calculator, exact where possible."""
    if a == b:
        return ""
    ratio = a / b
    if ratio == int(ratio):
        return f" * {_clean(ratio)}"
    inverse = b / a
    if abs(inverse - round(inverse)) < 1e-12:
        return f" / {_clean(round(inverse))}"
    return f" * {_clean(a)} / {_clean(b)}"


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
        counts them all ("the four sites")."""
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
            value, word = _value(m.group(1)), stem(m.group(2))
            for c, header in enumerate(table.headers):
                if word in words_of(header):
                    rows = [r for r, row in enumerate(table.rows)
                            if c < len(row) and re.fullmatch(r"\s*[\d.]+\s*", row[c]) and _value(row[c]) == value]
                    if rows:
                        return rows
        labels = [words_of(table.row_label(r)) for r in range(len(table.rows))]
        common = set.intersection(*labels) if labels else set()
        named = []
        for r, label in enumerate(labels):
            if overlap(words, label - common) > 0:
                named.append(r)
        return named

    def _cell(self, table: Table, r: int, c: int) -> Optional[Quantity]:
        for q in table.cells():
            if q.row == r and q.column == table.headers[c]:
                return q
        return None

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
                score *= 1.5 if _MONEY_UNIT.search(q.unit) else 0.5
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
                return "(" + " + ".join(self._use(self._cell(table, r, c)) for r in rows) + ")"
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
            m = re.search(rf"(?<![\d.]){re.escape(_clean(q.value))}\s*%\s+of\s+(?:the\s+)?([^.;,]+)",
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
        if not m or any(_unit(u) and _unit(u)[0] in ("time", "calendar") for u in (m.group(2), m.group(4))):
            return None   # "from 7 days to 28 days": points in time, not the amounts
        old, new = _clean(_value(m.group(1).rstrip("."))), _clean(_value(m.group(3).rstrip(".")))
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
        b, c = (_clean(_value(m.group(1).rstrip(".,"))) for m in (first, second))
        return f"{self._use(others[0])} / {b} * {c}"

    def _frame_fit(self) -> Optional[str]:
        if not self._has(r"\bhow many\b.*\b(can|could|will|would)\b.*\b(fill|make|get|cut|pour|serve|pack)\b"):
            return None
        plain = self._plain()
        if len(plain) != 2:
            return None
        small, big = plain  # "how many 250 ml glasses ... from a 2 litre bottle"
        us, ub = _unit(small.unit), _unit(big.unit)
        if not us or not ub or us[0] != ub[0]:
            return None
        return f"{_clean(big.value)}{_factor(ub[1], us[1])} / {_clean(small.value)}"

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
        value = _clean(_value(raw.rstrip(".,")))
        tf, tt = _TEMPERATURES.get(frm), _TEMPERATURES.get(to)
        if tf and tt:
            to_c = {"C": value, "F": f"({value} - 32) * 5 / 9", "K": f"({value} - 273.15)"}[tf]
            return {"C": to_c, "F": f"{to_c} * 9 / 5 + 32", "K": f"{to_c} + 273.15"}[tt] if tt != tf else None
        uf, ut = _unit(frm), _unit(to)
        if not uf or not ut or uf[0] != ut[0] or uf == ut:
            return None
        return f"{value}{_factor(uf[1], ut[1])}"

    def _asked_rate(self) -> Optional[tuple[Optional[str], str]]:
        """The units of the rate asked for: "in miles per gallon" -> (mile, gallon),
        "what is that per kilogram" -> (None, kilogram), "km/h" -> (km, hour)."""
        for abbreviation, pair in _COMPOUND_RATES.items():
            if re.search(rf"(?<![\w/]){re.escape(abbreviation)}(?![\w/])", self.q):
                return pair
        matches = list(re.finditer(r"(?:\b([a-z]+)\s+)?(?:per|a|an|each)\s+([a-z]+)\s*[?.]?\s*$|"
                                   r"(?:\b([a-z]+)\s+)?per\s+([a-z]+)", self.q))
        for m in reversed(matches):
            numerator = m.group(1) or m.group(3)
            denominator = m.group(2) or m.group(4)
            if _unit(denominator):
                return (numerator if _unit(numerator or "") else None), denominator
        return None

    def _time_quantity(self, n: Quantity) -> str:
        """"27 minutes 30 seconds" read as one time, in ``n``'s unit."""
        rest = self.question[n.start:]
        m = re.match(r"(\d[\d.]*)\s*([a-z]+)\s*(?:and\s+)?(\d[\d.]*)\s*([a-z]+)", rest)
        if m and _unit(m.group(2)) and _unit(m.group(4)) and _unit(m.group(2))[0] == _unit(m.group(4))[0] == "time" \
                and _unit(m.group(2))[1] > _unit(m.group(4))[1]:
            big, small = _unit(m.group(2))[1], _unit(m.group(4))[1]
            return f"({_clean(n.value)} + {_clean(_value(m.group(3)))}{_factor(small, big)})"
        return _clean(n.value)

    def _frame_per_unit(self) -> Optional[str]:
        """A rate asked per some unit: the quantity measured in that unit is
        the divisor (converted), the other one the dividend."""
        asked = self._asked_rate()
        if asked is None:
            return None
        numerator_unit, denominator_unit = asked
        den_dim = _unit(denominator_unit)
        plain = self._plain()
        # "54,600 a year ... per month": a rate given per another calendar unit
        for n in plain:
            after = self.question[n.start:].split(None, 1)[-1] if " " in self.question[n.start:] else ""
            m = re.match(r"(?:[$€£]\s*)?(?:a|an|per|each)\s+([a-z]+)", after.lower())
            if m and _unit(m.group(1)) and _unit(m.group(1))[0] == den_dim[0] and len(plain) == 1:
                return f"{self._use(n)}{_factor(den_dim[1], _unit(m.group(1))[1])}"
        measured = [n for n in plain if _unit(n.unit) and _unit(n.unit)[0] == den_dim[0]]
        # skip the second part of a compound time ("27 minutes 30 seconds")
        if len(measured) != 1:
            return None
        divisor = measured[0]
        others = [n for n in plain if n is not divisor and not self._is_time_tail(n)]
        if numerator_unit:
            num_dim = _unit(numerator_unit)
            others = [n for n in others if _unit(n.unit) and _unit(n.unit)[0] == num_dim[0]]
        if len(others) != 1:
            return None
        dividend = others[0]
        top = self._time_quantity(dividend) if _unit(dividend.unit) and _unit(dividend.unit)[0] == "time" \
            else _clean(dividend.value)
        if numerator_unit and _unit(dividend.unit):
            top += _factor(_unit(dividend.unit)[1], _unit(numerator_unit)[1])
        bottom = _clean(divisor.value) + _factor(_unit(divisor.unit)[1], den_dim[1])
        self._use(dividend), self._use(divisor)
        return f"{top} / ({bottom})" if " " in bottom else f"{top} / {bottom}"

    def _is_time_tail(self, n: Quantity) -> bool:
        before = self.question[: n.start]
        return bool(re.search(r"\d[\d.]*\s*(?:hours?|minutes?|mins?|h)\s*(?:and\s+)?$", before)) and \
            bool(_unit(n.unit)) and _unit(n.unit)[0] == "time"

    def _frame_change(self) -> Optional[str]:
        """"... at 2.36 a kilo and pay with a 20 note, how much change?"."""
        if not self._has(r"\bchange\b") or not self._has(r"\b(?:pay|paid|hand|give|gave)\b[^.?]*\bwith\b"):
            return None
        m = re.search(r"\bwith\s+(?:a|an|one)?\s*[$€£]?(\d[\d,.]*)", self.question, re.I)
        if not m:
            return None
        paid = _value(m.group(1).rstrip(".,"))
        others = [n for n in self._plain() if n.start != m.start(1)]
        if len(others) == 2:
            cost = f"{_clean(others[0].value)} * {_clean(others[1].value)}"
        elif len(others) == 1:
            cost = _clean(others[0].value)
        else:
            return None
        return f"{_clean(paid)} - {cost}"

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
        times = [n for n in plain if _unit(n.unit) and _unit(n.unit)[0] == "time"]
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
        money = [n for n in plain if _money(n, self.question)]
        total = money[0] if len(money) == 1 else max(plain, key=lambda n: n.value)
        count = plain[0] if plain[1] is total else plain[1]
        return f"{self._use(total)} / {self._use(count)}"

    def _frame_items(self) -> Optional[str]:
        """"3 notebooks at $2.40 each and a pen for $1.15" -> 3 * 2.40 + 1.15."""
        terms = []
        for m in re.finditer(r"(\d[\d,]*|\b(?:a|an|one)\b)\s+[\w -]{1,30}?\s+(?:at|for|costing)\s+[$€£]?"
                             r"(\d[\d,]*(?:\.\d+)?)(\s+each|\s+apiece|\s+a piece)?", self.question):
            count = m.group(1)
            price = _clean(_value(m.group(2)))
            if count.isalpha():
                terms.append(price)
            else:
                terms.append(f"{_clean(_value(count))} * {price}")
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
            values = [self._use(self._cell(table, r, c)) for r in rows]
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
            return f"{_clean(max(a.value, b.value))} - {_clean(min(a.value, b.value))}"
        found = self.column_values(self.words)
        if found:
            table, c, rows = found
            if len(rows) == 2:
                a, b = (self._cell(table, r, c) for r in rows)
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
            return "(" + " + ".join(self._use(self._cell(table, r, c)) for r in named) + ")"
        plain = self._plain()
        if len(plain) >= 2 and not self._has(r"\beach\b|\bper\b|\bevery\b"):
            money = [_money(n, self.question) for n in plain]
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
        cells = [self._cell(table, r, c) for r in rows]
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
                    return Quantity(value=_value(m.group(1)), percent=False, words=frozenset(), source=n)
        return None

    def _frame_product(self) -> Optional[str]:
        plain = self._plain()
        if len(plain) == 2:
            a, b = plain
            nouns = {stem(a.unit), stem(b.unit)} - {""}
            # "24 eggs in each box", "$18.75 an hour ... 32 hours": a per-item link
            linked = any(stem(w) in nouns for w in re.findall(r"\b(?:each|per|every|an?)\s+(\w+)", self.q))
            priced = sum(_money(n, self.question) for n in plain) == 1 and \
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
                    cell = self._cell(table, named[0], c)
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


def joined_passages(sources) -> list[tuple[int, str]]:
    """``[(n, text)]`` of retrieved sources (objects with n, path, text,
    start, end), where overlapping or touching chunks of one document are
    joined back into one text: a table the chunker cut in two is whole again
    (chunk text is the document's extracted text from start to end)."""
    by_path: dict[str, list] = {}
    for source in sources:
        by_path.setdefault(source.path, []).append(source)
    joined = []
    for group in by_path.values():
        group.sort(key=lambda s: s.start)
        n, text, end = group[0].n, group[0].text, group[0].end
        for source in group[1:]:
            if source.start <= end + 2 and source.end > end and len(source.text) == source.end - source.start:
                # touching chunks are one separator apart
                text += " " + source.text if source.start > end else source.text[end - source.start:]
                end = source.end
            elif source.start > end:
                joined.append((n, text))
                n, text, end = source.n, source.text, source.end
        joined.append((n, text))
    return sorted(joined)


def plan(question: str, passages: Sequence[tuple[int, str]] = ()) -> Optional[Plan]:
    """A calculator expression for ``question`` over the numbered passages
    ``[(n, text), ...]``, or None when the wording or operands are unclear."""
    try:
        return Planner(question, passages).plan()
    except _NoPlan:
        return None
    except Exception:  # a planner bug must not cost the user the answer
        log.exception("the planner failed on %r; the model plans instead", question[:200])
        return None
