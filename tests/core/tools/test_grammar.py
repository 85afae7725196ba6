"""The GBNF grammars, checked by llama.cpp itself and under real generation."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.tools import calculator
from desktop_app.core.tools.grammar import (
    Action, ActionParseError, action_grammar, expression_grammar, expression_prompt, generate_constrained,
    grounded_numbers, parse_action)

llama_cpp = pytest.importorskip("llama_cpp")

FEW_SHOT = """Q: What is 12 times 7?
A: {"tool": "calculator", "expression": "12 * 7"}
Q: Who wrote Hamlet?
A: {"answer": "Shakespeare"}
Q: What is 3 plus 4 squared?
A: {"tool": "calculator", "expression": "3 + 4^2"}
Q: %s
A: """


@pytest.fixture(scope="module")
def llm(default_llm):
    model = llama_cpp.Llama(model_path=str(default_llm), n_ctx=512, verbose=False, seed=1)
    yield model
    model.close()


def test_llama_cpp_accepts_both_grammars():
    for text in (action_grammar(), expression_grammar(), action_grammar(max_depth=1, max_terms=2)):
        assert llama_cpp.LlamaGrammar.from_string(text, verbose=False) is not None


def test_every_calculator_function_and_constant_is_in_the_grammar():
    grammar = expression_grammar()
    for name in list(calculator.FUNCTIONS) + list(calculator.CONSTANTS):
        assert f'"{name}"' in grammar


@pytest.mark.parametrize("text, expected", [
    ('{"tool": "calculator", "expression": "12 * 7"}',
     Action("tool", tool="calculator", arguments={"expression": "12 * 7"})),
    ('{"answer": "Shakespeare wrote it \\"twice\\""}', Action("answer", answer='Shakespeare wrote it "twice"')),
    ('A: {"answer":"x"} trailing words', Action("answer", answer="x")),
    ('{"tool": "calculator", "arguments": {"expression": "1+1"}}',
     Action("tool", tool="calculator", arguments={"expression": "1+1"})),
    # cut off by max_tokens: closed here, flagged
    ('{"answer": "The total is 4', Action("answer", answer="The total is 4", truncated=True)),
    ('{"answer": "ends in an escape \\', Action("answer", answer="ends in an escape ", truncated=True)),
    ('{"answer": "half a \\u00', Action("answer", answer="half a ", truncated=True)),
    ('{"tool": "calculator", "expression": "(3+4)*1',
     Action("tool", tool="calculator", arguments={"expression": "(3+4)*1"}, truncated=True)),
    ('{"answer": ', Action("answer", answer="", truncated=True)),
    ('{"tool": "calculator",', Action("tool", tool="calculator", arguments={}, truncated=True)),
    ('{"tool": "calculator", "expre', Action("tool", tool="calculator", arguments={}, truncated=True)),
])
def test_parse_action(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2]", '{"foo": 1}', '{"tool": 3}', "{"])
def test_parse_action_rejects_non_actions(text):
    with pytest.raises(ActionParseError):
        parse_action(text)


def test_real_generation_under_the_action_grammar_parses_and_runs(llm):
    text = generate_constrained(llm, FEW_SHOT % "How much is 1234 * 5678?", action_grammar(), max_tokens=40)
    json.loads(text)  # complete and valid JSON, no repair needed
    action = parse_action(text)
    assert not action.truncated
    if action.is_tool_call:
        assert action.tool == "calculator"
        calculator.parse(action.expression)  # the grammar only admits calculator syntax
    else:
        assert isinstance(action.answer, str)


def test_same_output_as_llama_cpp_own_grammar_sampling(llm):
    prompt = FEW_SHOT % "What is 9 minus 4?"
    ours = generate_constrained(llm, prompt, action_grammar(), max_tokens=10)
    grammar = llama_cpp.LlamaGrammar.from_string(action_grammar(), verbose=False)
    theirs = llm(prompt, max_tokens=10, grammar=grammar, temperature=0.0)["choices"][0]["text"]
    assert ours == theirs
    assert parse_action(ours).kind in ("tool", "answer")  # cut off at 10 tokens, still an action


def test_real_generation_under_the_expression_grammar_parses(llm):
    text = generate_constrained(llm, "Write 5 times 6 plus 2 as an arithmetic expression: ",
                                expression_grammar(max_terms=4), max_tokens=48)
    assert text.endswith("\n"), "the grammar's newline should have ended generation"
    calculator.parse(text.strip())


def test_few_shot_expression_prompt_with_stop_gives_a_calculator_expression(llm):
    prompt = expression_prompt("A ticket costs $7.50. How much do 6 tickets cost?")
    assert prompt.endswith("Expression: ")
    text = generate_constrained(llm, prompt, expression_grammar(), max_tokens=24, stop=("\n",))
    assert "\n" not in text
    result = calculator.evaluate(text.strip())  # parses; the weak model's choice of numbers may vary
    assert result.text


def test_constrained_generation_honours_cancel(llm):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        generate_constrained(llm, "1 + 1 = ", expression_grammar(), max_tokens=8, token=token)


def test_grounded_numbers_are_the_quantities_in_the_text():
    text = "A $240 jacket, 25% off, was 1,290.50 in FY2027 (quote Q-2026-0417, 2026-11-09). Buy 3."
    assert grounded_numbers(text, extra=()) == ["240", "25", "1290.50", "3"]
    assert grounded_numbers("no numbers") == ["2", "100"]
    assert grounded_numbers("Four friends split $156", extra=()) == ["4", "156"]


def test_restricted_number_grammar_only_admits_the_given_numbers(llm):
    numbers = ["12.50", "4"]
    grammar = expression_grammar(numbers=numbers)
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None
    prompt = expression_prompt("A pizza costs $12.50. How much do 4 pizzas cost?")
    text = generate_constrained(llm, prompt, grammar, max_tokens=16, stop=("\n",)).strip()
    calculator.parse(text)
    import re
    assert set(re.findall(r"\d+(?:\.\d+)?", text)) <= set(numbers), text
    with pytest.raises(ValueError):
        expression_grammar(numbers=["1e5"])
