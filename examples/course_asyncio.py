"""The course text's first asyncio program, grown into a short tour.

The course's version: ``func()`` sleeps a random time and returns it, and
``value()`` awaits it and prints the result, run with
``get_event_loop()`` / ``run_until_complete`` / ``close``.  ``course_program``
is that program as it must be written today, and ``main`` goes on to the
functions the text lists next -- ``gather``, ``wait``, ``wait_for`` and
``call_soon`` -- printing which event loop class runs it all.

What was fixed in the text's program:

* ``asyncio.get_event_loop()`` with no loop running is deprecated (a
  DeprecationWarning since 3.12, an error from 3.14): ``new_event_loop()``
  makes the loop explicitly (and still follows the installed policy, so
  ``glassloop run`` gives a glassloop loop);
* the loop was closed without ``shutdown_asyncgens()``, the step the text
  itself lists: an async generator left suspended never ran its ``finally``.
  ``course_program`` leaves one suspended on purpose and shows that step
  closing it;
* the loop is closed in a ``finally``, so an error doesn't leak it.

Nothing in this file mentions glassloop.  Run it three ways and compare:

    python examples/course_asyncio.py             # asyncio's own loop
    glassloop run examples/course_asyncio.py      # glassloop, no edits needed
    python -m glassloop run examples/course_asyncio.py --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator

START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - START:5.2f}s] {message}")


async def func(name: str, rng: random.Random, scale: float = 0.3) -> float:
    """The course's coroutine: sleep a random time, return it."""
    r = rng.random() * scale
    await asyncio.sleep(r)
    log(f"{name} slept {r:.3f}s")
    return r


async def value(rng: random.Random) -> None:
    """The course's caller: await one result and print it."""
    result = await func("value()", rng)
    log(f"value() got {result:.3f}")


async def ticker() -> AsyncIterator[int]:
    """An endless async generator whose ``finally`` must run when the loop ends."""
    try:
        for i in itertools.count():
            await asyncio.sleep(0)
            yield i
    finally:
        log("ticker: finally ran (closed by shutdown_asyncgens)")


#: Keeps the half-consumed ticker alive, so only shutdown_asyncgens can close it.
_suspended: list[AsyncIterator[int]] = []


async def take_two_ticks() -> None:
    agen = ticker()
    _suspended.append(agen)
    log(f"ticker gave {await anext(agen)}, {await anext(agen)}; left suspended")


def course_program(seed: int) -> None:
    """The text's program: one loop, made, run to completion, shut down, closed."""
    loop = asyncio.new_event_loop()
    try:
        cls = type(loop)
        log(f"course program on {cls.__module__}.{cls.__qualname__}")
        loop.run_until_complete(value(random.Random(seed)))
        loop.run_until_complete(take_two_ticks())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
        _suspended.clear()


async def main(seed: int) -> None:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    cls = type(loop)
    log(f"running on {cls.__module__}.{cls.__qualname__}")

    # call_soon: a plain callback, run by the loop at its next turn.
    loop.call_soon(log, "call_soon callback ran")
    await value(rng)

    # gather: run several at once; results come back in argument order.
    results = await asyncio.gather(*(func(f"gather #{i}", rng) for i in range(4)))
    log(f"gather returned {[round(r, 3) for r in results]} (argument order)")
    log(f"all four took about {max(results):.3f}s, not {sum(results):.3f}s")

    # wait: take whichever finishes first, then cancel the rest.
    tasks = {asyncio.create_task(func(f"wait #{i}", rng, scale=0.5)) for i in range(3)}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    log(f"wait: {len(done)} done first, cancelling {len(pending)} still pending")
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)

    # wait_for: give up on a coroutine that takes too long.
    try:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.1)
    except TimeoutError:
        log("wait_for: gave up on a 10 s sleep after 0.1 s")

    log(f"done on {cls.__qualname__}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2024, help="seed for the random sleeps")
    args = parser.parse_args()
    course_program(args.seed)
    asyncio.run(main(args.seed))
