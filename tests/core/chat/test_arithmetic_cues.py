"""Which questions the app treats as asking for a computation: a lookup
question must never send made-up arithmetic to the calculator."""

import pytest

from desktop_app.core.chat.wordproblem import asks_to_compute as asks_for_computation


@pytest.mark.parametrize("question", [
    "What does the walrus operator mean?",
    "What does it mean when a function returns None?",
    "Who wrote the Python tutorial?",
])
def test_lookup_questions_are_not_computations(question):
    assert not asks_for_computation(question)


@pytest.mark.parametrize("question", [
    "What is the mean of 3, 5 and 10?",
    "What is the mean nitrate concentration of the four sites?",
    "What is the total of the invoice including tax?",
    "What is the average invoice amount?",
])
def test_questions_asking_to_combine_numbers_are_computations(question):
    assert asks_for_computation(question)
