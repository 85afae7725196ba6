"""Deciding when a question needs the calculator, from the question alone.

The default model is a 270M base model and a weak planner, so Hearth plans:

- arithmetic written in the question ("what is 17.5% of 2340?") is found by
  the tools package's ``find_arithmetic`` and goes to the calculator as is;
- a question that asks for a quantity ("how much do three chains cost in
  total?") may need numbers from the library: the model is asked to write an
  expression (under the calculator's GBNF grammar) from the question and the
  passages' number sentences; the expression is accepted only if it has an
  operator and every number in it appears in the question or the passages.

Both decisions look at the *question*; passages only ever supply numbers.
Instructions inside a document therefore cannot start a tool call.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12, "twice": 2, "double": 2, "triple": 3, "half": 2, "quarter": 4,
    "percent": 100, "hours": 60, "minutes": 60, "week": 7, "weeks": 7, "days": 24,
    "year": 12, "years": 12, "months": 12,
}

# A question that asks to combine quantities. Deliberately about the wording
# of the question, never the passages.
_COMBINE_CUES = re.compile(
    r"\b(total|sum|combined|altogether|in all|together|difference|more than|less than|"
    r"fewer than|longer than|shorter than|heavier than|lighter than|cheaper than|"
    r"remain(?:s|ing)?|left over|(?:are|is) left|average|(?:the|a) mean|times|twice|double|triple|half|"
    r"percent(?:age)?|increase|decrease|discount|ratio|split|divided|multipl\w*|subtract\w*|"
    r"calculate|compute)\b", re.I)
# A question asking for a quantity; with a number of its own ("three chains")
# it may need that number applied to the documents' numbers.
_QUANTITY_CUES = re.compile(
    r"\b(how (?:much|many|long|far|often)|cost|costs|price|pay|spend|earn|save|weigh|weight)\b", re.I)
_QUESTION_NUMBER_WORDS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|hundred|dozen)\b", re.I)

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_OPERATOR = re.compile(r"\d\s*[-+*/^]\s*[\d(a-z]|[a-z]+\(|\d\s*%|\)")


def question_numbers(question: str) -> set[float]:
    """Numbers the question itself states (digits or words)."""
    found = {float(m.group(1).replace(",", "")) for m in _NUMBER.finditer(question)}
    found |= {float(NUMBER_WORDS[w.lower()]) for w in _QUESTION_NUMBER_WORDS.findall(question)}
    return found


def asks_for_computation(question: str) -> bool:
    """Does the question ask to compute something (not just look up a number)?"""
    if _COMBINE_CUES.search(question):
        return True
    return bool(_QUANTITY_CUES.search(question)) and bool(question_numbers(question))


def sourced_numbers(expression: str) -> int:
    """How many numbers in the expression are not free constants: a word
    problem combines at least two numbers from the question or passages
    ("100 + 8%" is a guess, not a computation)."""
    trivial = {0.0, 1.0, 100.0}
    return sum(float(m.group(1).replace(",", "")) not in trivial for m in _NUMBER.finditer(expression))


def question_number_coverage(expression: str, question: str) -> float:
    """Share of the numbers the question states that the expression uses."""
    wanted = question_numbers(question) - FREE_NUMBERS
    if not wanted:
        return 1.0
    used = {float(m.group(1).replace(",", "")) for m in _NUMBER.finditer(expression)}
    return len(used & wanted) / len(wanted)


def uses_question_numbers(expression: str, question: str) -> bool:
    """When the question states numbers, the expression must use one of them."""
    wanted = question_numbers(question) - FREE_NUMBERS
    if not wanted:
        return True
    used = {float(m.group(1).replace(",", "")) for m in _NUMBER.finditer(expression)}
    return bool(used & wanted)


def numbers_in(text: str) -> set[float]:
    found = set()
    for match in _NUMBER.finditer(text):
        try:
            found.add(float(match.group(1).replace(",", "")))
        except ValueError:
            pass
    lowered = text.lower()
    for word, value in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", lowered):
            found.add(float(value))
    return found


def has_operation(expression: str) -> bool:
    return bool(_OPERATOR.search(expression.replace(" ", "").lower()))


# Numbers any arithmetic may use without a source: units and simple factors.
FREE_NUMBERS = {0.0, 1.0, 2.0, 10.0, 100.0, 1000.0}


def grounded(expression: str, allowed: Iterable[float]) -> bool:
    """Every number in ``expression`` appears in the question or passages."""
    allowed = set(allowed) | FREE_NUMBERS
    for match in _NUMBER.finditer(expression):
        value = float(match.group(1).replace(",", ""))
        if not any(abs(value - a) <= 1e-9 * max(1.0, abs(a)) for a in allowed):
            return False
    return True


def number_sentences(texts: Iterable[str], question: str, limit: int = 8, max_chars: int = 300) -> list[str]:
    """Sentences of the passages that hold numbers, the ones sharing most
    words with the question first (the expression writer's evidence)."""
    q_words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", question)}
    scored = []
    order = 0
    for text in texts:
        for sentence in _SENTENCE.split(text):
            sentence = " ".join(sentence.split())
            if not sentence or not (_NUMBER.search(sentence) or numbers_in(sentence) - {100.0, 60.0, 12.0, 7.0, 24.0}):
                continue
            words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", sentence)}
            scored.append((-len(words & q_words), order, sentence[:max_chars]))
            order += 1
    scored.sort()
    seen, out = set(), []
    for _, _, sentence in scored:
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
        if len(out) >= limit:
            break
    return out


_SYMBOLIC_SPAN = re.compile(r"[-+(]*\s*(?:\d[\d,.]*|\.\d+)(?:\s*[-+*/^×÷%()]+\s*(?:\d[\d,.]*|\.\d+)?)+\)*")


def _symbolic_span(question: str) -> Optional[str]:
    """The longest run of symbols the calculator accepts, with an operator."""
    from desktop_app.core.tools.calculator import CalculatorError, evaluate

    for match in sorted(_SYMBOLIC_SPAN.finditer(question), key=lambda m: -len(m.group(0))):
        span = match.group(0).strip().rstrip(".,?")
        if not re.search(r"[\d)]\s*[-+*/^×÷]\s*[\d(]", span):
            continue
        try:
            evaluate(span)
        except CalculatorError:
            continue
        return span
    return None


def plain_expression(question: str) -> Optional[str]:
    """Arithmetic written in the question itself: the tools package's
    ``find_arithmetic`` when it is there, else symbols the calculator reads."""
    try:
        from desktop_app.core.tools.extract import find_arithmetic
    except ImportError:  # an older tools package: symbols only
        return _symbolic_span(question)
    return find_arithmetic(question)
