"""Numbers Hearth works out for a model that cannot call tools: verified, or none.

One general mechanism, no question-specific rules:

1. **Arithmetic written in the question** ("what is 17.5% of 2,340?", "twelve
   times seven", "5 miles in km", "68 F to Celsius") is read deterministically
   (``tools.extract`` and ``tools.units``) and goes to the calculator as is,
   but only when the expression uses every number the question states: a
   number it leaves out means the written arithmetic is one step of a word
   problem, not the question.
2. **Any other question that asks to compute** (the cue table below, read on
   the question only; passages are data) is a word problem. The model
   proposes an expression under the calculator grammar whose number literals
   are only those of the question and of the retrieved passages' number
   sentences. It proposes several times (greedy, then sampled with other
   seeds); the result is accepted only when every proposal runs and all give
   the same value and the first proposal uses every number the question
   states. Otherwise Hearth abstains and says so: a confident wrong number is
   worse than none. Both thresholds were chosen by measurement on GSM8K
   training problems (bench/answers.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

from desktop_app.core.tools.calculator import CalculatorError, evaluate
from desktop_app.core.tools.extract import find_arithmetic, spell_out_number_words
from desktop_app.core.tools.grammar import expression_grammar, grounded_numbers
from desktop_app.core.tools.units import conversion_expression

log = logging.getLogger(__name__)

# Proposals per word problem (the first greedy) and the sampling temperature
# of the others: see the module docstring and bench/answers.py.
SAMPLES = 4
TEMPERATURE = 0.8
EXPRESSION_MAX_TOKENS = 40

# Scope: English questions. A question asks to compute when it combines
# quantities, or asks for a quantity while stating numbers of its own.
_COMBINE = re.compile(
    r"\b(total|sum|combined|altogether|in all|together|difference|more than|less than|fewer than|"
    r"remain(?:s|ing)?|left over|(?:are|is) left|average|(?:the|a) mean|times|twice|double|triple|half|"
    r"percent(?:age)?|increase|decrease|discount|ratio|split|divided|multipl\w*|subtract\w*|calculate|"
    r"compute)\b", re.I)
_QUANTITY = re.compile(r"\b(how (?:much|many|long|far|often|old)|cost|costs|price|pay|spend|earn|save|"
                       r"weigh|weight)\b", re.I)
# A quantity, not a name: numbers glued to letters or hyphens (FY2027,
# Q-2026-0417, 5th) are skipped, as the proposal grammar skips them.
_NUMBER = re.compile(r"(?<![\w.,-])(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?![\w-])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_OPERATOR = re.compile(r"[-+*/^%!]|[a-z]\(")


def numbers_in(text: str) -> set[float]:
    """The numbers ``text`` states, in digits or words ("four" is 4)."""
    return {float(m.group(1).replace(",", "")) for m in _NUMBER.finditer(spell_out_number_words(text))}


def _uses_all(expression: str, question: str) -> bool:
    return numbers_in(question) <= numbers_in(expression)


def written_arithmetic(question: str) -> Optional[str]:
    """The arithmetic the question itself writes out, or None."""
    expression = find_arithmetic(question) or conversion_expression(question)
    if expression and _uses_all(expression, question):
        return expression
    return None


_PERCENT = re.compile(r"\d\s*%")


def asks_to_compute(question: str) -> bool:
    """Does the question ask to work a number out (not look one up)? A
    percentage it states is one to apply."""
    return bool(_COMBINE.search(question) or _PERCENT.search(question)) or \
        (bool(_QUANTITY.search(question)) and bool(numbers_in(question)))


def number_sentences(texts: Iterable[str], question: str, limit: int = 6, max_chars: int = 300) -> list[str]:
    """Sentences of the passages that state numbers, those sharing most
    words with the question first: the evidence a proposal may draw on."""
    wanted = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", question)}
    scored = []
    for text in texts:
        for sentence in _SENTENCE.split(text):
            sentence = " ".join(sentence.split())[:max_chars]
            if sentence and _NUMBER.search(sentence):
                words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", sentence)}
                scored.append((-len(words & wanted), len(scored), sentence))
    return list(dict.fromkeys(s for _, _, s in sorted(scored)))[:limit]


# The default model is a base model: it continues worked examples. These are
# written for Hearth (everyday, one to three steps), not taken from any set.
PROPOSAL_HEADER = (
    "Write one arithmetic expression that answers the question, using only numbers from the "
    "facts and the question.\n\n"
    "Facts: none\n"
    "Question: A baker fills 7 trays with 12 rolls each and burns 5 rolls. How many good rolls are there?\n"
    "Expression: 7 * 12 - 5\n\n"
    "Facts: A bus ticket costs 2.80 euros.\n"
    "Question: What do 5 bus tickets cost?\n"
    "Expression: 5 * 2.80\n\n"
    "Facts: none\n"
    "Question: A 36 metre rope is cut into 4 equal pieces. How long is one piece?\n"
    "Expression: 36 / 4\n\n"
    "Facts: none\n"
    "Question: Sam swims 300 metres on Monday and twice that on Friday. How far does he swim on both days?\n"
    "Expression: 300 + 2 * 300\n\n"
    "Facts: none\n"
    "Question: A coat sells for 80 dollars with 15% off. What is the new price?\n"
    "Expression: 80 - 80 * 15 / 100\n\n"
    "Facts: The repair takes 3 hours. The mechanic charges 45 euros an hour. The garage opens at 8.\n"
    "Question: What does the repair cost with a 30 euro spare part?\n"
    "Expression: 3 * 45 + 30\n\n")


@dataclass(frozen=True)
class Proposal:
    """The outcome of working a word problem: an expression to run, or why not.

    ``looked_up`` holds the number of a greedy proposal that was one number
    the question or the passages state, with no arithmetic: the model read
    the question as a look-up of that number."""
    expression: Optional[str]
    reason: str = ""             # why there is none (for the log and the bench)
    looked_up: frozenset = frozenset()


# write(prompt, grammar, temperature, seed) -> the model's text (the engine's session)
Writer = Callable[[str, str, float, int], str]


def propose(write: Writer, question: str, passages: Sequence[str] = (), *,
            samples: int = SAMPLES, temperature: float = TEMPERATURE) -> Proposal:
    """An expression for the word problem ``question`` that the model
    proposed consistently, or a Proposal without one."""
    facts = number_sentences(passages, question)
    literals = grounded_numbers(question, *facts)
    grammar = expression_grammar(numbers=literals).replace("root ::= expr0", 'root ::= " "? expr0', 1)
    prompt = (PROPOSAL_HEADER + f"Facts: {' '.join(facts) or 'none'}\n"
              f"Question: {' '.join(question.split())}\nExpression:")
    values = []
    first = None
    for i in range(samples):
        text = write(prompt, grammar, 0.0 if i == 0 else temperature, i).strip()
        if not text:
            return Proposal(None, "the model wrote no expression")
        if i == 0:
            first = text
            if not _OPERATOR.search(text):
                # No arithmetic to do: the calculator has nothing to vouch
                # for. A number the question or the passages state marks a
                # look-up, which the engine leaves to the checked document
                # answer (a quote or a supported sentence), never shown here.
                copied = numbers_in(text)
                stated = numbers_in(question + " " + " ".join(passages))
                return Proposal(None, f"no arithmetic in {text!r}",
                                looked_up=frozenset(copied if copied <= stated else ()))
            if not _uses_all(text, question):
                return Proposal(None, f"{text!r} leaves out numbers the question states")
            stated = numbers_in(question + " " + " ".join(facts))
            if sum(float(n.replace(",", "")) in stated for n in _NUMBER.findall(text)) < 2:
                return Proposal(None, f"{text!r} does not combine two stated numbers")
        try:
            values.append(evaluate(text).value)
        except CalculatorError as exc:
            return Proposal(None, f"{text!r} does not run: {exc.message}")
        if values[-1] != values[0]:
            return Proposal(None, f"proposals disagree ({first!r}, then {text!r})")
    return Proposal(first)
