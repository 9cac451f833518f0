"""``Range``/``Range2`` behave like ``range(stop)``: property tests against the built-in."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_range import OriginalRange, OriginalRange2, Range, Range2

RANGES = [Range, Range2]
stops = st.integers(min_value=-20, max_value=300)
FAST = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("cls", [OriginalRange, OriginalRange2])
def test_the_texts_versions_are_one_shot(cls: Any) -> None:
    r = cls(5)
    assert list(r) == [0, 1, 2, 3, 4]
    assert list(r) == []  # the bug: the position lived in the container


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(stop=stops)
def test_iterates_like_range_and_again(cls: type[Range], stop: int) -> None:
    r = cls(stop)
    assert list(r) == list(range(stop))
    assert list(r) == list(range(stop))  # reusable
    assert [x for x in r] == list(range(stop))


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(stop=st.integers(min_value=0, max_value=30), split=st.integers(0, 30))
def test_two_loops_at_once_do_not_interfere(cls: type[Range], stop: int, split: int) -> None:
    r = cls(stop)
    first, second = iter(r), iter(r)
    head = [next(first) for _ in range(min(split, stop))]
    assert list(second) == list(range(stop))
    assert head + list(first) == list(range(stop))


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(stop=stops)
def test_len_bool_reversed(cls: type[Range], stop: int) -> None:
    r, builtin = cls(stop), range(stop)
    assert len(r) == len(builtin)
    assert bool(r) == bool(builtin)
    assert list(reversed(r)) == list(reversed(builtin))


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(
    stop=stops,
    value=st.one_of(
        st.integers(-400, 400),
        st.booleans(),
        st.floats(-400, 400, allow_nan=False),
        st.text(max_size=2),
        st.none(),
    ),
)
def test_in_index_count(cls: type[Range], stop: int, value: Any) -> None:
    r, builtin = cls(stop), range(stop)
    assert (value in r) == (value in builtin)
    assert r.count(value) == builtin.count(value)
    if value in builtin:
        assert r.index(value) == builtin.index(value)
    else:
        with pytest.raises(ValueError):
            r.index(value)


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(stop=stops, index=st.integers(-400, 400))
def test_indexing_including_negative(cls: type[Range], stop: int, index: int) -> None:
    r, builtin = cls(stop), range(stop)
    try:
        expected = builtin[index]
    except IndexError:
        with pytest.raises(IndexError):
            r[index]
    else:
        assert r[index] == expected


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(
    stop=stops,
    start=st.none() | st.integers(-50, 350),
    end=st.none() | st.integers(-50, 350),
    step=st.none() | st.integers(-5, 5).filter(bool),
)
def test_slicing(
    cls: type[Range], stop: int, start: int | None, end: int | None, step: int | None
) -> None:
    assert list(cls(stop)[start:end:step]) == list(range(stop)[start:end:step])


@pytest.mark.parametrize("cls", RANGES)
@FAST
@given(a=stops, b=stops)
def test_equality_and_hash(cls: type[Range], a: int, b: int) -> None:
    assert (cls(a) == cls(b)) == (range(a) == range(b))
    if cls(a) == cls(b):
        assert hash(cls(a)) == hash(cls(b))


@pytest.mark.parametrize("cls", RANGES)
@pytest.mark.parametrize("bad", [2.5, "3", None])
def test_non_integer_stop_is_a_type_error_like_range(cls: type[Range], bad: Any) -> None:
    with pytest.raises(TypeError):
        range(bad)
    with pytest.raises(TypeError):
        cls(bad)


@pytest.mark.parametrize("cls", RANGES)
def test_index_types_like_range(cls: type[Range]) -> None:
    with pytest.raises(TypeError):
        cls(5)["1"]  # type: ignore[call-overload]
    assert cls(5)[True] == range(5)[True]


def test_iterator_is_iterable_as_the_protocol_requires() -> None:
    it = iter(Range(3))
    assert iter(it) is it
    assert list(it) == [0, 1, 2]
    assert list(it) == []  # an iterator is one-shot; its container is not


def test_script_output(run_example: Any) -> None:
    out = run_example("course_range.py", glassloop=False).stdout.splitlines()
    assert out[0] == "OriginalRange(5): first loop [0, 1, 2, 3, 4], second loop []"
    assert out[2] == "Range(5): first loop [0, 1, 2, 3, 4], second loop [0, 1, 2, 3, 4]"
    assert out[3] == "Range2(5): first loop [0, 1, 2, 3, 4], second loop [0, 1, 2, 3, 4]"
