"""What ``for`` does under the hood, as the course text spells it out -- fixed.

The text's desugaring put the loop body inside the ``try``:

    while True:
        try:
            value = next(iterator)
            print(value)            # the body
        except StopIteration:
            break

so a ``StopIteration`` raised by the *body* (say, a stray ``next()`` on some
other exhausted iterator) silently ended the loop, where a real ``for`` lets
it propagate.  Only ``next()`` belongs in the ``try``; the body runs after it.
``for_each`` below is that corrected loop, written as a function so the tests
can hold it against the real ``for`` statement.

    python examples/course_for_loop.py
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from course_range import Range2

T = TypeVar("T")


def for_each(iterable: Iterable[T], body: Callable[[T], object]) -> None:
    """``for value in iterable: body(value)``, without the ``for`` statement."""
    iterator = iter(iterable)
    while True:
        try:
            value = next(iterator)
        except StopIteration:
            break
        body(value)  # outside the try: the body's own StopIteration propagates


def main() -> None:
    iterable = Range2(5)
    for_each(iterable, print)
    # Range2 is reusable now, so the same object loops again from 0.
    seen: list[int] = []
    for_each(iterable, seen.append)
    print(f"again: {seen}")


if __name__ == "__main__":
    main()
