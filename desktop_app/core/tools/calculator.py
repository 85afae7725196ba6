"""A safe arithmetic evaluator: the calculator tool's engine.

Never Python's ``eval``: the text is tokenized and parsed here by a small
recursive-descent parser, and only the node types below are evaluated. Nothing
in an expression can reach a Python name, attribute, call or import.

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
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Callable, List, Optional, Tuple, Union

log = logging.getLogger(__name__)

Number = Union[int, Fraction, float]

MAX_EXPRESSION_CHARS = 1000
MAX_TOKENS = 400
MAX_DEPTH = 40
MAX_DIGITS = 4000  # below CPython's 4300-digit int->str limit
MAX_BITS = int(MAX_DIGITS * math.log2(10))
MAX_ROOT_DEGREE = 64
SIGNIFICANT_DIGITS = 15


class CalculatorError(ValueError):
    """A user-facing problem with an expression. ``message`` is for the user."""

    def __init__(self, message: str, position: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position  # 1-based character position, when known


@dataclass(frozen=True)
class CalcResult:
    value: Number          # int or Fraction when exact, float when approximate
    text: str              # the value formatted for people (and for models)
    expression: str        # the expression as understood, normalized
    exact: bool            # True when ``text`` is exactly ``value``

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------
# Tokens

_UNICODE_OPERATORS = {
    "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "∕": "/",
    "−": "-", "–": "-", "＋": "+", "－": "-",
}
_OPERAND_START = set("0123456789.(_") | {chr(c) for c in range(ord("a"), ord("z") + 1)} \
    | {chr(c) for c in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True)
class _Token:
    kind: str       # NUM NAME OP LPAREN RPAREN COMMA PERCENT BANG SUP END
    text: str
    pos: int        # 0-based index into the normalized text
    value: object = None


def _describe(token: _Token) -> str:
    return "end of expression" if token.kind == "END" else f'"{token.text}"'


def _scan_digits(text: str, i: int) -> int:
    while i < len(text) and text[i].isdigit() and text[i].isascii():
        i += 1
    return i


def _scan_number(text: str, start: int, grouping_allowed: bool) -> Tuple[int, str]:
    """Return (end, literal without separators) of the number at ``start``."""
    i = _scan_digits(text, start)
    literal = text[start:i]
    # Thousands groups: 1-3 leading digits, then ",ddd" groups not followed by a digit.
    if grouping_allowed and 1 <= i - start <= 3:
        j = i
        groups = []
        while j + 4 <= len(text) and text[j] == "," and text[j + 1:j + 4].isdigit() \
                and text[j + 1:j + 4].isascii() \
                and not (j + 4 < len(text) and text[j + 4].isdigit()):
            groups.append(text[j + 1:j + 4])
            j += 4
        if groups:
            literal += "".join(groups)
            i = j
    if i < len(text) and text[i] == ".":
        k = _scan_digits(text, i + 1)
        if k == i + 1 and i == start:
            raise CalculatorError(f'unexpected "." at position {start + 1}', start + 1)
        literal += text[i:k]
        i = k
    if i < len(text) and text[i] in "eE":
        k = i + 1
        if k < len(text) and text[k] in "+-":
            k += 1
        m = _scan_digits(text, k)
        if m > k:  # only an exponent when digits follow; "2e" is 2 then e
            literal += text[i:m]
            i = m
    return i, literal


def _number_value(literal: str, pos: int) -> Fraction:
    mantissa, _, exponent = literal.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_DIGITS:
        raise CalculatorError(f"number {literal} at position {pos + 1} is too large "
                              f"(at most {MAX_DIGITS} digits)", pos + 1)
    if len(mantissa.replace(".", "").lstrip("0")) > MAX_DIGITS:
        raise CalculatorError(f"number at position {pos + 1} is too long", pos + 1)
    return Fraction(literal)


def _tokenize(text: str) -> List[_Token]:
    tokens: List[_Token] = []
    parens: List[str] = []  # "call" or "group": decides what a comma means
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if len(tokens) >= MAX_TOKENS:
            raise CalculatorError(f"expression is too long (more than {MAX_TOKENS} parts)")
        if (ch.isdigit() and ch.isascii()) or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            grouping = not parens or parens[-1] == "group"
            end, literal = _scan_number(text, i, grouping)
            tokens.append(_Token("NUM", literal, i, _number_value(literal, i)))
            i = end
        elif ch.isalpha() and ch.isascii() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() and text[j].isascii() or text[j] == "_"):
                j += 1
            tokens.append(_Token("NAME", text[i:j], i))
            i = j
        elif ch == "(":
            parens.append("call" if tokens and tokens[-1].kind == "NAME" else "group")
            tokens.append(_Token("LPAREN", ch, i))
            i += 1
        elif ch == ")":
            if parens:
                parens.pop()
            tokens.append(_Token("RPAREN", ch, i))
            i += 1
        elif ch == ",":
            if not parens or parens[-1] != "call":
                raise CalculatorError(
                    f'unexpected "," at position {i + 1} (a thousands separator needs groups '
                    f'of three digits, like 1,234,567; commas otherwise only separate '
                    f'function arguments)', i + 1)
            tokens.append(_Token("COMMA", ch, i))
            i += 1
        elif ch == "*" and text.startswith("**", i):
            tokens.append(_Token("OP", "^", i))
            i += 2
        elif ch == "/" and text.startswith("//", i):
            tokens.append(_Token("OP", "//", i))
            i += 2
        elif ch in "+-*/^":
            tokens.append(_Token("OP", ch, i))
            i += 1
        elif ch == "%":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in _OPERAND_START:
                tokens.append(_Token("OP", "%", i))
            else:
                tokens.append(_Token("PERCENT", ch, i))
            i += 1
        elif ch == "!":
            tokens.append(_Token("BANG", ch, i))
            i += 1
        elif ch in "²³":
            tokens.append(_Token("SUP", ch, i, 2 if ch == "²" else 3))
            i += 1
        else:
            raise CalculatorError(f'unexpected character "{ch}" at position {i + 1}', i + 1)
    tokens.append(_Token("END", "", n))
    return tokens


# --------------------------------------------------------------------------
# Syntax tree

@dataclass(frozen=True)
class _Num:
    value: Fraction
    text: str


@dataclass(frozen=True)
class _Const:
    name: str


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: object


@dataclass(frozen=True)
class _Binary:
    op: str
    left: object
    right: object
    pos: int


@dataclass(frozen=True)
class _Percent:
    operand: object


@dataclass(frozen=True)
class _Factorial:
    operand: object
    pos: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple
    pos: int


@dataclass(frozen=True)
class _Group:
    inner: object


class _Parser:
    def __init__(self, tokens: List[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalculatorError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")

    def parse(self):
        if self.tok.kind == "END":
            raise CalculatorError("the expression is empty")
        node = self.expression()
        if self.tok.kind != "END":
            self.unexpected()
        return node

    def unexpected(self):
        token = self.tok
        where = f"at position {token.pos + 1}"
        if token.kind in ("NUM", "NAME", "LPAREN"):
            raise CalculatorError(f"missing operator before {_describe(token)} {where}", token.pos + 1)
        if token.kind == "RPAREN":
            raise CalculatorError(f'unmatched ")" {where}', token.pos + 1)
        if token.kind == "END":
            raise CalculatorError("the expression ends too early (missing a number or a \")\")",
                                  token.pos + 1)
        raise CalculatorError(f"unexpected {_describe(token)} {where}", token.pos + 1)

    def expression(self):
        left = self.term()
        while self.tok.kind == "OP" and self.tok.text in "+-":
            op = self.advance()
            left = _Binary(op.text, left, self.term(), op.pos)
        return left

    def term(self):
        left = self.unary()
        while self.tok.kind == "OP" and self.tok.text in ("*", "/", "//", "%"):
            op = self.advance()
            left = _Binary(op.text, left, self.unary(), op.pos)
        return left

    def unary(self):
        if self.tok.kind == "OP" and self.tok.text in "+-":
            op = self.advance()
            self.enter()
            node = _Unary(op.text, self.unary())
            self.depth -= 1
            return node
        return self.power()

    def power(self):
        base = self.postfix()
        if self.tok.kind == "OP" and self.tok.text == "^":
            op = self.advance()
            self.enter()
            exponent = self.unary()  # right-associative; allows 2^-1
            self.depth -= 1
            return _Binary("^", base, exponent, op.pos)
        return base

    def postfix(self):
        node = self.primary()
        while self.tok.kind in ("PERCENT", "BANG", "SUP"):
            token = self.advance()
            if token.kind == "PERCENT":
                node = _Percent(node)
            elif token.kind == "BANG":
                node = _Factorial(node, token.pos)
            else:
                node = _Binary("^", node, _Num(Fraction(token.value), str(token.value)), token.pos)
        return node

    def primary(self):
        token = self.tok
        if token.kind == "NUM":
            self.advance()
            return _Num(token.value, token.text)
        if token.kind == "NAME":
            self.advance()
            name = token.text.lower()
            if self.tok.kind == "LPAREN":
                if name not in FUNCTIONS:
                    if name in CONSTANTS:
                        raise CalculatorError(f'{name} is a constant, not a function '
                                              f'(position {token.pos + 1})', token.pos + 1)
                    raise CalculatorError(_unknown_name(token), token.pos + 1)
                self.advance()
                self.enter()
                args = []
                if self.tok.kind != "RPAREN":
                    args.append(self.expression())
                    while self.tok.kind == "COMMA":
                        self.advance()
                        args.append(self.expression())
                if self.tok.kind != "RPAREN":
                    if self.tok.kind == "END":
                        raise CalculatorError(f'missing ")" to close {name}( at position {token.pos + 1}',
                                              token.pos + 1)
                    self.unexpected()
                self.advance()
                self.depth -= 1
                return _Call(name, tuple(args), token.pos)
            if name in CONSTANTS:
                return _Const(name)
            if name in FUNCTIONS:
                raise CalculatorError(f"{name} needs its argument in parentheses, like {name}(2)",
                                      token.pos + 1)
            raise CalculatorError(_unknown_name(token), token.pos + 1)
        if token.kind == "LPAREN":
            self.advance()
            self.enter()
            inner = self.expression()
            if self.tok.kind != "RPAREN":
                if self.tok.kind == "END":
                    raise CalculatorError(f'missing ")" to close "(" at position {token.pos + 1}',
                                          token.pos + 1)
                self.unexpected()
            self.advance()
            self.depth -= 1
            return _Group(inner)
        self.unexpected()


def _unknown_name(token: _Token) -> str:
    return (f'unknown name "{token.text}" at position {token.pos + 1} '
            f'(known: {", ".join(sorted(FUNCTIONS))}; constants {", ".join(sorted(CONSTANTS))})')


# --------------------------------------------------------------------------
# Exact and approximate arithmetic

def _too_large() -> CalculatorError:
    return CalculatorError(f"result too large (more than {MAX_DIGITS} digits)")


def _checked(x: Number) -> Number:
    """Normalize a result and enforce the size bound."""
    if isinstance(x, float):
        if math.isinf(x):
            raise _too_large()
        if math.isnan(x):
            raise CalculatorError("the result is not a number")
        return x
    if isinstance(x, int):
        if x.bit_length() > MAX_BITS:
            raise _too_large()
        return x
    if x.denominator == 1:
        return _checked(x.numerator)
    nb, db = x.numerator.bit_length(), x.denominator.bit_length()
    if nb > MAX_BITS or db > MAX_BITS:
        if nb - db > MAX_BITS:
            raise _too_large()
        # Too many digits to keep exactly, but a sane size: approximate it.
        return _checked(_to_float(x))
    return x


def _to_float(x: Number) -> float:
    try:
        return float(x)
    except OverflowError:
        raise _too_large() from None


def _is_float(*values: Number) -> bool:
    return any(isinstance(v, float) for v in values)


def _ln_abs(x: Number) -> float:
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


def _exact_root(x: Fraction, k: int) -> Optional[Fraction]:
    """The exact real k-th root of x when it is rational, else None."""
    if x < 0:
        if k % 2 == 0:
            raise CalculatorError("an even root of a negative number is not a real number")
        root = _exact_root(-x, k)
        return -root if root is not None else None
    num, den = _iroot(x.numerator, k), _iroot(x.denominator, k)
    if num ** k == x.numerator and den ** k == x.denominator:
        return Fraction(num, den)
    return None


def _float_power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        raise _too_large() from None
    except ValueError:
        if base == 0:
            raise CalculatorError("division by zero (zero to a negative power)") from None
        raise CalculatorError("a negative number to a fractional power is not a real number") from None


def _power(base: Number, exponent: Number) -> Number:
    if _is_float(base, exponent):
        return _float_power(_to_float(base), _to_float(exponent))
    base, exponent = Fraction(base), Fraction(exponent)
    if exponent.denominator != 1:
        k = exponent.denominator
        if k <= MAX_ROOT_DEGREE:
            root = _exact_root(base, k)
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
    magnitude_bits = n * _ln_abs(base) / math.log(2)
    if magnitude_bits > MAX_BITS:
        raise _too_large()
    sign = -1.0 if base < 0 and n % 2 else 1.0
    return sign * _approx_power(abs(base), exponent)


def _approx_power(base: Fraction, exponent: Fraction) -> float:
    """base ** exponent as a float for base > 0, without overflowing early."""
    log_value = float(exponent) * _ln_abs(base)
    if log_value > 709.78:
        raise _too_large()
    return math.exp(log_value)


def _binary(op: str, a: Number, b: Number) -> Number:
    if op in ("/", "//", "%") and b == 0:
        raise CalculatorError("division by zero")
    if op == "^":
        return _power(a, b)
    if _is_float(a, b):
        a, b = _to_float(a), _to_float(b)
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


# --------------------------------------------------------------------------
# Functions and constants

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
        raise CalculatorError(f"a negative number ({_plain(x)}) has no real square root")
    if not isinstance(x, float):
        root = _exact_root(Fraction(x), 2)
        if root is not None:
            return root
        return math.exp(_ln_abs(x) / 2) if x > 1e300 else math.sqrt(float(x))
    return math.sqrt(x)


def _cbrt(x: Number) -> Number:
    if not isinstance(x, float):
        root = _exact_root(Fraction(x), 3)
        if root is not None:
            return root
    if x == 0:
        return 0
    return math.copysign(math.exp(_ln_abs(x) / 3), float(x))


def _log(x: Number, base: Number = 10) -> Number:
    if x <= 0:
        raise CalculatorError("log is only defined for positive numbers")
    if base <= 0 or base == 1:
        raise CalculatorError("the base of a log must be positive and not 1")
    result = _ln_abs(x) / _ln_abs(base)
    if not _is_float(x, base):
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
    return _ln_abs(x)


def _exp(x: Number) -> float:
    try:
        return math.exp(_to_float(x))
    except OverflowError:
        raise _too_large() from None


def _trig(fn: Callable[[float], float], name: str) -> Callable[[Number], float]:
    def apply(x: Number) -> float:
        xf = _to_float(x)
        if math.isinf(xf):
            raise _too_large()
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
        return fn(_to_float(x))
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


def _factorial(x: Number) -> int:
    n = _whole(x, "factorial")
    if n < 0:
        raise CalculatorError("factorial needs a non-negative whole number")
    if n > 2 and math.lgamma(n + 1) / math.log(10) > MAX_DIGITS:
        raise _too_large()
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
    "atan": (1, 1, lambda x: math.atan(_to_float(x)), "arc tangent"),
    "abs": (1, 1, _abs, "absolute value"),
    "round": (1, 2, _round, "round(x) or round(x, digits), halves away from zero"),
    "floor": (1, 1, _floor, "round down"),
    "ceil": (1, 1, _ceil, "round up"),
    "min": (1, None, _min, "smallest argument"),
    "max": (1, None, _max, "largest argument"),
    "factorial": (1, 1, _factorial, "n!"),
}

CONSTANTS: dict = {"pi": math.pi, "e": math.e, "tau": math.tau}


# --------------------------------------------------------------------------
# Evaluation

def _evaluate(node) -> Number:
    try:
        return _checked(_evaluate_node(node))
    except OverflowError:
        raise _too_large() from None
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None


def _evaluate_node(node) -> Number:
    if isinstance(node, _Num):
        return _checked(node.value)
    if isinstance(node, _Const):
        return CONSTANTS[node.name]
    if isinstance(node, _Group):
        return _evaluate(node.inner)
    if isinstance(node, _Unary):
        value = _evaluate(node.operand)
        return -value if node.op == "-" else value
    if isinstance(node, _Percent):
        value = _evaluate(node.operand)
        return value / 100 if isinstance(value, float) else Fraction(value, 100)
    if isinstance(node, _Factorial):
        return _factorial(_evaluate(node.operand))
    if isinstance(node, _Binary):
        left = _evaluate(node.left)
        if node.op in "+-" and isinstance(node.right, _Percent):
            # "80 + 10%" means 80 plus 10% of 80.
            share = _evaluate(node.right)
            return _binary("*", left, _binary(node.op, 1, share))
        return _binary(node.op, left, _evaluate(node.right))
    if isinstance(node, _Call):
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
# Rendering

def _render(node) -> str:
    if isinstance(node, _Num):
        return node.text
    if isinstance(node, _Const):
        return node.name
    if isinstance(node, _Group):
        return f"({_render(node.inner)})"
    if isinstance(node, _Unary):
        return f"{node.op}{_render(node.operand)}"
    if isinstance(node, _Percent):
        return f"{_render(node.operand)}%"
    if isinstance(node, _Factorial):
        return f"{_render(node.operand)}!"
    if isinstance(node, _Binary):
        if node.op == "^":
            return f"{_render(node.left)}^{_render(node.right)}"
        return f"{_render(node.left)} {node.op} {_render(node.right)}"
    if isinstance(node, _Call):
        return f"{node.name}({', '.join(_render(a) for a in node.args)})"
    raise AssertionError(node)


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


def _plain(value: Number) -> str:
    return format_number(value)


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


def _is_exact_text(value: Number, text: str) -> bool:
    if isinstance(value, float):
        return False
    try:
        return Fraction(text) == value
    except ValueError:
        return False


# --------------------------------------------------------------------------
# Public entry point

def _normalize(expression: str) -> str:
    text = "".join(_UNICODE_OPERATORS.get(ch, ch) for ch in expression)
    text = text.strip()
    if text.endswith("="):  # "2+2=" as typed on a calculator
        text = text[:-1].rstrip()
    return text


def parse(expression: str):
    """Parse into the private syntax tree (exposed for tests and tooling)."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression is too long (more than {MAX_EXPRESSION_CHARS} characters)")
    return _Parser(_tokenize(_normalize(expression))).parse()


def normalize(expression: str) -> str:
    """The expression as the calculator reads it (syntax only, nothing evaluated)."""
    return _render(parse(expression))


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
    return CalcResult(value=value, text=text, expression=_render(tree), exact=_is_exact_text(value, text))
