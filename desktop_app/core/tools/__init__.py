"""Tools the chat can call: the Tool protocol, the registry, the calculator.

- ``calculator.evaluate(text) -> CalcResult``: safe, exact arithmetic.
- ``registry.default_registry()``: the built-in tools (``Services.tools``).
- ``grammar``: GBNF grammars for choosing/writing a calculator call, and
  ``parse_action`` / ``generate_constrained`` for llama.cpp.
- ``extract.find_arithmetic(question)`` and ``units.conversion_expression``:
  arithmetic and conversions a question writes out (``chat/wordproblem.py``).
"""
