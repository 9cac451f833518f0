"""The demo's phrase service against a flaky upstream, on a simulated network.

The phrase app (``glassloop.apps.phrases``, the course text's aiohttp
example) runs on ``phrases.sim``, its upstream on ``upstream.sim``, and a
client asks it for phrases while the network between the service and its
upstream misbehaves: a partition, a reset in the middle of a reply, a link
slower than the service's upstream timeout, a DNS failure.  The service must
answer every request, with the phrase (shouted by its response signal) or a
502 that names the upstream and what went wrong; never hang, never a 500.
docs/simnet.md shows the run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import glassloop
from glassloop.apps.phrases import make_app, make_upstream_app
from glassloop.testing import SimNet

UPSTREAM = "http://upstream.sim/get"
SERVICE = "http://phrases.sim:8080/"


async def ask(times: int, every: float) -> list[tuple[float, int, str]]:
    """Start both apps, then GET the service ``times`` times, ``every`` seconds apart."""
    runners = []
    for app, host, port in (
        (make_upstream_app(["Съешь же ещё этих мягких булок"], seed=1), "upstream.sim", 80),
        (make_app(UPSTREAM, timeout=2.0), "phrases.sim", 8080),
    ):
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
    loop = asyncio.get_running_loop()
    answers: list[tuple[float, int, str]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(times):
                start = loop.time()
                async with session.get(SERVICE) as response:
                    body = await response.text()
                answers.append((round(start, 3), response.status, body))
                await asyncio.sleep(max(0.0, start + every - loop.time()))
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    return answers


def run(net: SimNet, times: int = 10, every: float = 1.0) -> list[tuple[float, int, str]]:
    result: list[tuple[float, int, str]] = glassloop.run(
        ask(times, every), network=net, virtual_time=True
    )
    return result


def statuses(answers: list[tuple[float, int, str]]) -> list[int]:
    return [status for _, status, _ in answers]


def test_a_healthy_network_gives_the_shouted_phrase_every_time() -> None:
    answers = run(SimNet(seed=1, latency=0.02))
    assert statuses(answers) == [200] * 10
    assert all(body == "СЪЕШЬ ЖЕ ЕЩЁ ЭТИХ МЯГКИХ БУЛОК" for _, _, body in answers)


def test_a_partition_gives_502s_that_say_why_then_the_service_recovers() -> None:
    net = SimNet(seed=1, latency=0.02)
    net.partition("phrases.sim", "upstream.sim", start=3.0, end=8.0)
    answers = run(net)
    # Asked at 3 s and at 5 s, the upstream is cut off for the whole 2 s timeout.
    during = [answer for answer in answers if 3.0 <= answer[0] < 6.0]
    assert len(during) == 2 and statuses(during) == [502, 502]
    assert all("did not answer within 2 s" in body for _, _, body in during)
    # Asked at 7 s, the request waits for the partition to heal and succeeds.
    assert statuses(answers)[:3] == [200] * 3 and statuses(answers)[-3:] == [200] * 3


def test_a_reset_mid_reply_is_retried_by_aiohttp_and_a_second_one_is_a_502() -> None:
    net = SimNet(seed=1, latency=0.02)
    net.reset_after("upstream.sim", 80, 40)  # inside the first reply's headers
    answers = run(net, times=2)
    # aiohttp's client retries an idempotent request once on a fresh connection.
    assert statuses(answers) == [200, 200]
    assert net.faults == [
        "the connection phrases.sim:40001 -> upstream.sim:80 (server) was reset after byte 40"
    ]
    twice = SimNet(seed=1, latency=0.02)
    twice.reset_after("upstream.sim", 80, 40)
    twice.reset_after("upstream.sim", 80, 40)
    answers = run(twice, times=2)
    assert statuses(answers) == [502, 200]
    assert "upstream http://upstream.sim/get is unreachable" in answers[0][2]


def test_an_upstream_slower_than_the_timeout_is_a_502_never_a_hang() -> None:
    net = SimNet(seed=1, latency=0.02)
    net.link("phrases.sim", "upstream.sim", latency=1.5)  # a 3 s round trip > 2 s
    answers = run(net, times=3, every=5.0)
    assert statuses(answers) == [502, 502, 502]
    durations: list[Any] = [body for _, _, body in answers]
    assert all("did not answer within 2 s" in body for body in durations)


def test_a_dns_failure_for_the_upstream_is_a_502() -> None:
    net = SimNet(seed=1, latency=0.02)
    net.fail_dns("upstream.sim")
    answers = run(net, times=2)
    assert statuses(answers) == [502, 502]
    assert "unreachable" in answers[0][2]


@pytest.mark.parametrize("seed", range(3))
def test_a_network_that_splits_every_write_changes_nothing(seed: int) -> None:
    answers = run(SimNet(seed=seed, latency=0.02, chunked=True), times=5)
    assert statuses(answers) == [200] * 5
