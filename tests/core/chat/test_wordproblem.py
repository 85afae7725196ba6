"""Numbers Hearth works out: written arithmetic deterministically, word
problems only when the model's proposals agree, tool errors as the answer.

The engine tests run the real packaged model and the real calculator with
no library (a word problem needs none)."""

from __future__ import annotations

import pytest

from desktop_app.core.chat.calculation import NOT_WORKED_OUT
from desktop_app.core.chat.engine import ChatEngine, TokenStreamed, ToolCalled
from desktop_app.core.chat.wordproblem import asks_to_compute, propose, written_arithmetic
from desktop_app.core.settings import Settings
from desktop_app.core.tools.calculator import evaluate
from desktop_app.core.tools.registry import default_registry


@pytest.mark.parametrize("question, value", [
    ("What is 15% of 80?", "12"),
    ("how much is 2,500 minus 640", "1860"),
    ("Convert 100 degrees Celsius to Fahrenheit", "212"),
    ("what is 0 C in kelvin", "273.15"),
    ("What is 10 km in metres?", "10000"),
    ("How many ml are in 1.5 litres?", "1500"),
    ("3 hours in minutes", "180"),
    ("How many grams is 2 kg?", "2000"),
])
def test_arithmetic_written_in_the_question_is_read_deterministically(question, value):
    assert evaluate(written_arithmetic(question)).text == value


@pytest.mark.parametrize("question", [
    # arithmetic inside a word problem is one step of it, not the question
    "Mia had 3/4 of a 40 litre tank of water and used 9 litres. How much is left?",
    "A room is 4*5 metres and carpet costs 12 dollars a square metre. What does the carpet cost?",
    # units without a conversion asked for
    "I ran 5 km in 30 minutes. What was my pace?",
    "How many litres does the 300 litre barrel hold?",
])
def test_written_arithmetic_that_leaves_numbers_out_is_not_the_question(question):
    assert written_arithmetic(question) is None


def test_computation_questions_are_told_from_lookups():
    assert asks_to_compute("Tom buys 3 pens at 2 euros each. How much does he pay?")
    assert asks_to_compute("What is the total of the three invoices?")
    assert asks_to_compute("What would the rent be after a 5% rise?")
    assert not asks_to_compute("How many raised beds does the garden have?")
    assert not asks_to_compute("When is the shop open?")


class ScriptedWriter:
    """Stands in for the model to pin down the acceptance rule: it returns
    the given proposals in turn and records the sampling it was asked for."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.calls: list[tuple[float, int]] = []

    def __call__(self, prompt: str, grammar: str, temperature: float, seed: int) -> str:
        self.calls.append((temperature, seed))
        return self.texts.pop(0)


QUESTION = "A box holds 12 eggs. How many eggs are in 7 boxes?"


def test_agreeing_proposals_are_accepted():
    writer = ScriptedWriter("12 * 7", "7 * 12", "12*7", "7*12")
    assert propose(writer, QUESTION, samples=4).expression == "12 * 7"
    assert writer.calls[0] == (0.0, 0) and all(t > 0 for t, _ in writer.calls[1:])
    assert len({seed for _, seed in writer.calls}) == 4


@pytest.mark.parametrize("texts, reason", [
    (("12 * 7", "12 + 7"), "disagree"),
    (("12 * 2",), "leaves out"),
    (("84",), "no arithmetic"),       # a lone number, even one a passage states
    (("12 * 7 / (7 - 7)",), "does not run"),
])
def test_anything_less_than_agreement_is_refused(texts, reason):
    proposal = propose(ScriptedWriter(*texts, *["12 * 7"] * 4), QUESTION, samples=4)
    assert proposal.expression is None and reason in proposal.reason


@pytest.fixture(scope="module")
def bare_engine(llm):
    """No library: word problems and arithmetic need none."""
    return ChatEngine(None, llm, default_registry(),
                      Settings(context_length=2048, max_tokens=64, temperature=0.0))


def test_a_calculator_error_is_the_answer(bare_engine):
    events = []
    answer = bare_engine.ask("What is 1 divided by 0?", on_event=events.append)
    calls = [e for e in events if isinstance(e, ToolCalled)]
    assert len(calls) == 1 and not calls[0].ok
    assert answer.text == "The calculator cannot work out 1 / 0: division by zero."
    assert "".join(e.text for e in events if isinstance(e, TokenStreamed)) == answer.text


def test_a_negative_square_root_is_reported_not_answered(bare_engine):
    answer = bare_engine.ask("what is sqrt(-1)")
    assert answer.tool_calls[0]["ok"] is False
    assert answer.text.startswith("The calculator cannot work out sqrt(-1):")
    assert "no real square root" in answer.text


def test_a_result_is_stated_unchanged(bare_engine):
    answer = bare_engine.ask("What is 17.5% of 2,340?")
    assert answer.tool_calls == [{"tool": "calculator", "input": "17.5% * 2340", "output": "409.5", "ok": True}]
    assert answer.text == "The calculator worked out 17.5% * 2340 = 409.5."


def test_a_word_problem_the_model_cannot_verify_gets_no_number(bare_engine):
    # Several steps with a distractor: the 270M model's proposals do not
    # use every number consistently, so Hearth abstains instead of guessing.
    answer = bare_engine.ask("A library had 250 books. It lent out 38 on Monday and 45 on Tuesday, got 3 "
                             "boxes of 20 new books back on Wednesday, and 12 books were lost. How many "
                             "books does it have now?")
    assert answer.text == NOT_WORKED_OUT
    assert not answer.covered          # an abstention, not an answer
    assert not answer.tool_calls
    assert "Models page" in answer.text and not any(ch.isdigit() for ch in answer.text)


def test_a_number_no_passage_states_is_caught():
    from desktop_app.core.chat.calculation import invented_numbers

    passages = ["The hotel cap is 120 euros a night and the per diem is 45 euros a day."]
    question = "What can be claimed for 3 nights and 4 days?"
    assert invented_numbers("The claim is EUR 1,058 [1].", passages, question) == {1058.0}
    # Numbers the passages or the question state, in any format, are not invented.
    assert invented_numbers("The cap is 120 euros a night for 3 nights [1].", passages, question) == set()
    assert invented_numbers("It is forty-five euros a day [1].", passages, question) == set()
