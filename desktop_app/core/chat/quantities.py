"""Labelled quantities read from a question and from retrieved passages.

What the planner (``planner.py``) works with: every number with the words
that name it. In a pipe table ("| a | b | | c | d |", as Hearth's parsers
write Markdown, DOCX and column-aligned text tables) a cell is named by its
row and column; a number in prose by the words of its clause; a "Key: value"
line by its key. Years, dates, street numbers and labels ("week 46", "page
3") are not quantities. Also here: the word stems used to match names, units
and their conversions, and joining retrieved chunks of one document back
together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Optional, Sequence

# --------------------------------------------------------------- words

_STOP = frozenset("""
a an the of in on at to for from by with and or is are was were be been being do does did
what whats how much many which who whom whose this that these those it its i my me we our you
your they their there here as if would could should can will shall may might must than then
into per each one ones some any all about after before over under up down out off not no
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’][a-z]+)?|\d+[A-Za-z][A-Za-z0-9]*")

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


def parse_number(raw: str) -> float:
    return float(raw.replace(",", ""))


def calc_number(value: float) -> str:
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
        return calc_number(self.value) + ("%" if self.percent else "")


_LABEL_BEFORE = re.compile(
    r"\b(?:week|day|page|p\.|chapter|section|room|no\.|number|#|year|version|step|line|model|"
    r"item|floor|article|clause|figure|table|unit|route|report)\s*$", re.I)
_ADDRESS_AFTER = re.compile(r"^\s+(?:[A-Z][a-z]+\s+){1,3}(?:Lane|Street|St|Road|Rd|Avenue|Ave|Way|Drive|"
                            r"Place|Square|Court|Boulevard)\b")


def _is_identifier_or_date(text: str, match: re.Match) -> bool:
    """Years, dates, "week 46", "page 3", "14 Mill Lane": labels, not amounts."""
    before, after = text[max(0, match.start() - 12): match.start()], text[match.end(): match.end() + 30]
    value = parse_number(match.group(1))
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
            value=parse_number(m.group(1)), percent=bool(m.group(2)),
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

    @cached_property
    def label_words(self) -> list[set[str]]:
        """The word stems of each row's label."""
        return [words_of(self.row_label(r)) for r in range(len(self.rows))]

    def cell(self, r: int, c: int) -> Optional[Quantity]:
        """The number in row ``r``, column ``c`` (None when it holds none)."""
        return self._by_place.get((r, self.headers[c]))

    @cached_property
    def _by_place(self) -> dict:
        return {(q.row, q.column): q for q in self.cells}

    @cached_property
    def cells(self) -> list[Quantity]:
        """Every number of the table, named by its row and column (read once)."""
        out = []
        context = frozenset(words_of(" ".join(self.headers)))
        for r, row in enumerate(self.rows):
            label = self.label_words[r]
            for c, cell in enumerate(row):
                m = re.fullmatch(r"\s*[$€£]?\s*(-?[\d,]*\.?\d+)\s*(%?)\s*", cell)
                if not m or c >= len(self.headers):
                    continue
                try:
                    value = parse_number(m.group(1))
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
                facts.quantities.extend(table.cells)
            for sentence in _SENTENCE.split(rest):
                sentence = sentence.strip()
                if sentence:
                    facts.sentences.append((n, sentence))
                    facts.quantities.extend(numbers_in_text(sentence, n))
        return facts


# ---------------------------------------------------------------- units

def is_money(q: Quantity, question: str) -> bool:
    before = question[max(0, q.start - 2): q.start]
    return "$" in before or "€" in before or "£" in before or q.unit in ("usd", "eur", "euro", "dollar",
                                                                          "pound", "gbp")


MONEY_UNIT = re.compile(r"^(?:usd|eur|gbp|euros?|dollars?|pounds?|chf)\b")

# unit -> (dimension, size in the dimension's base unit)
UNITS = {
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
COMPOUND_RATES = {"km/h": ("km", "hour"), "kmh": ("km", "hour"), "kph": ("km", "hour"),
                   "mph": ("mile", "hour"), "mpg": ("mile", "gallon"), "m/s": ("m", "second")}
TEMPERATURES = {"c": "C", "celsius": "C", "centigrade": "C", "f": "F", "fahrenheit": "F",
                 "k": "K", "kelvin": "K"}


def unit_of(word: str) -> Optional[tuple[str, float]]:
    if not word:
        return None
    return UNITS.get(word.lower()) or UNITS.get(stem(word))


def conversion(a: float, b: float) -> str:
    """``a / b`` written for the calculator, exact where possible."""
    if a == b:
        return ""
    ratio = a / b
    if ratio == int(ratio):
        return f" * {calc_number(ratio)}"
    inverse = b / a
    if abs(inverse - round(inverse)) < 1e-12:
        return f" / {calc_number(round(inverse))}"
    return f" * {calc_number(a)} / {calc_number(b)}"


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
