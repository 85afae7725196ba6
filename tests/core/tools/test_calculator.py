"""The calculator: exact results, the documented syntax, bounded work, clear errors."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from desktop_app.core.tools import calculator
from desktop_app.core.tools.calc_arithmetic import MAX_BITS
from desktop_app.core.tools.calculator import CalculatorError, evaluate


def text(expression: str) -> str:
    return evaluate(expression).text


@pytest.mark.parametrize("expression, expected", [
    ("0.1 + 0.2", "0.3"),
    ("1/3*3", "1"),
    ("10/4", "2.5"),
    ("1234 * 5678", "7006652"),
    ("2 + 3 * 4", "14"),
    ("(2 + 3) * 4", "20"),
    ("2 - 3 - 4", "-5"),            # left-associative
    ("100 / 10 / 2", "5"),
    ("2^10", "1024"),
    ("2**10", "1024"),
    ("2^3^2", "512"),               # right-associative
    ("-2^2", "-4"),                 # power binds tighter than unary minus
    ("(-2)^2", "4"),
    ("2^-1", "0.5"),
    ("--3", "3"),
    ("7 // 2", "3"),
    ("-7 // 2", "-4"),
    ("-7 % 3", "2"),
    ("10 % 3", "1"),
    ("2^100", "1267650600228229401496703205376"),
    ("1.5e3", "1500"),
    ("2.5E-3", "0.0025"),
    (".5 + .25", "0.75"),
    ("1,234,567 + 1", "1234568"),
    ("1,234.5 * 2", "2469"),
    ("3 × 4 ÷ 2 − 1", "5"),
    ("5!", "120"),
    ("3!^2", "36"),
    ("5²", "25"),
    ("2 + 2 =", "4"),
])
def test_exact_arithmetic_and_precedence(expression, expected):
    result = evaluate(expression)
    assert result.text == expected
    assert result.exact
    assert not isinstance(result.value, float)


def test_exact_values_have_exact_types():
    assert evaluate("1/3").value == Fraction(1, 3)
    assert isinstance(evaluate("6/3").value, int)
    assert evaluate("0.1 + 0.2").value == Fraction(3, 10)


@pytest.mark.parametrize("expression, expected", [
    ("15%", "0.15"),
    ("200 * 15%", "30"),
    ("17.5% * 2340", "409.5"),
    ("2340 * 17.5%", "409.5"),
    ("80 + 10%", "88"),             # relative to the left operand
    ("80 - 25%", "60"),
    ("80 + (10%)", "80.1"),         # parenthesized: the plain fraction
    ("50% + 50%", "0.75"),
    ("10%^2", "0.01"),
    ("200 * 15% + 5", "35"),
])
def test_percentages(expression, expected):
    assert text(expression) == expected


@pytest.mark.parametrize("expression, expected", [
    ("sqrt(16)", "4"),
    ("sqrt(2.25)", "1.5"),
    ("sqrt(2)", "1.4142135623731"),  # 1.41421356237310 to 15 digits
    ("cbrt(-27)", "-3"),
    ("(-8)^(1/3)", "-2"),
    ("4^0.5", "2"),
    ("log(1000)", "3"),              # base 10
    ("log(8, 2)", "3"),
    ("log2(1024)", "10"),
    ("log(2)", "0.301029995663981"),
    ("ln(1)", "0"),
    ("ln(e)", "1"),
    ("exp(0)", "1"),
    ("exp(1)", "2.71828182845905"),
    ("sin(pi)", "0"),
    ("cos(pi)", "-1"),
    ("sin(pi/6)", "0.5"),
    ("tan(pi/4)", "1"),
    ("sin(1e-20)", "1e-20"),         # tiny results near zero are kept
    ("abs(-3.5)", "3.5"),
    ("round(2.5)", "3"),             # halves away from zero
    ("round(-2.5)", "-3"),
    ("round(2.675, 2)", "2.68"),     # rounds the number as written
    ("round(1234.5678, -2)", "1200"),
    ("round(pi, 4)", "3.1416"),
    ("floor(-2.5)", "-3"),
    ("ceil(2.1)", "3"),
    ("min(3, 1, 2)", "1"),
    ("max(3, 1, 2)", "3"),
    ("max(1,234)", "234"),           # a comma inside a call separates arguments
    ("max((1,234), 5)", "1234"),     # ... unless in a group of its own
    ("factorial(20)", "2432902008176640000"),
    ("SQRT(16) + PI - pi", "4"),     # names are case-insensitive
    ("pi", "3.14159265358979"),
    ("e", "2.71828182845905"),
    ("tau / 2 - pi", "0"),
    ("2^0.5", "1.41421356237309"),
])
def test_functions_and_constants(expression, expected):
    assert text(expression) == expected


@pytest.mark.parametrize("value, expected", [
    (10 ** 30, "1000000000000000000000000000000"),
    (Fraction(1, 3), "0.333333333333333"),
    (Fraction(2, 3), "0.666666666666667"),
    (Fraction(1, 27), "0.037037037037037"),
    (Fraction(10 ** 20, 3), "3.33333333333333e19"),
    (Fraction(1, 3 * 10 ** 9), "3.33333333333333e-10"),
    (Fraction(1, 10 ** 7), "0.0000001"),
    (Fraction(-5, 4), "-1.25"),
    (Fraction(2 * 10 ** 20 + 1, 2), "100000000000000000000.5"),
    (Fraction(1, 2 ** 200), "6.22301527786114e-61"),
    (3.0, "3"),
    (-0.0, "0"),
    (1e20, "1e20"),
    (1.5e-7, "1.5e-7"),
    (0.1 + 0.2, "0.3"),
])
def test_formatting(value, expected):
    assert calculator.format_number(value) == expected


def test_exact_flag_says_whether_the_text_is_the_whole_truth():
    assert evaluate("1/4").exact
    assert not evaluate("1/3").exact
    assert not evaluate("sqrt(2)").exact


def test_big_integers_are_shown_in_full():
    result = evaluate("2^10000")
    assert len(result.text) == 3011 and result.text.startswith("19950631168")
    assert result.value == 2 ** 10000


def test_normalized_expression_reparses_to_the_same_value():
    for expression in ["1,234 × 2", "200*15%", "80+10%", "10 %3", "-2^-2", "max(1,234)", "5!", "(1+2)*3",
                       "2 ** 3 ** 2", "sqrt(16)+PI"]:
        first = evaluate(expression)
        again = evaluate(first.expression)
        assert again.value == first.value, expression
    assert evaluate("1,234 × 2").expression == "1234 * 2"


# --------------------------------------------------------------------------
# Bounds: refused before computing

@pytest.mark.timeout(5)
@pytest.mark.parametrize("expression", [
    "9**9**9**9",
    "9^9^9",
    "2^(10^10)",
    "10^4000",
    "(3/2)^100000",
    "factorial(100000)",
    "100000!",
    "(10^1000)!",
    "1e999999",
    "exp(100000)",
    "sqrt(2) * 10^400",
])
def test_huge_results_are_refused_instantly(expression):
    with pytest.raises(CalculatorError, match="too large"):
        evaluate(expression)


@pytest.mark.timeout(5)
def test_tiny_results_become_approximations_instead_of_huge_fractions():
    result = evaluate("(1/2)^(10^10)")
    assert result.value == 0.0 and not result.exact
    assert float(evaluate("(2/3)^20000").value) == 0.0


@pytest.mark.timeout(5)
def test_size_limits_on_the_expression():
    with pytest.raises(CalculatorError, match="too long"):
        evaluate("1+" * 600 + "1")
    with pytest.raises(CalculatorError, match="nested too deeply"):
        evaluate("(" * 60 + "1" + ")" * 60)
    with pytest.raises(CalculatorError, match="nested too deeply"):
        evaluate("-" * 100 + "1")
    with pytest.raises(CalculatorError, match="too long"):
        evaluate("1+1+" * 230 + "1")
    assert text("(" * 30 + "1" + ")" * 30) == "1"


# --------------------------------------------------------------------------
# Errors a user can make

@pytest.mark.parametrize("expression, message", [
    ("1/0", "division by zero"),
    ("5 // 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0^-1", "division by zero"),
    ("sqrt(-1)", "has no real square root"),
    ("(-4)^0.5", "not a real number"),
    ("log(0)", "only defined for positive numbers"),
    ("ln(-1)", "only defined for positive numbers"),
    ("log(8, 1)", "base"),
    ("asin(2)", "between -1 and 1"),
    ("tan(pi/2)", "undefined"),
    ("factorial(-1)", "non-negative"),
    ("factorial(2.5)", "whole number"),
    ("foo(2)", 'unknown name "foo"'),
    ("2 * bar", 'unknown name "bar" at position 5'),
    ("pi(2)", "constant, not a function"),
    ("sqrt 4", "parentheses"),
    ("sqrt(1, 2)", "sqrt takes 1 argument (got 2)"),
    ("round(1, 2, 3)", "round takes 1 to 2 arguments"),
    ("max()", "at least 1"),
    ("2 +", "ends too early"),
    ("(2 + 3", 'missing ")"'),
    ("2 + 3)", 'unmatched ")" at position 6'),
    ("2 3", 'missing operator before "3" at position 3'),
    ("2 $ 3", 'unexpected character "$" at position 3'),
    ("1,2345", "groups of three digits"),
    ("1, 234", "groups of three digits"),
    ("", "empty"),
    ("   ", "empty"),
    ("* 3", 'unexpected "*" at position 1'),
])
def test_errors_are_clear(expression, message):
    with pytest.raises(CalculatorError, match=re.escape(message)):
        evaluate(expression)


# --------------------------------------------------------------------------
# Never Python's eval

@pytest.mark.parametrize("expression", [
    "__import__('os').system('echo hi')",
    "__import__",
    "().__class__.__bases__",
    "(1).__class__",
    "lambda: 1",
    "open('/etc/passwd')",
    "eval('1+1')",
    "exec",
    "globals()",
    "x",
    "[1, 2]",
    "{1: 2}",
    "1 if 1 else 2",
    "1; 2",
    "a = 1",
    "f'{1}'",
    "0x10",
    "1_000",
    "True",
    "None",
    "sqrt.__doc__",
    "1 < 2",
])
def test_no_python_reaches_through(expression, monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("the calculator must never call eval/exec/compile")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", forbidden)
    with pytest.raises(CalculatorError):
        evaluate(expression)


def test_non_text_input_is_an_error():
    with pytest.raises(CalculatorError):
        evaluate(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Property: random expressions agree with Fraction arithmetic

def _random_expression(rng: random.Random, depth: int):
    """(text, exact value or None when it divides by zero)."""
    if depth == 0 or rng.random() < 0.3:
        kind = rng.random()
        if kind < 0.5:
            n = rng.randint(0, 2000)
            return str(n), Fraction(n)
        if kind < 0.8:
            whole, frac = rng.randint(0, 99), rng.randint(0, 999)
            literal = f"{whole}.{frac:03d}"
            return literal, Fraction(literal)
        n = rng.randint(1000, 9_999_999)
        return f"{n:,}", Fraction(n)
    op = rng.choice(["+", "-", "*", "/", "^", "neg", "group"])
    left_text, left = _random_expression(rng, depth - 1)
    if op == "neg":
        return f"-({left_text})", None if left is None else -left
    if op == "group":
        return f"({left_text})", left
    if op == "^":
        exponent = rng.randint(-3, 4)
        if left is None or (left == 0 and exponent < 0):
            return f"({left_text})^({exponent})", None
        return f"({left_text})^({exponent})", left ** exponent
    right_text, right = _random_expression(rng, depth - 1)
    textual = f"({left_text}) {op} ({right_text})"
    if left is None or right is None:
        return textual, None
    if op == "+":
        return textual, left + right
    if op == "-":
        return textual, left - right
    if op == "*":
        return textual, left * right
    if right == 0:
        return textual, None
    return textual, left / right


def test_random_expressions_match_fraction_arithmetic():
    rng = random.Random(1234)
    checked = zero_divisions = 0
    for _ in range(400):
        expression, expected = _random_expression(rng, 4)
        if expected is None:
            with pytest.raises(CalculatorError, match="division by zero"):
                evaluate(expression)
            zero_divisions += 1
            continue
        if max(expected.numerator.bit_length(), expected.denominator.bit_length()) > MAX_BITS:
            continue
        result = evaluate(expression)
        assert result.value == expected, expression
        assert not isinstance(result.value, float)
        if result.exact:
            assert Fraction(result.text) == expected, expression
        checked += 1
    assert checked > 300
