"""Tools the chat can call: the Tool protocol, the registry, the calculator.

- ``calculator.evaluate(text) -> CalcResult``: safe, exact arithmetic.
  Its parts: ``calc_syntax`` (tokens, parser), ``calc_arithmetic`` (exact,
  bounded arithmetic), ``calc_functions`` (functions, constants),
  ``calc_format`` (how a result is written).
- ``registry.default_registry()``: the built-in tools (``Services.tools``).
- ``grammar``: GBNF grammars for choosing/writing a calculator call, and
  ``parse_action`` / ``generate_constrained`` for llama.cpp.
- ``extract.find_arithmetic(question)`` and ``units.conversion_expression``:
  arithmetic and conversions a question writes out (``chat/wordproblem.py``).
"""
