"""The course text's first asyncio program, grown into a short tour.

The course's version: ``func()`` sleeps a random time and returns it, and
``value()`` awaits it and prints the result.  Here the same idea shows the
functions the text lists next -- ``gather``, ``wait``, ``wait_for`` and
``call_soon`` -- and prints which event loop class runs it all.

Nothing in this file mentions glassloop.  Run it three ways and compare:

    python examples/course_asyncio.py             # asyncio's own loop
    glassloop run examples/course_asyncio.py      # glassloop, no edits needed
    python -m glassloop run examples/course_asyncio.py --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

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
    asyncio.run(main(args.seed))
