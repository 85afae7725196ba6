"""Unit and temperature conversions a question writes out, as calculator expressions.

"5 miles in km", "convert 2.5 litres to ml", "how many grams are in 3 pounds",
"100 F in Celsius": a number, the unit it is in and the
unit asked for, both in the table below (one dimension each). Anything else
gives None; a word problem that only mentions units is not a conversion.
The expression is shown to the user, so it is written with the factor.
"""

from __future__ import annotations

import re
from typing import Optional

# unit -> (dimension, size in the dimension's base unit). US gallon; no
# one-letter names that are also words ("a", "in", "s" alone is second).
UNITS = {
    "mm": ("length", 0.001), "millimetre": ("length", 0.001), "millimeter": ("length", 0.001),
    "cm": ("length", 0.01), "centimetre": ("length", 0.01), "centimeter": ("length", 0.01),
    "m": ("length", 1), "metre": ("length", 1), "meter": ("length", 1),
    "km": ("length", 1000), "kilometre": ("length", 1000), "kilometer": ("length", 1000),
    "inch": ("length", 0.0254), "inches": ("length", 0.0254), "foot": ("length", 0.3048),
    "feet": ("length", 0.3048), "ft": ("length", 0.3048), "yard": ("length", 0.9144),
    "yd": ("length", 0.9144), "mile": ("length", 1609.344), "mi": ("length", 1609.344),
    "mg": ("mass", 0.001), "milligram": ("mass", 0.001), "g": ("mass", 1), "gram": ("mass", 1),
    "kg": ("mass", 1000), "kilogram": ("mass", 1000), "kilo": ("mass", 1000), "tonne": ("mass", 10 ** 6),
    "lb": ("mass", 453.59237), "lbs": ("mass", 453.59237), "pound": ("mass", 453.59237),
    "oz": ("mass", 28.349523125), "ounce": ("mass", 28.349523125),
    "ml": ("volume", 0.001), "millilitre": ("volume", 0.001), "milliliter": ("volume", 0.001),
    "cl": ("volume", 0.01), "l": ("volume", 1), "litre": ("volume", 1), "liter": ("volume", 1),
    "gallon": ("volume", 3.785411784), "gal": ("volume", 3.785411784),
    "s": ("time", 1), "sec": ("time", 1), "second": ("time", 1), "min": ("time", 60),
    "minute": ("time", 60), "h": ("time", 3600), "hr": ("time", 3600), "hour": ("time", 3600),
    "day": ("time", 86400), "week": ("time", 604800),
}
TEMPERATURES = {"c": "C", "celsius": "C", "centigrade": "C", "f": "F", "fahrenheit": "F",
                "k": "K", "kelvin": "K"}
# Celsius from each scale, and each scale from Celsius ("x" is the value).
_TO_C = {"C": "x", "F": "(x - 32) * 5 / 9", "K": "x - 273.15"}
_FROM_C = {"C": "x", "F": "x * 9 / 5 + 32", "K": "x + 273.15"}

_NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+"
_UNIT = r"(?:degrees?\s+|°\s*)?([a-z]+)"
_FORWARD = re.compile(rf"(?<![\w.])({_NUM})\s*{_UNIT}\s+(?:to|in|into|as)\s+{_UNIT}\b")
_ASKED_FIRST = re.compile(rf"\bhow\s+many\s+{_UNIT}\s+(?:are|is|make|in|does|do)\s+(?:there\s+)?(?:in\s+)?"
                          rf"(?:a\s+|an\s+)?({_NUM})?\s*{_UNIT}\b")


def _singular(word: str) -> str:
    if word in UNITS or word in TEMPERATURES:
        return word
    for cut in ("es", "s"):
        if word.endswith(cut) and word[: -len(cut)] in UNITS:
            return word[: -len(cut)]
    return word


def _number(text: str) -> str:
    return text.replace(",", "")


def convert(value: str, source: str, target: str) -> Optional[str]:
    """The expression converting ``value`` from unit ``source`` to ``target``."""
    source, target = _singular(source.lower()), _singular(target.lower())
    if source in TEMPERATURES and target in TEMPERATURES:
        a, b = TEMPERATURES[source], TEMPERATURES[target]
        if a == b:
            return None
        celsius = _TO_C[a].replace("x", value)
        if b == "C":
            return celsius
        return _FROM_C[b].replace("x", f"({celsius})" if a != "C" else value)
    if source not in UNITS or target not in UNITS:
        return None
    (dim_a, size_a), (dim_b, size_b) = UNITS[source], UNITS[target]
    if dim_a != dim_b or source == target:
        return None
    if size_a >= size_b:
        factor = size_a / size_b
        return f"{value} * {_plain(factor)}"
    return f"{value} / {_plain(size_b / size_a)}"


def _plain(x: float) -> str:
    rounded = round(x, 9)
    return str(int(rounded)) if rounded == int(rounded) else repr(rounded)


def conversion_expression(question: str) -> Optional[str]:
    """A conversion the question asks for, as a calculator expression, or None."""
    text = question.lower()
    m = _FORWARD.search(text)
    if m:
        found = convert(_number(m.group(1)), m.group(2), m.group(3))
        if found:
            return found
    m = _ASKED_FIRST.search(text)
    if m:
        return convert(_number(m.group(2) or "1"), m.group(3), m.group(1))
    return None
