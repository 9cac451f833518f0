"""The course text's compound-interest coroutine (``send``, ``close``, ``GeneratorExit``).

``cash_return_coro(percent, years)`` is a generator used as a coroutine: you
``send()`` it a deposit and get back what the deposit grows to after
``years`` at ``percent`` a year.  The text's version works, but its protocol
is two ``yield``s per deposit -- one to receive, one to answer -- so the
caller has to call ``next()`` after every ``send()`` to get back to the
receiving one.  Forget it once and the next deposit is delivered to the
answering ``yield`` and silently dropped.  What was fixed:

* one ``yield`` per deposit: ``deposit = yield result`` receives the next
  deposit and answers the previous one at the same point, so ``send()`` alone
  is the whole protocol (``next()`` only once, to start it);
* its type: the text annotated it ``-> float``, but it is a generator
  (``Generator[float | None, float, None]``);
* ``close()`` still raises ``GeneratorExit`` at the paused ``yield``; the
  coroutine prints the text's message and re-raises, which is the one correct
  thing to do with ``GeneratorExit``.

``original_cash_return_coro`` is the text's version, driven its way, to show
the two agree.

    python examples/course_cash_return.py
"""

from __future__ import annotations

import math
from collections.abc import Generator

EXIT_MESSAGE = "Выход из корутины"  # "leaving the coroutine", as in the text


def cash_return_coro(percent: float, years: int) -> Generator[float | None, float, None]:
    value = math.pow(1 + percent / 100, years)
    result = None
    while True:
        try:
            deposit = yield result
        except GeneratorExit:
            print(EXIT_MESSAGE)
            raise
        result = round(deposit * value, 2)


def original_cash_return_coro(percent: float, years: int) -> Generator[float | None, float, None]:
    value = math.pow(1 + percent / 100, years)
    while True:
        try:
            deposit = yield
            yield round(deposit * value, 2)
        except GeneratorExit:
            print(EXIT_MESSAGE)
            raise


VALUES = [1000, 2000, 5000, 10000, 100000]


def main() -> None:
    coro = cash_return_coro(5, 5)
    next(coro)  # run to the first yield
    for item in VALUES:
        print(coro.send(item))
    coro.close()

    # The text's version, with its extra next() after each send().
    original = original_cash_return_coro(5, 5)
    next(original)
    answers = []
    for item in VALUES:
        answers.append(original.send(item))
        next(original)
    original.close()
    print(f"the text's version agrees: {answers}")


if __name__ == "__main__":
    main()
