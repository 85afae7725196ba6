"""The calculator's functions and constants, and the table that names them.

``FUNCTIONS`` maps a (lower-case) name to its argument counts, its
implementation and a line of help; ``CONSTANTS`` maps pi, e and tau to their
float values. The parser (``calc_syntax``), the GBNF grammars (``grammar``)
and ``extract`` read their names from these tables.

Exact inputs stay exact where the result is rational: ``sqrt(16/9)`` is 4/3,
``log(1000)`` is 3; ``round`` rounds halves away from zero (a float as it is
written: 2.675 to 2.68). Trigonometry is in radians; the size of a factorial
is estimated before it is computed.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

from desktop_app.core.tools.calc_arithmetic import (
    MAX_BITS, MAX_DIGITS, CalculatorError, Number, exact_root, is_float, ln_abs, to_float, too_large)
from desktop_app.core.tools.calc_format import format_number


def _whole(x: Number, what: str) -> int:
    if isinstance(x, float):
        if not x.is_integer():
            raise CalculatorError(f"{what} needs a whole number")
        return int(x)
    x = Fraction(x)
    if x.denominator != 1:
        raise CalculatorError(f"{what} needs a whole number")
    return x.numerator


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError(f"a negative number ({format_number(x)}) has no real square root")
    if not isinstance(x, float):
        root = exact_root(Fraction(x), 2)
        if root is not None:
            return root
        return math.exp(ln_abs(x) / 2) if x > 1e300 else math.sqrt(float(x))
    return math.sqrt(x)


def _cbrt(x: Number) -> Number:
    if not isinstance(x, float):
        root = exact_root(Fraction(x), 3)
        if root is not None:
            return root
    if x == 0:
        return 0
    return math.copysign(math.exp(ln_abs(x) / 3), float(x))


def _log(x: Number, base: Number = 10) -> Number:
    if x <= 0:
        raise CalculatorError("log is only defined for positive numbers")
    if base <= 0 or base == 1:
        raise CalculatorError("the base of a log must be positive and not 1")
    result = ln_abs(x) / ln_abs(base)
    if not is_float(x, base):
        # Exact when x is an integer power of the base: log(1000) is 3.
        k = round(result)
        if abs(result - k) < 1e-9 and abs(k) * max(Fraction(base).numerator.bit_length(),
                                                    Fraction(base).denominator.bit_length()) <= MAX_BITS:
            if Fraction(base) ** k == Fraction(x):
                return k
    return result


def _ln(x: Number) -> float:
    if x <= 0:
        raise CalculatorError("ln is only defined for positive numbers")
    return ln_abs(x)


def _exp(x: Number) -> float:
    try:
        return math.exp(to_float(x))
    except OverflowError:
        raise too_large() from None


def _trig(fn: Callable[[float], float], name: str) -> Callable[[Number], float]:
    def apply(x: Number) -> float:
        xf = to_float(x)
        if math.isinf(xf):
            raise too_large()
        result = fn(xf)
        # sin(pi) is 1.2e-16 in floats: for |x| >= 1, anything within the
        # rounding error of x itself is zero.
        if abs(xf) >= 1 and abs(result) < 4 * 2.220446049250313e-16 * abs(xf):
            result = 0.0
        return result
    apply.__name__ = name
    return apply


_sin = _trig(math.sin, "sin")
_cos = _trig(math.cos, "cos")


def _tan(x: Number) -> float:
    if _cos(x) == 0.0:
        raise CalculatorError("tan is undefined at odd multiples of pi/2")
    return _trig(math.tan, "tan")(x)


def _inverse_trig(fn: Callable[[float], float], name: str) -> Callable[[Number], float]:
    def apply(x: Number) -> float:
        if not -1 <= x <= 1:
            raise CalculatorError(f"{name} needs a value between -1 and 1")
        return fn(to_float(x))
    return apply


def _round(x: Number, digits: Number = 0) -> Number:
    n = _whole(digits, "the digits argument of round")
    if abs(n) > 100:
        raise CalculatorError("round accepts between -100 and 100 digits")
    # Floats round as written (2.675 -> 2.68), halves away from zero.
    exact = Fraction(repr(x)) if isinstance(x, float) else Fraction(x)
    scale = Fraction(10) ** n
    scaled = abs(exact) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    return (1 if exact >= 0 else -1) * Fraction(rounded) / scale


def factorial(x: Number) -> int:
    n = _whole(x, "factorial")
    if n < 0:
        raise CalculatorError("factorial needs a non-negative whole number")
    if n > 2 and math.lgamma(n + 1) / math.log(10) > MAX_DIGITS:
        raise too_large()
    return math.factorial(n)


def _abs(x: Number) -> Number:
    return abs(x)


def _floor(x: Number) -> int:
    return math.floor(x)


def _ceil(x: Number) -> int:
    return math.ceil(x)


def _min(*xs: Number) -> Number:
    return min(xs)


def _max(*xs: Number) -> Number:
    return max(xs)


# name -> (minimum arguments, maximum arguments or None, implementation, help)
FUNCTIONS: dict = {
    "sqrt": (1, 1, _sqrt, "square root"),
    "cbrt": (1, 1, _cbrt, "cube root"),
    "ln": (1, 1, _ln, "natural logarithm"),
    "log": (1, 2, _log, "log(x) base 10, log(x, b) base b"),
    "log10": (1, 1, _log, "logarithm base 10"),
    "log2": (1, 1, lambda x: _log(x, 2), "logarithm base 2"),
    "exp": (1, 1, _exp, "e to the power x"),
    "sin": (1, 1, _sin, "sine (radians)"),
    "cos": (1, 1, _cos, "cosine (radians)"),
    "tan": (1, 1, _tan, "tangent (radians)"),
    "asin": (1, 1, _inverse_trig(math.asin, "asin"), "arc sine"),
    "acos": (1, 1, _inverse_trig(math.acos, "acos"), "arc cosine"),
    "atan": (1, 1, lambda x: math.atan(to_float(x)), "arc tangent"),
    "abs": (1, 1, _abs, "absolute value"),
    "round": (1, 2, _round, "round(x) or round(x, digits), halves away from zero"),
    "floor": (1, 1, _floor, "round down"),
    "ceil": (1, 1, _ceil, "round up"),
    "min": (1, None, _min, "smallest argument"),
    "max": (1, None, _max, "largest argument"),
    "factorial": (1, 1, factorial, "n!"),
}

CONSTANTS: dict = {"pi": math.pi, "e": math.e, "tau": math.tau}
