"""The calculator's arithmetic: exact where it can be, bounded in size.

+ - * / // % and rational powers are computed with integers and
``fractions.Fraction``; floats appear only when an operand already is one
(from a transcendental function or an irrational constant), when a power has
no rational result (``2^(1/2)``), or when an exact result would be too long
to keep. No exact result may exceed ``MAX_DIGITS``
digits (``MAX_BITS`` bits): a result whose exact fraction would be longer but
whose size is sane, like (2/3)^20000, becomes a float approximation. Sizes of
powers are estimated *before* they are computed, so ``9**9**9**9`` is refused
at once with "result too large".

``CalculatorError`` is the one error every part of the calculator raises.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional, Union

Number = Union[int, Fraction, float]

MAX_DIGITS = 4000  # below CPython's 4300-digit int->str limit
MAX_BITS = int(MAX_DIGITS * math.log2(10))
MAX_ROOT_DEGREE = 64


class CalculatorError(ValueError):
    """A user-facing problem with an expression. ``message`` is for the user."""

    def __init__(self, message: str, position: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position  # 1-based character position, when known


def too_large() -> CalculatorError:
    return CalculatorError(f"result too large (more than {MAX_DIGITS} digits)")


def checked(x: Number) -> Number:
    """Normalize a result and enforce the size bound."""
    if isinstance(x, float):
        if math.isinf(x):
            raise too_large()
        if math.isnan(x):
            raise CalculatorError("the result is not a number")
        return x
    if isinstance(x, int):
        if x.bit_length() > MAX_BITS:
            raise too_large()
        return x
    if x.denominator == 1:
        return checked(x.numerator)
    nb, db = x.numerator.bit_length(), x.denominator.bit_length()
    if nb > MAX_BITS or db > MAX_BITS:
        if nb - db > MAX_BITS:
            raise too_large()
        # Too many digits to keep exactly, but a sane size: approximate it.
        return checked(to_float(x))
    return x


def to_float(x: Number) -> float:
    try:
        return float(x)
    except OverflowError:
        raise too_large() from None


def is_float(*values: Number) -> bool:
    return any(isinstance(v, float) for v in values)


def ln_abs(x: Number) -> float:
    """ln|x| for x != 0, also for numbers beyond the float range."""
    if isinstance(x, float):
        return math.log(abs(x))
    x = Fraction(x)
    return math.log(abs(x.numerator)) - math.log(x.denominator)


def _iroot(n: int, k: int) -> int:
    """floor(n ** (1/k)) for n >= 0, exactly."""
    if n < 2:
        return n
    if k == 2:
        return math.isqrt(n)
    x = 1 << -(-n.bit_length() // k)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def exact_root(x: Fraction, k: int) -> Optional[Fraction]:
    """The exact real k-th root of x when it is rational, else None."""
    if x < 0:
        if k % 2 == 0:
            raise CalculatorError("an even root of a negative number is not a real number")
        root = exact_root(-x, k)
        return -root if root is not None else None
    num, den = _iroot(x.numerator, k), _iroot(x.denominator, k)
    if num ** k == x.numerator and den ** k == x.denominator:
        return Fraction(num, den)
    return None


def _float_power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        raise too_large() from None
    except ValueError:
        if base == 0:
            raise CalculatorError("division by zero (zero to a negative power)") from None
        raise CalculatorError("a negative number to a fractional power is not a real number") from None


def _power(base: Number, exponent: Number) -> Number:
    if is_float(base, exponent):
        return _float_power(to_float(base), to_float(exponent))
    base, exponent = Fraction(base), Fraction(exponent)
    if exponent.denominator != 1:
        k = exponent.denominator
        if k <= MAX_ROOT_DEGREE:
            root = exact_root(base, k)
            if root is not None:
                return _power(root, exponent.numerator)
        if base < 0:
            if k % 2 == 0:
                raise CalculatorError("an even root of a negative number is not a real number")
            sign = -1.0 if exponent.numerator % 2 else 1.0
            return sign * _approx_power(-base, exponent)
        return _approx_power(base, exponent)
    n = exponent.numerator
    if base == 0:
        if n < 0:
            raise CalculatorError("division by zero (zero to a negative power)")
        return 1 if n == 0 else 0
    if abs(base) == 1:
        return int(base) ** n if base.denominator == 1 else base ** n
    # Estimate before computing: the exact result has about |n| times the
    # digits of the base; its magnitude is |n| * log2|base| bits.
    size_bits = abs(n) * max(math.log2(abs(base.numerator)), math.log2(base.denominator))
    if size_bits <= MAX_BITS + 64:
        return base ** n
    magnitude_bits = n * ln_abs(base) / math.log(2)
    if magnitude_bits > MAX_BITS:
        raise too_large()
    sign = -1.0 if base < 0 and n % 2 else 1.0
    return sign * _approx_power(abs(base), exponent)


def _approx_power(base: Fraction, exponent: Fraction) -> float:
    """base ** exponent as a float for base > 0, without overflowing early."""
    log_value = float(exponent) * ln_abs(base)
    if log_value > 709.78:
        raise too_large()
    return math.exp(log_value)


def binary(op: str, a: Number, b: Number) -> Number:
    if op in ("/", "//", "%") and b == 0:
        raise CalculatorError("division by zero")
    if op == "^":
        return _power(a, b)
    if is_float(a, b):
        a, b = to_float(a), to_float(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if isinstance(a, float) else Fraction(a) / Fraction(b)
    if op == "//":
        return math.floor(a / b) if isinstance(a, float) else Fraction(a) // Fraction(b)
    if op == "%":
        return a % b
    raise AssertionError(op)
