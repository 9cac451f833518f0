"""The course text's aiohttp app: a phrase from an upstream API, upper-cased.

``GET /`` fetches a title from a phrase API in the fish-text format (JSON
``{"status", "text", "errorCode"}`` served as ``text/html``) with a
``ClientSession``, and an ``on_response_prepare`` signal upper-cases the reply
just before it is sent.  There is no internet here, so when no ``--upstream``
is given the app starts glassloop's stand-in for that API on loopback (from
``glassloop.apps.phrases``, where the fuller version of this app, served by
``glassloop serve``, also lives).

What was fixed in the text's app:

* one ``ClientSession`` for the app's lifetime (a cleanup context), not one
  per request: a session is a connection pool;
* a client timeout, and a ``502 Bad Gateway`` that says what went wrong when
  the upstream is down, silent or answers an error -- the text's handler
  hung, or failed with a 500 and a traceback;
* ``json(content_type="text/html")``: aiohttp matches the expected type as a
  substring of the ``Content-Type`` header, so the text's exact
  ``"text/html; charset=utf-8"`` broke on any other spelling of it;
* the signal only upper-cases successful text replies: the text's
  ``response.text.upper()`` raised on responses without a text body, and its
  ``return response`` did nothing (signal handlers' results are ignored).

    glassloop run examples/course_aiohttp.py [--port 8080] [--upstream URL]
    curl localhost:8080/
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from glassloop.apps.phrases import make_upstream_app

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
TIMEOUT = aiohttp.ClientTimeout(total=5)


class UpstreamError(Exception):
    pass


async def get_phrase(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url, params={"type": "title"}, timeout=TIMEOUT) as response:
        result = await response.json(content_type="text/html")
    if result.get("status") != "success":
        raise UpstreamError(f"the upstream reported error {result.get('errorCode')}")
    return str(result.get("text"))


async def index_handler(request: web.Request) -> web.Response:
    try:
        phrase = await get_phrase(request.app[SESSION], request.app[UPSTREAM])
    except (aiohttp.ClientError, TimeoutError, UpstreamError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise web.HTTPBadGateway(text=f"phrase upstream failed: {reason}") from None
    return web.Response(text=phrase)


async def response_signal(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200 and response.text:
        response.text = response.text.upper()


def upstream_and_session(
    upstream: str | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: the embedded upstream (if needed) and the client session."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        runner = None
        url = upstream
        if url is None:
            runner = web.AppRunner(make_upstream_app())
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            url = f"http://{host}:{port}/get"
            print(f"embedded phrase upstream on {url}", flush=True)
        app[UPSTREAM] = url
        try:
            async with aiohttp.ClientSession() as session:
                app[SESSION] = session
                yield
        finally:
            if runner is not None:
                await runner.cleanup()

    return context


async def make_app(upstream: str | None = None) -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(upstream_and_session(upstream))
    app.on_response_prepare.append(response_signal)
    app.add_routes([web.get("/", index_handler)])
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--upstream", help="a fish-text style API URL (default: embedded)")
    args = parser.parse_args()
    web.run_app(make_app(args.upstream), host=args.host, port=args.port)
