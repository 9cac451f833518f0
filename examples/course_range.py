"""The course text's ``Range`` and ``Range2``: the iterator protocol, fixed.

The text builds ``range(stop)`` by hand, twice.  Both versions kept the
iteration position in the *container* (``self.current``), so a ``Range`` can
be looped over exactly once: the second ``for`` finds it already exhausted and
yields nothing, and two loops over it at the same time steal each other's
values.  What was fixed:

* ``Range`` is a container; the position lives in the iterator that each
  ``iter()`` call makes, so every loop starts from 0 (the built-in ``range``
  works the same way: ``range`` versus ``range_iterator``);
* ``RangeIterator`` has ``__iter__`` returning itself: the protocol requires
  it, and without it ``for x in iter(Range(3))`` is a TypeError;
* ``Range2``, the text's "simplified" version, made the container its own
  iterator -- the very thing that made it one-shot.  The short version that
  stays reusable writes ``__iter__`` as a generator (the text's next topic):
  Python keeps the position in the generator's frame;
* both now behave like ``range(stop)``: ``len``, ``in``, ``reversed``,
  indexing (negative too) and slicing, equality, and a zero or negative stop
  (empty); a non-integer stop is a TypeError, as for ``range``.
  ``tests/examples/test_course_range.py`` checks this against the built-in
  with property-based tests.

``OriginalRange``/``OriginalRange2`` are the text's code, kept to show the bug.

    python examples/course_range.py
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any, overload


class Range(Sequence[int]):
    """``range(stop)`` by hand: the numbers ``0, 1, ..., stop - 1``."""

    def __init__(self, stop_value: int) -> None:
        # operator.index accepts ints and int-like objects but not 2.5 or "3",
        # with the same TypeError range() gives.
        self.stop_value = operator.index(stop_value)

    def __iter__(self) -> RangeIterator:
        return RangeIterator(len(self))

    def __len__(self) -> int:
        return max(self.stop_value, 0)

    def __contains__(self, value: object) -> bool:
        if type(value) is int or type(value) is bool:  # range's fast path
            return 0 <= value < self.stop_value
        # Anything else compares by ==, item by item, as range does (2.0 is in).
        return any(value == i for i in self)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> range: ...
    def __getitem__(self, index: int | slice) -> int | range:
        if isinstance(index, slice):
            # A slice of 0..n-1 is in general a stepped range, which a
            # one-argument Range cannot express; range can.
            return range(len(self))[index]
        i = operator.index(index)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("Range object index out of range")
        return i

    def __reversed__(self) -> Iterator[int]:
        return iter(range(len(self) - 1, -1, -1))

    def __eq__(self, other: object) -> bool:
        # Like range: equal when they hold the same numbers (all empty ones are equal).
        if isinstance(other, Range):
            return len(self) == len(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Range, len(self)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.stop_value})"

    def index(self, value: Any) -> int:  # type: ignore[override]  # range's signature
        if type(value) is int or type(value) is bool:
            if value in self:
                return int(value)  # the number i sits at index i
        else:
            for i in self:
                if value == i:
                    return i
        raise ValueError(f"{value!r} is not in Range")

    def count(self, value: Any) -> int:
        if type(value) is int or type(value) is bool:
            return int(value in self)
        return sum(1 for i in self if value == i)


class RangeIterator:
    """One pass over ``0 .. stop - 1``; the position is here, not in the container."""

    def __init__(self, stop: int) -> None:
        self.current = -1
        self.last = stop - 1

    def __iter__(self) -> RangeIterator:
        return self

    def __next__(self) -> int:
        if self.current < self.last:
            self.current += 1
            return self.current
        raise StopIteration

    def __length_hint__(self) -> int:
        return self.last - self.current


class Range2(Range):
    """The short version: ``__iter__`` is a generator, so it is reusable too."""

    def __iter__(self) -> Iterator[int]:  # type: ignore[override]
        current = 0
        while current < self.stop_value:
            yield current
            current += 1


# -- the text's code, unchanged apart from type hints: one-shot ---------------------


class OriginalRange:
    def __init__(self, stop_value: int) -> None:
        self.current = -1
        self.stop_value = stop_value - 1

    def __iter__(self) -> OriginalRangeIterator:
        return OriginalRangeIterator(self)


class OriginalRangeIterator:
    def __init__(self, container: OriginalRange) -> None:
        self.container = container

    def __next__(self) -> int:
        if self.container.current < self.container.stop_value:
            self.container.current += 1
            return self.container.current
        raise StopIteration


class OriginalRange2:
    def __init__(self, stop_value: int) -> None:
        self.current = -1
        self.stop_value = stop_value - 1

    def __iter__(self) -> OriginalRange2:
        return self

    def __next__(self) -> int:
        if self.current < self.stop_value:
            self.current += 1
            return self.current
        raise StopIteration


def main() -> None:
    for cls in (OriginalRange, OriginalRange2, Range, Range2):
        r = cls(5)
        first, second = list(r), list(r)  # type: ignore[call-overload]
        print(f"{cls.__name__}(5): first loop {first}, second loop {second}")
    r = Range(5)
    print(f"len={len(r)} 3 in r={3 in r} 5 in r={5 in r} reversed={list(reversed(r))}")
    print(f"r[0]={r[0]} r[-1]={r[-1]} r[1:4]={r[1:4]} Range(-3)={list(Range(-3))}")


if __name__ == "__main__":
    main()
