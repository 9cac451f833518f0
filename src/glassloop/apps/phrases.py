"""The course text's aiohttp example: a phrase, fetched upstream, shouted back.

``GET /`` asks a phrase API in the fish-text format (JSON with ``status``,
``text`` and ``errorCode``, sent as ``text/html``) for a title and returns it
as text; an ``on_response_prepare`` signal upper-cases the reply on its way
out.  There is no internet here, so ``make_upstream_app`` is a stand-in for
that API that glassloop serves itself on loopback.

What the text's version got wrong, and this one does instead:

* one ``ClientSession`` for the application's lifetime (made on startup,
  closed on cleanup), not one per request: a session owns a connection pool,
  and aiohttp's own documentation warns against a session per request;
* a client timeout, so a dead or silent upstream gives a ``502`` that says
  which upstream failed and how, never a request that hangs;
* the upstream's ``status``/``errorCode`` is checked: an error reply is a
  ``502`` too, not an empty phrase;
* ``json(content_type=None)`` instead of the exact header
  ``"text/html; charset=utf-8"``: aiohttp matches the expected type as a
  substring of the header, so the text's version broke on any other spelling
  of the same type (``text/html;charset=utf-8``, or no charset at all), and
  on an upstream that labels its JSON correctly.  The body is checked for
  the fields we need instead;
* the signal only touches plain-text replies: the text's
  ``response.text.upper()`` fails on any response without a text body
  (``.text`` is ``None`` for a bytes body, absent on a ``StreamResponse``),
  and would shout error messages too.  Signal handlers' return values are
  ignored, so it returns nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from .math_api import loop_name

#: The phrase API the text used; unreachable from here, so never the default.
FISH_TEXT_URL = "https://fish-text.ru/get"

#: How long ``GET /`` waits for the upstream before answering 502.
DEFAULT_UPSTREAM_TIMEOUT = 5.0

UPSTREAM_URL = web.AppKey("upstream_url", str)
UPSTREAM_TIMEOUT = web.AppKey("upstream_timeout", float)
SESSION = web.AppKey("session", aiohttp.ClientSession)


class UpstreamError(Exception):
    """The phrase upstream could not give a phrase; the message says why."""


async def get_phrase(session: aiohttp.ClientSession, url: str, timeout: float) -> str:
    """One title from the upstream at ``url``, as the text's ``get_phrase`` did."""
    try:
        async with session.get(
            url, params={"type": "title"}, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            if response.status != 200:
                raise UpstreamError(f"phrase upstream {url} answered HTTP {response.status}")
            # fish-text labels its JSON text/html: don't trust the header.
            result = await response.json(content_type=None)
    except TimeoutError:
        raise UpstreamError(f"phrase upstream {url} did not answer within {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"phrase upstream {url} is unreachable: {exc}") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise UpstreamError(f"phrase upstream {url} sent malformed JSON: {exc}") from None
    if not isinstance(result, dict):
        raise UpstreamError(f"phrase upstream {url} sent {type(result).__name__}, not an object")
    text = result.get("text")
    if result.get("status") != "success" or not isinstance(text, str):
        raise UpstreamError(
            f"phrase upstream {url} reported an error "
            f"(status {result.get('status')!r}, errorCode {result.get('errorCode')!r})"
        )
    return text


async def index_handler(request: web.Request) -> web.Response:
    app = request.app
    try:
        phrase = await get_phrase(app[SESSION], app[UPSTREAM_URL], app[UPSTREAM_TIMEOUT])
    except UpstreamError as exc:
        return web.json_response({"error": str(exc)}, status=502)
    return web.Response(text=phrase)


async def loop_handler(request: web.Request) -> web.Response:
    return web.json_response({"loop": loop_name(asyncio.get_running_loop())})


async def response_signal(request: web.Request, response: web.StreamResponse) -> None:
    """Upper-case plain-text replies just before their headers go out."""
    if isinstance(response, web.Response) and response.content_type == "text/plain":
        text = response.text
        if text is not None:
            response.text = text.upper()


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: one client session, closed when the app stops."""
    async with aiohttp.ClientSession() as session:
        app[SESSION] = session
        yield


def make_app(upstream_url: str, *, timeout: float = DEFAULT_UPSTREAM_TIMEOUT) -> web.Application:
    """The phrase service: ``GET /`` (the upper-cased phrase) and ``GET /loop``."""
    app = web.Application()
    app[UPSTREAM_URL] = upstream_url
    app[UPSTREAM_TIMEOUT] = float(timeout)
    app.cleanup_ctx.append(_client_session)
    app.on_response_prepare.append(response_signal)
    app.add_routes([web.get("/", index_handler), web.get("/loop", loop_handler)])
    return app


# -- the embedded upstream ----------------------------------------------------

#: Titles in the spirit of fish-text's (which returns Russian filler text).
PHRASES: tuple[str, ...] = (
    "Цикл событий не ждёт никого",
    "Корутина уступает ход, но не сдаётся",
    "Генератор помнит, где остановился",
    "Каждая задача получит свою очередь",
    "Сокет готов к чтению",
    "Отложенный вызов придёт вовремя",
    "Будущее уже наступило",
    "Планировщик знает, кто следующий",
)

UPSTREAM_PHRASES = web.AppKey("phrases", tuple)
UPSTREAM_RANDOM = web.AppKey("random", random.Random)


async def fish_text_handler(request: web.Request) -> web.Response:
    """``GET /get?type=title|sentence``: fish-text's reply shape and content type."""
    kind = request.query.get("type", "sentence")
    phrases: tuple[str, ...] = request.app[UPSTREAM_PHRASES]
    rng = request.app[UPSTREAM_RANDOM]
    body: dict[str, str | int | None]
    if kind == "title":
        body = {"status": "success", "text": rng.choice(phrases), "errorCode": None}
    elif kind == "sentence":
        body = {"status": "success", "text": rng.choice(phrases) + ".", "errorCode": None}
    else:
        body = {"status": "error", "text": f"unknown type {kind!r}", "errorCode": 11}
    return web.Response(
        text=json.dumps(body, ensure_ascii=False), content_type="text/html", charset="utf-8"
    )


def make_upstream_app(
    phrases: Sequence[str] = PHRASES, *, seed: int | None = None
) -> web.Application:
    """A stand-in for the fish-text API: ``GET /get`` returns a random phrase."""
    if not phrases:
        raise ValueError("the upstream needs at least one phrase")
    app = web.Application()
    app[UPSTREAM_PHRASES] = tuple(phrases)
    app[UPSTREAM_RANDOM] = random.Random(seed)
    app.add_routes([web.get("/get", fish_text_handler)])
    return app
