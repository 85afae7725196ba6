"""A safe arithmetic evaluator: the calculator tool's engine.

Never Python's ``eval``: the text is tokenized and parsed by a small
recursive-descent parser (``calc_syntax``), and only the node types of its
syntax tree are evaluated, here. Nothing in an expression can reach a Python
name, attribute, call or import.

What it accepts
---------------
- Numbers: ``42``, ``3.25``, ``.5``, ``1.5e3``, and thousands separators
  ``1,234,567`` (groups of exactly three digits). A comma inside the
  parentheses of a function call always separates arguments, so
  ``max(1,234)`` is ``max(1, 234)``; ``max((1,234), 5)`` is ``max(1234, 5)``.
- Operators, loosest to tightest: ``+ -``; ``* / // %`` (``//`` floors,
  ``%`` is the remainder, both with the sign of the divisor as in Python);
  unary ``- +``; ``^`` or ``**`` (power, right-associative, so ``-2^2`` is
  -4 and ``2^3^2`` is 512); postfix ``%`` (percent), ``!`` (factorial),
  ``²`` ``³``. Unicode ``× · ÷ − –`` are read as ``* * / - -``.
- ``%`` is a percent sign unless a number, name or ``(`` follows it, in which
  case it is the remainder: ``15%`` is 0.15, ``10 % 3`` is 1.
- Percentages: ``200 * 15%`` is 30. A percentage that is directly the right
  operand of ``+`` or ``-`` is relative to the left operand, as on a pocket
  calculator: ``80 + 10%`` is 88 and ``80 - 25%`` is 60. Put it in
  parentheses to add the plain fraction: ``80 + (10%)`` is 80.1.
- Functions (names are case-insensitive): sqrt, cbrt, ln, log (``log(x)`` is
  base 10, ``log(x, b)`` base b), log2, log10, exp, sin, cos, tan, asin, acos,
  atan (radians), abs, round (``round(x)``, ``round(x, n)``; halves round away
  from zero), floor, ceil, min, max, factorial; constants pi, e, tau.


Exactness: + - * / // % and rational powers are computed with integers and
``fractions.Fraction``, so ``0.1 + 0.2`` is exactly 0.3 and ``1/3*3`` is 1.
Floats appear only from transcendental functions and irrational constants.

Bounds: expressions are at most ``MAX_EXPRESSION_CHARS`` characters and
``MAX_TOKENS`` numbers/operators/names long (which bounds the number of
operations), nest at most ``MAX_DEPTH`` deep, and no exact result may exceed
``MAX_DIGITS`` digits (a result whose exact fraction would be longer but whose
size is sane, like (2/3)^20000, becomes a float approximation). Sizes
of powers and factorials are estimated *before* they are computed, so
``9**9**9**9`` is refused at once with "result too large".

Where the parts live: this module is the public face (``parse``,
``normalize``, ``evaluate``, ``CalcResult``, ``CalculatorError``) and walks the
syntax tree to evaluate it. ``calc_syntax`` tokenizes, parses and renders
(``MAX_TOKENS``, ``MAX_DEPTH``); ``calc_arithmetic`` holds the exact and
bounded arithmetic (``MAX_DIGITS``) and ``CalculatorError``; ``calc_functions``
the functions and constants; ``calc_format`` how a result is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

from desktop_app.core.tools.calc_arithmetic import CalculatorError, Number, binary, checked, too_large
from desktop_app.core.tools.calc_format import format_number, is_exact_text
from desktop_app.core.tools.calc_functions import CONSTANTS, FUNCTIONS, factorial
from desktop_app.core.tools.calc_syntax import (
    Binary, Call, Const, Factorial, Group, Num, Parser, Percent, Unary, normalize_text, render, tokenize)

log = logging.getLogger(__name__)

MAX_EXPRESSION_CHARS = 1000


@dataclass(frozen=True)
class CalcResult:
    value: Number          # int or Fraction when exact, float when approximate
    text: str              # the value formatted for people (and for models)
    expression: str        # the expression as understood, normalized
    exact: bool            # True when ``text`` is exactly ``value``

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------
# Evaluation

def _evaluate(node) -> Number:
    try:
        return checked(_evaluate_node(node))
    except OverflowError:
        raise too_large() from None
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None


def _evaluate_node(node) -> Number:
    if isinstance(node, Num):
        return checked(node.value)
    if isinstance(node, Const):
        return CONSTANTS[node.name]
    if isinstance(node, Group):
        return _evaluate(node.inner)
    if isinstance(node, Unary):
        value = _evaluate(node.operand)
        return -value if node.op == "-" else value
    if isinstance(node, Percent):
        value = _evaluate(node.operand)
        return value / 100 if isinstance(value, float) else Fraction(value, 100)
    if isinstance(node, Factorial):
        return factorial(_evaluate(node.operand))
    if isinstance(node, Binary):
        left = _evaluate(node.left)
        if node.op in "+-" and isinstance(node.right, Percent):
            # "80 + 10%" means 80 plus 10% of 80.
            share = _evaluate(node.right)
            return binary("*", left, binary(node.op, 1, share))
        return binary(node.op, left, _evaluate(node.right))
    if isinstance(node, Call):
        low, high, function, _ = FUNCTIONS[node.name]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            expected = str(low) if low == high else (f"{low} to {high}" if high else f"at least {low}")
            noun = "argument" if expected == "1" else "arguments"
            raise CalculatorError(f"{node.name} takes {expected} {noun} (got {len(node.args)})",
                                  node.pos + 1)
        args = [_evaluate(arg) for arg in node.args]
        return function(*args)
    raise AssertionError(f"unknown node {node!r}")


# --------------------------------------------------------------------------
# Public entry point

def parse(expression: str):
    """Parse into the syntax tree of ``calc_syntax`` (exposed for tests and tooling)."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression is too long (more than {MAX_EXPRESSION_CHARS} characters)")
    return Parser(tokenize(normalize_text(expression))).parse()


def normalize(expression: str) -> str:
    """The expression as the calculator reads it (syntax only, nothing evaluated)."""
    return render(parse(expression))


def evaluate(expression: str) -> CalcResult:
    """Evaluate ``expression``; raises ``CalculatorError`` with a user-facing message."""
    tree = parse(expression)
    try:
        value = _evaluate(tree)
    except RecursionError:  # cannot happen within MAX_DEPTH; kept as a guard
        raise CalculatorError("expression is nested too deeply") from None
    if isinstance(value, float) and value == 0:
        value = 0.0  # no "-0"
    text = format_number(value)
    return CalcResult(value=value, text=text, expression=render(tree), exact=is_exact_text(value, text))
