"""Generators from the course text: ``simple_generator``, a generator
expression, and ``yield from`` -- runnable, with what the text glossed over.

What was fixed or made explicit:

* ``print(next(gen))  # StopIteration: 3`` does not print: the third
  ``next()`` *raises* ``StopIteration``, and the generator's ``return 3``
  travels as that exception's ``.value``.  ``exhaust`` catches it to show the
  3 (and ``yield from`` below is how you get it without catching anything);
* the text defined ``func`` twice, so the first definition was silently
  replaced; here they are ``func_loop`` and ``func_yield_from``;
* ``yield from`` is more than a shorter loop: it also passes ``send()``
  values through to the inner generator and evaluates to its return value
  (``delegate`` shows both) -- the machinery the course's scheduler and
  ``await`` are built on.

    python examples/course_generators.py
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator

numbers = [1, 2, 3]


def simple_generator() -> Generator[int, None, int]:
    yield 1
    yield 2
    return 3


def exhaust(gen: Generator[int, None, int]) -> tuple[list[int], int]:
    """Every value ``next()`` gives, then the return value ``StopIteration`` carries."""
    values = []
    while True:
        try:
            values.append(next(gen))
        except StopIteration as stop:
            return values, stop.value


def func_loop() -> Iterator[int]:
    for item in numbers:  # noqa: UP028 -- the long way is the point
        yield item


def func_yield_from() -> Iterator[int]:
    yield from numbers


def running_total() -> Generator[int, int, int]:
    """Receives numbers by ``send()``; yields the total so far; returns it at 0."""
    total = 0
    while True:
        value = yield total
        if value == 0:
            return total
        total += value


def delegate(results: list[int]) -> Generator[int, int, None]:
    """``yield from`` forwards ``send()`` inward and hands back the return value."""
    while True:
        results.append((yield from running_total()))


def main() -> None:
    gen = simple_generator()
    print(next(gen))  # 1
    print(next(gen))  # 2
    try:
        next(gen)
    except StopIteration as stop:
        print(f"StopIteration: {stop.value}")  # the text's "StopIteration: 3"

    values, returned = exhaust(simple_generator())
    print(f"exhaust(simple_generator()) -> {values}, returned {returned}")

    gen_exp = (x for x in range(100000))
    print(gen_exp)  # <generator object <genexpr> at 0x...>
    as_list = [x for x in range(100000)]
    print(
        f"genexpr {sys.getsizeof(gen_exp)} bytes vs list {sys.getsizeof(as_list)} bytes; "
        f"same sum: {sum(gen_exp) == sum(as_list)}"
    )

    print(f"func_loop: {list(func_loop())}, func_yield_from: {list(func_yield_from())}")

    results: list[int] = []
    d = delegate(results)
    next(d)
    for n in (5, 10, 0, 7, 0):
        d.send(n)
    print(f"yield from passes send() through and returns: {results}")


if __name__ == "__main__":
    main()
