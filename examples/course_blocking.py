"""The course text's blocking fetch -> process -> save, next to its async rewrite.

The text's point: while ``requests.get`` waits for the network, the whole
program waits -- fetching five pages costs five round trips, one after the
other.  The asynchronous version starts all five requests at once and waits
for them together, so it costs about one.  Both run here against a local
films API (``local_films_server``: a threaded HTTP server on loopback that
answers each page after a fixed delay, standing in for
``https://data.aggregator.com/films``) and save to SQLite.

What was fixed in the text's snippet:

* it saved the raw download (``save_to_database(data)``) instead of the
  processed result it had just computed; here ``processed`` is saved;
* ``requests.get`` returns a response object, not data: here the body is
  checked (status) and decoded (JSON) before any "logic" sees it;
* a network call without a timeout can wait forever; both versions have one;
* the async version keeps the database call blocking (SQLite has no async
  API) and moves it off the loop with ``asyncio.to_thread``, instead of
  pretending a blocking call is fine inside a coroutine.

The blocking side uses the standard library's ``urllib`` (``requests`` is the
same shape); the async side uses aiohttp's client.

    glassloop run examples/course_blocking.py [--pages 5] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp

Film = tuple[str, int, float]  # title, year, rating

FILMS: list[Film] = [
    ("Seven Samurai", 1954, 8.6),
    ("Solaris", 1972, 8.0),
    ("Stalker", 1979, 8.1),
    ("The Room", 2003, 3.6),
    ("Ivan's Childhood", 1962, 8.1),
    ("Plan 9 from Outer Space", 1957, 3.9),
    ("Mirror", 1975, 8.0),
    ("Come and See", 1985, 8.4),
    ("Battleship Potemkin", 1925, 7.4),
    ("Brother", 1997, 7.9),
    ("Cats", 2019, 2.8),
    ("Andrei Rublev", 1966, 8.1),
    ("Moscow Does Not Believe in Tears", 1980, 8.1),
    ("Kin-dza-dza!", 1986, 8.1),
    ("Hard to Be a God", 2013, 6.6),
]
PAGE_SIZE = 3


# -- the stand-in for data.aggregator.com ------------------------------------------------


class FilmsHandler(BaseHTTPRequestHandler):
    """``GET /films?page=N``: one page of films, as JSON, after ``server.latency``."""

    server: FilmsServer

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/films":
            self.send_error(404)
            return
        page = int(query.get("page", ["1"])[0])
        time.sleep(self.server.latency)  # the network round trip
        start = (page - 1) * PAGE_SIZE
        films = [
            {"title": t, "year": y, "rating": r} for t, y, r in FILMS[start : start + PAGE_SIZE]
        ]
        body = json.dumps({"page": page, "films": films}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


class FilmsServer(ThreadingHTTPServer):
    daemon_threads = True
    latency = 0.2


@contextlib.contextmanager
def local_films_server(latency: float) -> Iterator[str]:
    """Serve the films API on a free loopback port; yields its base URL."""
    server = FilmsServer(("127.0.0.1", 0), FilmsHandler)
    server.latency = latency
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- the logic and the database, shared by both versions ----------------------------------


def do_some_logic(pages: list[dict[str, Any]]) -> list[Film]:
    """Keep the well-rated films, best first."""
    films = [f for page in pages for f in page["films"]]
    good = [(f["title"], f["year"], f["rating"]) for f in films if f["rating"] >= 8.0]
    return sorted(good, key=lambda f: (-f[2], f[1]))


def save_to_database(path: str, films: list[Film]) -> int:
    """Blocking, like every SQLite call: insert the films, return the row count."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS films (title TEXT, year INT, rating REAL)")
        db.executemany("INSERT INTO films VALUES (?, ?, ?)", films)
        (count,) = db.execute("SELECT COUNT(*) FROM films").fetchone()
    return int(count)


# -- blocking: one request after another --------------------------------------------------


def fetch_page_blocking(base: str, page: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/films?page={page}", timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"page {page}: HTTP {response.status}")
        data: dict[str, Any] = json.load(response)
        return data


def blocking_pipeline(base: str, db_path: str, pages: int) -> tuple[list[Film], int]:
    data = [fetch_page_blocking(base, page) for page in range(1, pages + 1)]
    processed = do_some_logic(data)
    return processed, save_to_database(db_path, processed)


# -- asynchronous: every request at once -----------------------------------------------------


async def fetch_page(session: aiohttp.ClientSession, base: str, page: int) -> dict[str, Any]:
    async with session.get(f"{base}/films", params={"page": page}) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return data


async def async_pipeline(base: str, db_path: str, pages: int) -> tuple[list[Film], int]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        data = await asyncio.gather(*(fetch_page(session, base, p) for p in range(1, pages + 1)))
    processed = do_some_logic(list(data))
    return processed, await asyncio.to_thread(save_to_database, db_path, processed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    args = parser.parse_args()

    with local_films_server(args.latency) as base, tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        films, rows = blocking_pipeline(base, os.path.join(tmp, "blocking.db"), args.pages)
        blocking_time = time.perf_counter() - start
        print(f"blocking: {args.pages} pages in {blocking_time:.2f} s, saved {rows} films")

        async def timed() -> tuple[list[Film], int, float, str]:
            start = time.perf_counter()
            path = os.path.join(tmp, "async.db")
            films, rows = await async_pipeline(base, path, args.pages)
            loop = type(asyncio.get_running_loop())
            return films, rows, time.perf_counter() - start, f"{loop.__module__}.{loop.__name__}"

        async_films, async_rows, async_time, loop_name = asyncio.run(timed())
        print(f"async:    {args.pages} pages in {async_time:.2f} s, saved {async_rows} films")
        print(f"async ran on {loop_name}")
        print(f"same films saved: {films == async_films and rows == async_rows}")
        for title, year, rating in films:
            print(f"  {rating}  {title} ({year})")


if __name__ == "__main__":
    main()
