"""The calculator's number formatting: how a result is written for people.

Integers in full (whole floats below 1e15 too), exact finite decimals in full
(up to 20 places and 40 characters), everything else to ``SIGNIFICANT_DIGITS``
significant digits with a tidy exponent (``1e20``, ``1.5e-7``).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Optional, Union

from desktop_app.core.tools.calc_arithmetic import Number

SIGNIFICANT_DIGITS = 15


def _tidy_exponent(text: str) -> str:
    mantissa, sep, exponent = text.partition("e")
    if not sep:
        return text
    sign = "-" if exponent.startswith("-") else ""
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def _significant(value: Union[Fraction, float]) -> str:
    if isinstance(value, float):
        text = format(value, f".{SIGNIFICANT_DIGITS}g")
    else:
        with localcontext() as ctx:
            ctx.prec = SIGNIFICANT_DIGITS
            text = format(Decimal(value.numerator) / Decimal(value.denominator),
                          f".{SIGNIFICANT_DIGITS}g")
    mantissa, sep, exponent = text.partition("e")
    if "." in mantissa:  # Decimal's "g" keeps trailing zeros; floats' does not
        mantissa = mantissa.rstrip("0").rstrip(".")
    text = _tidy_exponent(mantissa + sep + exponent)
    return "0" if text in ("-0", "0") else text


def _finite_decimal_places(x: Fraction) -> Optional[int]:
    """Digits after the point of x written exactly, or None if it repeats."""
    d = x.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    return max(twos, fives) if d == 1 else None


def format_number(value: Number) -> str:
    """Integers in full, finite decimals exactly, others to 15 significant digits."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return _significant(value)
    if value.denominator == 1:
        return str(value.numerator)
    places = _finite_decimal_places(value)
    if places is not None and places <= 20:
        scaled = abs(value.numerator) * (10 ** places // value.denominator)
        digits = str(scaled).rjust(places + 1, "0")
        text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
        if len(text) <= 40:
            return ("-" if value < 0 else "") + text
    return _significant(value)


def is_exact_text(value: Number, text: str) -> bool:
    if isinstance(value, float):
        return False
    try:
        return Fraction(text) == value
    except ValueError:
        return False
