"""GBNF grammars for llama.cpp constrained decoding, and their parser.

Two grammars, generated from the calculator's own tables so they cannot
drift apart:

- ``action_grammar()``: one JSON object, either
  ``{"tool": "calculator", "expression": "..."}`` or ``{"answer": "..."}``.
  Whitespace is at most one space where JSON allows it (an unbounded
  whitespace rule lets small models loop on newlines), and the answer string
  admits exactly JSON's escapes, so a complete output always parses with
  ``json.loads``.
- ``expression_grammar()``: just a calculator expression.

The expression rule is a subset of what ``calculator.parse`` accepts: numbers
without thousands separators, ``+ - * / ^``, a postfix ``%`` or ``!``, a
sign only at the start of an expression (so after ``(`` or ``,`` too:
``2 * (-3)``), constants, and calls of the calculator's functions. Nesting is
limited to ``max_depth`` levels by unrolling the rules, which keeps every
output inside the calculator's depth limit.

A generation cut off by ``max_tokens`` is still a prefix of a valid document;
``parse_action`` closes it, so the caller always gets an ``Action``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from desktop_app.core.tools.calc_functions import CONSTANTS, FUNCTIONS

log = logging.getLogger(__name__)

CALCULATOR_TOOL = "calculator"


_NUMBER_LITERAL = re.compile(r"\d+(?:\.\d+)?")


def grounded_numbers(*texts: str, extra: Sequence[str] = ("2", "100")) -> list:
    """The numbers written in ``texts`` (thousands separators removed), plus ``extra``.

    For ``expression_grammar(numbers=...)``. ``extra`` holds constants that
    word problems use without writing them (halves, percent conversions).
    Number words count ("four friends" gives 4). Numbers glued to letters or
    hyphens (FY2027, Q-2026-0417) are skipped: they are names, not quantities.
    """
    from desktop_app.core.tools.extract import spell_out_number_words

    found = []
    for text in texts:
        text = spell_out_number_words(text)  # "Four friends" is a 4
        for match in re.finditer(r"(?<![\w.-])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w-])|(?<![\w.,-])\d+(?:\.\d+)?(?![\w-])",
                                 text):
            found.append(match.group(0).replace(",", ""))
    seen = dict.fromkeys(found + list(extra))
    return [n for n in seen if _NUMBER_LITERAL.fullmatch(n)]


class ActionParseError(ValueError):
    """The text is not an action (it did not come from the action grammar)."""


def _literal(text: str) -> str:
    return json.dumps(text)  # a GBNF string literal uses the same escapes


def _number_rule(numbers: Optional[Sequence[str]]) -> str:
    if numbers is None:
        # Digits are bounded so a looping model cannot build a 4000-digit literal.
        return 'number ::= [0-9]{1,15} ("." [0-9]{1,10})? ("e" "-"? [0-9]{1,3})?'
    literals = sorted({str(n) for n in numbers}, key=lambda n: (-len(n), n))
    if not literals or not all(_NUMBER_LITERAL.fullmatch(n) for n in literals):
        raise ValueError("numbers must be plain decimal literals like 12 or 3.5")
    return "number ::= " + " | ".join(_literal(n) for n in literals)


def _expression_rules(max_depth: int, max_terms: int, max_args: int,
                      numbers: Optional[Sequence[str]] = None) -> str:
    functions = " | ".join(_literal(name) for name in sorted(FUNCTIONS, key=lambda n: (-len(n), n)))
    constants = " | ".join(_literal(name) for name in sorted(CONSTANTS, key=lambda n: (-len(n), n)))
    lines = [
        _number_rule(numbers),
        f"function ::= {functions}",
        f"constant ::= {constants}",
        'binop ::= "+" | "-" | "*" | "/" | "^"',
        'postfix ::= "%" | "!"',
        'sp ::= " "?',
    ]
    for depth in range(max_depth + 1):
        atom = ["number", "constant"]
        if depth < max_depth:
            inner = f"expr{depth + 1}"
            atom.append(f'"(" {inner} ")"')
            atom.append(f'function "(" {inner} ("," sp {inner}){{0,{max_args - 1}}} ")"')
        lines.append(f"atom{depth} ::= " + " | ".join(atom))
        lines.append(f"term{depth} ::= atom{depth} postfix?")
        lines.append(f'expr{depth} ::= "-"? term{depth} (sp binop sp term{depth}){{0,{max_terms - 1}}}')
    return "\n".join(lines) + "\n"


def expression_grammar(max_depth: int = 3, max_terms: int = 8, max_args: int = 3,
                       numbers: Optional[Sequence[str]] = None) -> str:
    """GBNF for a bare calculator expression, ended by a newline.

    ``numbers``, when given, are the only number literals allowed (for
    example those of ``grounded_numbers(question, context)``): a weak model
    then cannot invent a number, only choose among the ones it was given.

    The newline gives a rambling model a way to finish; strip the output
    (or pass ``stop=["\\n"]``) before handing it to the calculator.
    """
    # One to three newlines: tokenizers have "\\n\\n" tokens, and a few-shot prompt
    # makes a blank line the natural end of an expression.
    return 'root ::= expr0 [\\n]{1,3}\n' + _expression_rules(max_depth, max_terms, max_args, numbers)


def action_grammar(max_depth: int = 3, max_terms: int = 8, max_args: int = 3) -> str:
    """GBNF for one action: a calculator call or a final answer, as JSON."""
    tool = _literal(f'"{CALCULATOR_TOOL}"')
    return (
        'root ::= "{" sp (call | answer) sp "}"\n'
        f'call ::= "\\"tool\\"" sp ":" sp {tool} sp "," sp "\\"expression\\"" sp ":" sp "\\"" expr0 "\\""\n'
        'answer ::= "\\"answer\\"" sp ":" sp "\\"" char* "\\""\n'
        'char ::= [^"\\\\\\x00-\\x1F\\x7F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})\n'
        + _expression_rules(max_depth, max_terms, max_args)
    )


@dataclass(frozen=True)
class Action:
    kind: str                                   # "tool" or "answer"
    tool: Optional[str] = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    answer: str = ""
    truncated: bool = False                     # the text was cut off and closed here

    @property
    def is_tool_call(self) -> bool:
        return self.kind == "tool"

    @property
    def expression(self) -> Optional[str]:
        value = self.arguments.get("expression")
        return None if value is None else str(value)


def _closings(text: str):
    """Ways to complete a cut-off prefix of a grammar document, most likely first."""
    if text.endswith("\\"):
        text = text[:-1]
    elif "\\u" in text[-5:]:
        text = text[:text.rindex("\\u")]  # a cut-off \\uXXXX escape
    yield text + '"}'
    yield text + "}"
    # cut inside a key or right after a separator: drop the unfinished member
    yield re.sub(r'(?:,\s*|(?<=\{)\s*)(?:"[^"]*"?\s*:?\s*)?$', "", text) + "}"
    for tail in ('": ""}', '":""}', ' ""}', '""}', ""):
        yield text + tail


def parse_action(text: str) -> Action:
    """Parse the action grammar's output (also a cut-off one).

    Tolerates text around the object, so it also reads a capable model's
    unconstrained JSON. Raises ``ActionParseError`` when there is no action.
    """
    start = text.find("{")
    if start < 0:
        raise ActionParseError("no JSON object in the model output")
    body = text[start:].strip()
    decoder = json.JSONDecoder()
    obj = None
    truncated = False
    try:
        obj, _ = decoder.raw_decode(body)
    except json.JSONDecodeError:
        for candidate in _closings(body):
            try:
                obj, _ = decoder.raw_decode(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and ("tool" in obj or "answer" in obj):
                truncated = True
                break
    if not isinstance(obj, dict):
        raise ActionParseError("the model output is not an action object")
    if "tool" in obj:
        tool = obj["tool"]
        if not isinstance(tool, str) or not tool:
            raise ActionParseError("the tool name must be text")
        arguments = obj.get("arguments")
        if not isinstance(arguments, dict):
            arguments = {k: v for k, v in obj.items() if k != "tool"}
        return Action("tool", tool=tool, arguments=arguments, truncated=truncated)
    if "answer" in obj:
        return Action("answer", answer=str(obj["answer"]), truncated=truncated)
    raise ActionParseError('the action has neither "tool" nor "answer"')


def generate_constrained(llm, prompt: str, grammar_text: str, *, max_tokens: int = 64, top_k: int = 40,
                         stop: Sequence[str] = (), token=None) -> str:
    """Greedy decoding of ``prompt`` under a GBNF grammar, fast on large vocabularies.

    llama-cpp-python's sampler chain runs the grammar over the whole
    vocabulary at every step (262k tokens for Gemma 3: seconds per token on
    a busy CPU). Greedy decoding only needs the best token the grammar
    allows, so the grammar is first applied to the ``top_k`` likeliest
    tokens and to the whole vocabulary only when none of them is allowed.
    The result is identical to greedy decoding over the full vocabulary.

    ``llm`` is a loaded ``llama_cpp.Llama`` (its state is reset);
    generation ends at the grammar's end, after ``max_tokens``, or when the
    text contains one of ``stop`` (the text is cut before it);
    ``token`` is an optional ``CancelToken`` checked before each token.
    """
    import ctypes

    import llama_cpp
    import numpy as np

    vocab = llm._model.vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar_text.encode("utf-8"), b"root")
    if not sampler:
        raise ValueError("the grammar could not be parsed by llama.cpp")
    n_vocab = llm.n_vocab()
    entry = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
    assert entry.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)

    def allowed_best(ids: "np.ndarray", logits: "np.ndarray") -> Optional[int]:
        buf = np.zeros(len(ids), dtype=entry)
        buf["id"] = ids
        buf["logit"] = logits
        array = llama_cpp.llama_token_data_array(
            data=buf.ctypes.data_as(llama_cpp.llama_token_data_p), size=len(ids), selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        kept = buf[: array.size]
        finite = np.isfinite(kept["logit"])
        if not finite.any():
            return None
        return int(kept["id"][np.flatnonzero(finite)[np.argmax(kept["logit"][finite])]])

    generated: list = []
    try:
        if token is not None:
            token.check()
        llm.reset()
        prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        if len(prompt_tokens) >= llm.n_ctx():
            raise ValueError("the prompt does not fit the model's context")
        llm.eval(prompt_tokens)
        for _ in range(max_tokens):
            if token is not None:
                token.check()
            if llm.n_tokens >= llm.n_ctx():
                break
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).copy()
            k = min(top_k, n_vocab)
            top = np.argpartition(-logits, k - 1)[:k]
            choice = allowed_best(top, logits[top])
            if choice is None:
                everything = np.arange(n_vocab, dtype=np.intc)
                choice = allowed_best(everything, logits)
            if choice is None or llama_cpp.llama_vocab_is_eog(vocab, choice):
                break
            llama_cpp.llama_sampler_accept(sampler, choice)
            generated.append(choice)
            if stop:
                text = llm.detokenize(generated).decode("utf-8", errors="ignore")
                cut = min((text.find(s) for s in stop if s in text), default=-1)
                if cut >= 0:
                    return text[:cut]
            llm.eval([choice])
    finally:
        llama_cpp.llama_sampler_free(sampler)
    return llm.detokenize(generated).decode("utf-8", errors="replace")


_EXPRESSION_EXAMPLES = (
    ("A book costs $8.20. How much do 3 books cost?", "8.20 * 3"),
    ("A class of 28 students is split into teams of 4. How many teams are there?", "28 / 4"),
    ("A $60 dinner plus a 20% tip. How much is paid?", "60 + 20%"),
    ("A fare rose from $50 to $54. What was the rise in percent?", "(54 - 50) / 50 * 100"),
    ("I ran 5.5 km on Monday and 7.25 km on Tuesday. How far did I run?", "5.5 + 7.25"),
)


def expression_prompt(question: str, context: str = "") -> str:
    """A few-shot completion prompt asking a base model for one expression.

    Use with ``expression_grammar()`` and ``stop=("\\n",)``. ``context`` (for
    example retrieved passages) goes before the question.

    Measured with the packaged Gemma 3 270M, greedy, November 2026, on
    bench/data/arithmetic_questions.jsonl: "word" questions 5 of 11 correct
    expressions (the same with ``grounded_numbers``); "library" questions
    with their whole document as context 0 of 14 (it copies one number or
    writes "100 + 8%"). A stated expression is better found by
    ``extract.find_arithmetic`` (15 of 15 "expression" questions).
    """
    lines = ["Write the arithmetic expression that answers the question, using the numbers given.", ""]
    for example, expression in _EXPRESSION_EXAMPLES:
        lines += [f"Question: {example}", f"Expression: {expression}", ""]
    if context.strip():
        lines += ["Document:", context.strip(), ""]
    lines += [f"Question: {question.strip()}", "Expression: "]
    return "\n".join(lines)
