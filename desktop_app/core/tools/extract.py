"""Find the arithmetic a user's question writes out (``chat/wordproblem.py``).

The packaged 270M model is a weak planner (issue 3): asked to choose a
calculator call it answers in prose, asked to write an expression it drops
the operation. So when a question *states* its arithmetic ("what is 17.5% of
2,340?", "compute (3+4)*12", "what's 2^10 minus 24?", "twelve times seven"),
the app reads the expression itself and sends it to the calculator.

``find_arithmetic`` is deliberately conservative: it turns a small English
grammar of arithmetic into calculator syntax and returns an expression only
when a stretch of the question consists of numbers joined by operators and
the calculator can parse it. A question that merely contains numbers ("In
2023 sales grew 15%", "pages 10-12", "gpt-4", dates, times) gives None.
Word problems whose operations are implied rather than stated ("4 pizzas at
$12.50") are not guessed at: those are for the model (with the expression
grammar) or a capable model's own tool calls.

Recognised, besides symbols (+ - * / // ^ ** % × ÷ −, parentheses, calculator
function calls like sqrt(2)):

- number words: zero to nineteen, tens, hundred, thousand, million, billion
  ("one hundred and five", "twenty-five")
- plus, minus, times, multiplied by, divided by, x between numbers,
  mod/modulo, to the power of, "raised to" (optionally followed by "the power of"), squared, cubed,
  N factorial, factorial of N
- percent / per cent / %; "P% of N" and "P percent of N" (P% * N);
  "increase N by P%" (N + P%), "decrease/reduce N by P%" (N - P%)
- square root of, cube root of, log of, natural log of, the square/cube of
- the sum / product of A and B [and C...], difference between A and B,
  the average / mean of A, B and C, add A and B, add A to B,
  subtract A from B, multiply A by B, divide A by B,
  half / a third / a quarter of N, twice / double / triple N

A bare "a-b" or "a/b" written without spaces ("1-2 sentences", "24/7") is
only taken as arithmetic when the question asks for a calculation ("what
is", "calculate", "=").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import List, Optional

from desktop_app.core.tools.calc_functions import FUNCTIONS
from desktop_app.core.tools.calculator import CalculatorError, normalize

log = logging.getLogger(__name__)

# A number as people write it: 2,340 / 17.5 / .5 / 1.5e3 (commas only in groups of three).
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+)"
_NUM_RE = re.compile(_NUM)

MAX_QUESTION_CHARS = 4000  # a question, not a document: the rest is ignored

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"thousand": 1000, "million": 10 ** 6, "billion": 10 ** 9}

_CUE = re.compile(r"\b(?:what\s+is|what's|whats|calculate|compute|evaluate|solve|how\s+much\s+is|"
                  r"how\s+much\s+are|work\s+out|equals?)\b|=")

_UNICODE = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-", "·": "*", "’": "'"})


def _words_to_number(words: List[str]) -> Optional[int]:
    total = current = 0
    seen = False
    for word in words:
        if word in _ONES:
            current += _ONES[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
        elif word == "and":
            continue
        else:
            return None
        seen = True
    return total + current if seen else None


_NUMBER_WORD = "|".join(sorted(list(_ONES) + list(_TENS) + ["hundred"] + list(_SCALES), key=len, reverse=True))
_NUMBER_WORDS_RE = re.compile(
    rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b")


def _replace_number_words(text: str) -> str:
    def convert(match: re.Match) -> str:
        phrase = match.group(0)
        # "and" joins parts of one number only after "hundred"/a scale ("one hundred and five");
        # elsewhere it separates two numbers ("add three and four").
        parts = re.split(r"\s+and\s+", phrase)
        pieces: List[str] = []
        buffer = parts[0]
        for part in parts[1:]:
            if re.search(r"(hundred|thousand|million|billion)$", buffer) and not re.match(
                    r"(hundred|thousand|million|billion)", part):
                buffer = f"{buffer} and {part}"
            else:
                pieces.append(buffer)
                buffer = part
        pieces.append(buffer)
        numbers = []
        for piece in pieces:
            value = _words_to_number(re.split(r"[\s-]+", piece))
            if value is None:
                return phrase
            numbers.append(str(value))
        return " and ".join(numbers)

    return _NUMBER_WORDS_RE.sub(convert, text)


def spell_out_number_words(text: str) -> str:
    """``text`` with number words written as digits ("twenty-five" -> "25")."""
    return _replace_number_words(text.lower())


def _nums(text: str) -> List[str]:
    return [n.replace(",", "") for n in _NUM_RE.findall(text)]


_PERCENT = r"(?:%|\bper\s*cent\b|\bpercent\b)"
# Atomic groups and a possessive repeat: "1,000,000" must not be re-split into
# list items on backtracking (that is exponential in the number of commas).
_LIST = rf"((?>{_NUM})(?:\s*,\s*(?>{_NUM}))*+\s*,?\s+and\s+(?>{_NUM}))"


def _join(numbers: List[str], op: str) -> str:
    return "(" + f" {op} ".join(numbers) + ")"


# (pattern, replacement function) applied in order, on lower-case text.
_REWRITES = [
    (re.compile(rf"\b(?:the\s+)?sum\s+of\s+{_LIST}"), lambda m: _join(_nums(m.group(1)), "+")),
    (re.compile(rf"\b(?:the\s+)?product\s+of\s+{_LIST}"), lambda m: _join(_nums(m.group(1)), "*")),
    (re.compile(rf"\b(?:the\s+)?(?:average|mean)\s+of\s+{_LIST}"),
     lambda m: f"({_join(_nums(m.group(1)), '+')} / {len(_nums(m.group(1)))})"),
    (re.compile(rf"\b(?:the\s+)?difference\s+between\s+({_NUM})\s+and\s+({_NUM})"),
     lambda m: f"({m.group(1)} - {m.group(2)})"),
    (re.compile(rf"\badd\s+({_NUM})\s+(?:and|to)\s+({_NUM})"), lambda m: f"({m.group(1)} + {m.group(2)})"),
    (re.compile(rf"\bsubtract\s+({_NUM})\s+from\s+({_NUM})"), lambda m: f"({m.group(2)} - {m.group(1)})"),
    (re.compile(rf"\bmultiply\s+({_NUM})\s+(?:by|and|with)\s+({_NUM})"),
     lambda m: f"({m.group(1)} * {m.group(2)})"),
    (re.compile(rf"\bdivide\s+({_NUM})\s+by\s+({_NUM})"), lambda m: f"({m.group(1)} / {m.group(2)})"),
    (re.compile(rf"\bincrease\s+({_NUM})\s+by\s+({_NUM})\s*{_PERCENT}"),
     lambda m: f"({m.group(1)} + {m.group(2)}%)"),
    (re.compile(rf"\b(?:decrease|reduce)\s+({_NUM})\s+by\s+({_NUM})\s*{_PERCENT}"),
     lambda m: f"({m.group(1)} - {m.group(2)}%)"),
    (re.compile(rf"\bhalf\s+of\s+({_NUM})"), lambda m: f"({m.group(1)} / 2)"),
    (re.compile(rf"\ba\s+third\s+of\s+({_NUM})"), lambda m: f"({m.group(1)} / 3)"),
    (re.compile(rf"\ba\s+quarter\s+of\s+({_NUM})"), lambda m: f"({m.group(1)} / 4)"),
    (re.compile(rf"\b(?:twice|double)\s+({_NUM})"), lambda m: f"(2 * {m.group(1)})"),
    (re.compile(rf"\btriple\s+({_NUM})"), lambda m: f"(3 * {m.group(1)})"),
    (re.compile(rf"\b(?:the\s+)?square\s+of\s+({_NUM})"), lambda m: f"({m.group(1)}^2)"),
    (re.compile(rf"\b(?:the\s+)?cube\s+of\s+({_NUM})"), lambda m: f"({m.group(1)}^3)"),
    # ordinal powers: "to the 3rd power", "raised to the 4th power"
    (re.compile(r"\b(?:raised\s+)?to\s+the\s+(\d+)(?:st|nd|rd|th)\s+power\b"), lambda m: f" ^ {m.group(1)}"),
    (re.compile(rf"\bfactorial\s+of\s+({_NUM})"), lambda m: f"factorial({m.group(1)})"),
    (re.compile(rf"({_NUM})\s+factorial\b"), lambda m: f"{m.group(1)}!"),
]

_OPERATOR_WORDS = [
    (re.compile(r"\b(?:per\s*cent|percent)\s+of\b|%\s*of\b"), "% * "),
    (re.compile(r"\s*\b(?:per\s*cent|percent)\b"), "%"),
    (re.compile(r"\bmultiplied\s+by\b|\btimes\b"), " * "),
    (re.compile(r"\bdivided\s+by\b"), " / "),
    (re.compile(r"\bplus\b"), " + "),
    (re.compile(r"\bminus\b"), " - "),
    (re.compile(r"\b(?:mod|modulo)\b"), " % "),
    (re.compile(r"\braised\s+to\s+the\s+power\s+of\b|\braised\s+to\b|\bto\s+the\s+power\s+of\b"
                r"|\bto\s+the\s+power\b"), " ^ "),
    (re.compile(r"\s*\bsquared\b"), "^2"),
    (re.compile(r"\s*\bcubed\b"), "^3"),
    (re.compile(r"\b(?:the\s+)?square\s+root\s+of\b|\bsqrt\s+of\b"), " sqrt "),
    (re.compile(r"\b(?:the\s+)?cube\s+root\s+of\b"), " cbrt "),
    (re.compile(r"\b(?:the\s+)?natural\s+(?:log|logarithm)\s+of\b"), " ln "),
    (re.compile(r"\b(?:the\s+)?(?:log|logarithm)\s+of\b"), " log "),
    (re.compile(r"(?<=\d)\s*x\s*(?=[\d.(])"), " * "),
]

_MASKS = [
    re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"),          # 2026-11-09
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),        # 11/09/2026
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"),       # 10:30
    re.compile(r"\b[a-z][a-z0-9]*(?:[-/.][a-z0-9]+)+\b"),  # gpt-4, covid-19, q-2026-0417, v3.11
    re.compile(r"\b[a-z]+\d[a-z0-9]*\b"),               # fy2027, hx21, i7
]
_KEEP_NAMES = set(FUNCTIONS) | {"pi", "e", "x"}


def _mask(match: re.Match) -> str:
    head = re.match(r"[a-z]+", match.group(0))
    if head and head.group(0) in _KEEP_NAMES:  # pi/2, sqrt2 stay for the lexer
        return match.group(0)
    return " § "

_LEX = re.compile(
    rf"(?P<num>{_NUM})|(?P<op>\*\*|//|[-+*/^%])|(?P<open>\()|(?P<close>\))|(?P<bang>!)"
    rf"|(?P<comma>,)|(?P<name>[a-z_][a-z0-9_]*)|(?P<space>\s+)|(?P<other>.)")


@dataclass
class _Lexeme:
    kind: str   # num op open close bang comma name word
    text: str
    spaced: bool  # whitespace before it


def _lex(text: str) -> List[_Lexeme]:
    lexemes: List[_Lexeme] = []
    spaced = False
    for match in _LEX.finditer(text):
        kind = match.lastgroup
        value = match.group(0)
        if kind == "space":
            spaced = True
            continue
        if kind == "name":
            kind = "name" if value in FUNCTIONS or value == "pi" else "word"
        elif kind == "other":
            kind = "word"
        elif kind == "num":
            value = value.replace(",", "")
        lexemes.append(_Lexeme(kind, value, spaced))
        spaced = False
    return lexemes


def _runs(lexemes: List[_Lexeme]) -> List[List[_Lexeme]]:
    """Maximal stretches of expression lexemes; commas only inside function calls."""
    runs: List[List[_Lexeme]] = []
    current: List[_Lexeme] = []
    stack: List[bool] = []
    for i, lex in enumerate(lexemes):
        if lex.kind == "word" or (lex.kind == "comma" and not (stack and stack[-1])):
            if current:
                runs.append(current)
            current, stack = [], []
            continue
        if lex.kind == "open":
            stack.append(bool(current) and current[-1].kind == "name")
        elif lex.kind == "close" and stack:
            stack.pop()
        current.append(lex)
    if current:
        runs.append(current)
    return runs


def _render_run(run: List[_Lexeme]) -> str:
    parts: List[str] = []
    for i, lex in enumerate(run):
        nxt = run[i + 1] if i + 1 < len(run) else None
        if lex.kind == "name" and lex.text != "pi" and nxt is not None and nxt.kind == "num":
            parts.append(f"{lex.text}(")  # "sqrt 1764" -> sqrt(1764)
            continue
        prev = run[i - 1] if i else None
        parts.append(lex.text)
        if prev is not None and prev.kind == "name" and prev.text != "pi" and lex.kind == "num":
            parts.append(")")
        parts.append(" ")
    return "".join(parts).replace(" )", ")").replace("( ", "(").strip()


def _trim(run: List[_Lexeme]) -> List[_Lexeme]:
    run = list(run)
    def dangling(lex: _Lexeme) -> bool:  # cannot end an expression
        if lex.kind == "op":
            return lex.text != "%"
        return lex.kind in ("open", "comma") or (lex.kind == "name" and lex.text != "pi")

    while run and dangling(run[-1]):
        run.pop()
    while run and (run[0].kind in ("close", "comma", "bang") or
                   run[0].kind == "op" and run[0].text not in "-"):
        run.pop(0)
    # unbalanced parentheses at the edges: "(see 3 + 4" or "3 + 4)"
    depth = 0
    for lex in run:
        depth += (lex.kind == "open") - (lex.kind == "close")
    while depth > 0 and run and run[0].kind == "open":
        run.pop(0)
        depth -= 1
    while depth < 0 and run and run[-1].kind == "close":
        run.pop()
        depth += 1
    return run


def _is_arithmetic(run: List[_Lexeme]) -> bool:
    numbers = sum(lex.kind == "num" for lex in run)
    if numbers == 0:
        return False
    has_function = any(lex.kind == "name" and lex.text != "pi" for lex in run)
    has_postfix = any(lex.kind == "bang" for lex in run) or any(
        lex.kind == "op" and lex.text == "^" for lex in run)
    binary = 0
    for i, lex in enumerate(run):
        if lex.kind == "op" and lex.text != "%" and i > 0 and (
                run[i - 1].kind in ("num", "close", "bang", "name") or run[i - 1].text == "%") \
                or lex.kind == "op" and lex.text == "%" and i + 1 < len(run) and run[i + 1].kind in ("num", "open"):
            binary += 1
    return has_function or has_postfix or (binary >= 1 and numbers >= 2) or (binary >= 1 and "pi" in
                                                                              [lx.text for lx in run])


def _is_tight_notation(run: List[_Lexeme]) -> bool:
    """'1-2', '24/7', '3/4/2026': digits joined by - or / with no spaces."""
    if any(lex.spaced for lex in run[1:]):
        return False
    return all(lex.kind in ("num", "open", "close") or (lex.kind == "op" and lex.text in "-/") for lex in run)


def _prepare(question: str) -> str:
    text = question.translate(_UNICODE).lower()
    text = _replace_number_words(text)  # first: "twenty-five" is not a product code
    for mask in _MASKS:
        text = mask.sub(_mask, text)
    text = re.sub(r"[$€£¥](?=\s?[\d.])", "", text)
    for pattern, replace in _REWRITES:
        text = pattern.sub(replace, text)
    for pattern, replacement in _OPERATOR_WORDS:
        text = pattern.sub(replacement, text)
    return text


def find_arithmetic(question: str) -> Optional[str]:
    """The calculator expression a question asks to compute, or None.

    >>> find_arithmetic("what is 17.5% of 2,340?")
    '17.5% * 2340'
    """
    if not question or not question.strip():
        return None
    question = question[:MAX_QUESTION_CHARS]
    text = _prepare(question)
    asks_for_calculation = bool(_CUE.search(question.lower()))
    best: Optional[str] = None
    best_size = 0
    for run in _runs(_lex(text)):
        run = _trim(run)
        if not run or not _is_arithmetic(run):
            continue
        if _is_tight_notation(run) and not asks_for_calculation:
            continue
        candidate = _render_run(run)
        try:
            expression = normalize(candidate)
        except CalculatorError:
            from desktop_app.core.logs import user_text  # part of the question: see the log policy

            log.debug("not an expression: %r", user_text(candidate))
            continue
        size = sum(lex.kind in ("num", "op", "name", "bang") for lex in run)
        if size > best_size:
            best, best_size = expression, size
    return best
