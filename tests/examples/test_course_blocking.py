"""Blocking fetch -> process -> save against its async rewrite, on a local server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import course_blocking
import glassloop


@pytest.fixture(scope="module")
def films_url() -> Any:
    with course_blocking.local_films_server(latency=0.15) as base:
        yield base


def test_both_save_the_processed_films(films_url: str, tmp_path: Path) -> None:
    start = time.perf_counter()
    films, rows = course_blocking.blocking_pipeline(films_url, str(tmp_path / "b.db"), 4)
    blocking_time = time.perf_counter() - start

    async def run_async() -> tuple[list[course_blocking.Film], int, float]:
        assert type(asyncio.get_running_loop()) is glassloop.Loop
        start = time.perf_counter()
        result = await course_blocking.async_pipeline(films_url, str(tmp_path / "a.db"), 4)
        return *result, time.perf_counter() - start

    async_films, async_rows, async_time = glassloop.run(run_async())
    first_four_pages = course_blocking.FILMS[: 4 * course_blocking.PAGE_SIZE]
    page = {"films": [{"title": t, "year": y, "rating": r} for t, y, r in first_four_pages]}
    expected = course_blocking.do_some_logic([page])
    assert films == async_films == expected
    assert rows == async_rows == len(expected) > 0
    assert all(rating >= 8.0 for _, _, rating in films)  # processed, not raw
    assert blocking_time >= 0.6  # four round trips, one after another
    assert async_time < blocking_time * 0.6  # four round trips at once


def test_script_output(run_example: Any) -> None:
    lines = run_example("course_blocking.py", "--latency", "0.1").stdout.splitlines()
    assert lines[0].startswith("blocking: 5 pages in ") and lines[0].endswith("saved 9 films")
    assert lines[1].startswith("async:    5 pages in ") and lines[1].endswith("saved 9 films")
    assert lines[2] == "async ran on glassloop.loop.Loop"
    assert lines[3] == "same films saved: True"
    assert lines[4] == "  8.6  Seven Samurai (1954)"
