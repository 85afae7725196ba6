"""What an answer says when a number had to be worked out.

The answer never contradicts or ignores the calculator (issue 10):

- a result is stated unchanged, with the expression that produced it, in
  Hearth's own words (a small model writing around a number garbles it or
  mislabels it: "Jessica buys 250 shoes" for a 25% share);
- a calculator error *is* the answer ("The calculator cannot work out
  1 / 0: division by zero."), never papered over by generated text;
- a word problem Hearth could not verify gets no number at all, and a plain
  sentence about what could not be worked out and what would help.

The abstention text states no digit on purpose: nothing in it can be read as
a result.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

NOT_WORKED_OUT = (
    "I could not work out a number I can vouch for, so I give none: the model in use could not "
    "turn this question into arithmetic that checks out. A larger model, which you can pick on "
    "the Models page, handles word problems like this one.")


NOT_IN_DOCUMENTS = (
    "Your documents do not state the number this answer needs, and I could not work it out "
    "from them, so I give none. The passage that seems closest is cited.")


def invented_numbers(answer: str, passages: Sequence[str], question: str) -> set:
    """Numbers a generated answer states that neither the passages nor the
    question state: the model made them up (or computed them unchecked)."""
    from desktop_app.core.chat.wordproblem import numbers_in

    stated = numbers_in(question)
    for text in passages:
        stated |= numbers_in(text)
    return numbers_in(re.sub(r"\[\d+(?:,\s*\d+)*\]", " ", answer)) - stated


def error_message(output: str) -> str:
    """The calculator's message without the tool protocol's "error: " prefix."""
    return output[len("error:"):].strip() if output.startswith("error:") else output.strip()


def error_text(call: Mapping) -> str:
    return f"The calculator cannot work out {call['input']}: {error_message(call['output'])}."


def result_text(call: Mapping, cited: Sequence[int] = ()) -> str:
    marks = "".join(f" [{n}]" for n in cited)
    return f"The calculator worked out {call['input']} = {call['output']}{marks}."


def final_text(model_text: str, calls: Sequence[Mapping]) -> str:
    """A capable model's answer after its own tool calls: when the last call
    failed the error is the answer; when it succeeded, the model's text must
    state that result unchanged, or Hearth states it instead."""
    if not calls:
        return model_text
    last = calls[-1]
    if not last["ok"]:
        return error_text(last)
    stated = re.sub(r"(?<=\d),(?=\d{3}\b)", "", model_text)
    if re.search(rf"(?<![\d.]){re.escape(last['output'])}(?![\d])", stated):
        return model_text
    return result_text(last)


def is_own_text(text: str) -> bool:
    """Is ``text`` one of the statements above (to be shown as is)?"""
    return text in (NOT_WORKED_OUT, NOT_IN_DOCUMENTS) or text.startswith(("The calculator cannot work out ",
                                                      "The calculator worked out "))


def cited_sources(expression: str, question_numbers: set, sources: Sequence) -> list[int]:
    """Passages that supplied a number of ``expression`` the question did not state."""
    from desktop_app.core.chat.wordproblem import numbers_in

    needed = numbers_in(expression) - question_numbers
    return [s.n for s in sources if needed & numbers_in(s.text)]
