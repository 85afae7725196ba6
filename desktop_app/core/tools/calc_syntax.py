"""The calculator's syntax: tokens, syntax tree, parser, and rendering back to text.

A small recursive-descent parser; nothing here evaluates. The text is
first normalized (Unicode ``× · ÷ − –`` become ``* * / - -``, a trailing
``=`` is dropped), then tokenized:

- numbers take thousands separators (groups of exactly three digits) except
  directly inside a function call's parentheses, where a comma always
  separates arguments;
- ``**`` is read as ``^``;
- ``%`` is the remainder operator when a number, name or ``(`` follows it,
  else a postfix percent sign.

Bounds: at most ``MAX_TOKENS`` numbers/operators/names (which bounds the
number of operations) and ``MAX_DEPTH`` levels of nesting; a number literal
may have at most ``MAX_DIGITS`` digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import List, Tuple

from desktop_app.core.tools.calc_arithmetic import MAX_DIGITS, CalculatorError
from desktop_app.core.tools.calc_functions import CONSTANTS, FUNCTIONS

MAX_TOKENS = 400
MAX_DEPTH = 40


# --------------------------------------------------------------------------
# Tokens

_UNICODE_OPERATORS = {
    "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "∕": "/",
    "−": "-", "–": "-", "＋": "+", "－": "-",
}


def normalize_text(expression: str) -> str:
    """``expression`` with ASCII operators and without a trailing "=", ready to tokenize."""
    text = "".join(_UNICODE_OPERATORS.get(ch, ch) for ch in expression)
    text = text.strip()
    if text.endswith("="):  # "2+2=" as typed on a calculator
        text = text[:-1].rstrip()
    return text


_OPERAND_START = set("0123456789.(_") | {chr(c) for c in range(ord("a"), ord("z") + 1)} \
    | {chr(c) for c in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True)
class Token:
    kind: str       # NUM NAME OP LPAREN RPAREN COMMA PERCENT BANG SUP END
    text: str
    pos: int        # 0-based index into the normalized text
    value: object = None


def _describe(token: Token) -> str:
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


def tokenize(text: str) -> List[Token]:
    tokens: List[Token] = []
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
            tokens.append(Token("NUM", literal, i, _number_value(literal, i)))
            i = end
        elif ch.isalpha() and ch.isascii() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() and text[j].isascii() or text[j] == "_"):
                j += 1
            tokens.append(Token("NAME", text[i:j], i))
            i = j
        elif ch == "(":
            parens.append("call" if tokens and tokens[-1].kind == "NAME" else "group")
            tokens.append(Token("LPAREN", ch, i))
            i += 1
        elif ch == ")":
            if parens:
                parens.pop()
            tokens.append(Token("RPAREN", ch, i))
            i += 1
        elif ch == ",":
            if not parens or parens[-1] != "call":
                raise CalculatorError(
                    f'unexpected "," at position {i + 1} (a thousands separator needs groups '
                    f'of three digits, like 1,234,567; commas otherwise only separate '
                    f'function arguments)', i + 1)
            tokens.append(Token("COMMA", ch, i))
            i += 1
        elif ch == "*" and text.startswith("**", i):
            tokens.append(Token("OP", "^", i))
            i += 2
        elif ch == "/" and text.startswith("//", i):
            tokens.append(Token("OP", "//", i))
            i += 2
        elif ch in "+-*/^":
            tokens.append(Token("OP", ch, i))
            i += 1
        elif ch == "%":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in _OPERAND_START:
                tokens.append(Token("OP", "%", i))
            else:
                tokens.append(Token("PERCENT", ch, i))
            i += 1
        elif ch == "!":
            tokens.append(Token("BANG", ch, i))
            i += 1
        elif ch in "²³":
            tokens.append(Token("SUP", ch, i, 2 if ch == "²" else 3))
            i += 1
        else:
            raise CalculatorError(f'unexpected character "{ch}" at position {i + 1}', i + 1)
    tokens.append(Token("END", "", n))
    return tokens


# --------------------------------------------------------------------------
# Syntax tree

@dataclass(frozen=True)
class Num:
    value: Fraction
    text: str


@dataclass(frozen=True)
class Const:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object
    pos: int


@dataclass(frozen=True)
class Percent:
    operand: object


@dataclass(frozen=True)
class Factorial:
    operand: object
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    pos: int


@dataclass(frozen=True)
class Group:
    inner: object


class Parser:
    def __init__(self, tokens: List[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
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
            left = Binary(op.text, left, self.term(), op.pos)
        return left

    def term(self):
        left = self.unary()
        while self.tok.kind == "OP" and self.tok.text in ("*", "/", "//", "%"):
            op = self.advance()
            left = Binary(op.text, left, self.unary(), op.pos)
        return left

    def unary(self):
        if self.tok.kind == "OP" and self.tok.text in "+-":
            op = self.advance()
            self.enter()
            node = Unary(op.text, self.unary())
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
            return Binary("^", base, exponent, op.pos)
        return base

    def postfix(self):
        node = self.primary()
        while self.tok.kind in ("PERCENT", "BANG", "SUP"):
            token = self.advance()
            if token.kind == "PERCENT":
                node = Percent(node)
            elif token.kind == "BANG":
                node = Factorial(node, token.pos)
            else:
                node = Binary("^", node, Num(Fraction(token.value), str(token.value)), token.pos)
        return node

    def primary(self):
        token = self.tok
        if token.kind == "NUM":
            self.advance()
            return Num(token.value, token.text)
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
                return Call(name, tuple(args), token.pos)
            if name in CONSTANTS:
                return Const(name)
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
            return Group(inner)
        self.unexpected()


def _unknown_name(token: Token) -> str:
    return (f'unknown name "{token.text}" at position {token.pos + 1} '
            f'(known: {", ".join(sorted(FUNCTIONS))}; constants {", ".join(sorted(CONSTANTS))})')


# --------------------------------------------------------------------------
# Rendering

def render(node) -> str:
    """The syntax tree written back as text, in the calculator's own spelling."""
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Const):
        return node.name
    if isinstance(node, Group):
        return f"({render(node.inner)})"
    if isinstance(node, Unary):
        return f"{node.op}{render(node.operand)}"
    if isinstance(node, Percent):
        return f"{render(node.operand)}%"
    if isinstance(node, Factorial):
        return f"{render(node.operand)}!"
    if isinstance(node, Binary):
        if node.op == "^":
            return f"{render(node.left)}^{render(node.right)}"
        return f"{render(node.left)} {node.op} {render(node.right)}"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(render(a) for a in node.args)})"
    raise AssertionError(node)
