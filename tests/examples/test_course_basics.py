"""The for-loop desugaring, the generator examples and ``cash_return_coro``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_cash_return
import course_generators
from course_for_loop import for_each
from course_range import Range2

# -- the for loop ------------------------------------------------------------------------


def texts_for_loop(iterable: Iterable[Any], body: Callable[[Any], object]) -> None:
    """The text's desugaring: the body inside the try."""
    iterator = iter(iterable)
    while True:
        try:
            value = next(iterator)
            body(value)
        except StopIteration:
            break


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers()) | st.text() | st.dictionaries(st.text(max_size=3), st.none()))
def test_for_each_visits_what_for_visits(iterable: Iterable[Any]) -> None:
    seen: list[Any] = []
    for_each(iterable, seen.append)
    assert seen == [value for value in iterable]


def test_a_stopiteration_from_the_body_propagates_as_with_for() -> None:
    def body(value: int) -> None:
        if value == 2:
            next(iter([]))  # a bug in the body: StopIteration escapes it

    with pytest.raises(StopIteration):
        for value in Range2(5):
            body(value)
    with pytest.raises(StopIteration):
        for_each(Range2(5), body)
    # The text's version swallowed it and quietly stopped early.
    seen: list[int] = []
    texts_for_loop(Range2(5), lambda v: (seen.append(v), body(v)))
    assert seen == [0, 1, 2]


def test_for_loop_script_prints_0_to_4(run_example: Any) -> None:
    out = run_example("course_for_loop.py", glassloop=False).stdout
    assert out == "0\n1\n2\n3\n4\nagain: [0, 1, 2, 3, 4]\n"


# -- generators ----------------------------------------------------------------------------


def test_simple_generator_returns_3_through_stopiteration() -> None:
    gen = course_generators.simple_generator()
    assert next(gen) == 1
    assert next(gen) == 2
    with pytest.raises(StopIteration) as info:
        next(gen)
    assert info.value.value == 3
    assert course_generators.exhaust(course_generators.simple_generator()) == ([1, 2], 3)


def test_yield_from_versions_agree_and_delegate_send() -> None:
    assert list(course_generators.func_loop()) == list(course_generators.func_yield_from())
    assert list(course_generators.func_yield_from()) == [1, 2, 3]
    results: list[int] = []
    d = course_generators.delegate(results)
    next(d)
    assert [d.send(n) for n in (5, 10)] == [5, 15]
    d.send(0)
    assert results == [15]


def test_generators_script_output(run_example: Any) -> None:
    lines = run_example("course_generators.py", glassloop=False).stdout.splitlines()
    assert lines[:3] == ["1", "2", "StopIteration: 3"]
    assert lines[3] == "exhaust(simple_generator()) -> [1, 2], returned 3"
    assert lines[4].startswith("<generator object ") and "<genexpr> at 0x" in lines[4]
    assert lines[5].endswith("same sum: True")
    assert lines[6] == "func_loop: [1, 2, 3], func_yield_from: [1, 2, 3]"
    assert lines[7] == "yield from passes send() through and returns: [15, 7]"


# -- cash_return_coro ------------------------------------------------------------------------

EXPECTED = [1276.28, 2552.56, 6381.41, 12762.82, 127628.16]  # 5 % a year for 5 years


def test_cash_return_answers_each_send(capsys: pytest.CaptureFixture[str]) -> None:
    coro = course_cash_return.cash_return_coro(5, 5)
    next(coro)
    assert [coro.send(v) for v in course_cash_return.VALUES] == EXPECTED
    assert capsys.readouterr().out == ""
    coro.close()
    assert capsys.readouterr().out == "Выход из корутины\n"
    with pytest.raises(StopIteration):
        coro.send(1)


def test_forgetting_next_no_longer_drops_deposits() -> None:
    # The text's two-yield protocol: a send() without the next() in between
    # delivers the deposit to the answering yield, which throws it away.
    original = course_cash_return.original_cash_return_coro(5, 5)
    next(original)
    assert original.send(1000) == 1276.28
    assert original.send(2000) is None  # dropped
    fixed = course_cash_return.cash_return_coro(5, 5)
    next(fixed)
    assert [fixed.send(1000), fixed.send(2000)] == [1276.28, 2552.56]


@pytest.mark.parametrize(("percent", "years"), [(0, 10), (10, 1), (3.5, 20)])
def test_cash_return_matches_the_formula(percent: float, years: int) -> None:
    coro = course_cash_return.cash_return_coro(percent, years)
    next(coro)
    for deposit in (1, 999.99, 10**6):
        assert coro.send(deposit) == round(deposit * (1 + percent / 100) ** years, 2)


def test_cash_return_script_output(run_example: Any) -> None:
    lines = run_example("course_cash_return.py", glassloop=False).stdout.splitlines()
    assert lines[:6] == [str(v) for v in EXPECTED] + ["Выход из корутины"]
    assert lines[-1] == f"the text's version agrees: {EXPECTED}"
