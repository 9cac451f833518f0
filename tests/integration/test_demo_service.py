"""The demo Async API that ``glassloop serve`` runs, driven over HTTP.

The math API's contract is the course text's ``/add`` with its bugs fixed
(see ``glassloop.apps.math_api``); the phrase service's is the text's aiohttp
app with a timeout and a 502 for a failing upstream.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from integration_helpers import ServiceThread, demo_config

import glassloop
from glassloop.apps import phrases
from glassloop.apps.serve import ServeConfig, ServeError, Service

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def post(demo: ServiceThread, path: str, body: Any) -> httpx.Response:
    return httpx.post(demo.service.api_url + path, json=body, timeout=10)


# -- the math API -------------------------------------------------------------


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_add_with_only_first_number_answers_3(demo: ServiceThread) -> None:
    """The issue's acceptance command, byte for byte."""
    url = f"{demo.service.api_url}/add"
    body = '{"first_number": 2}'
    out = subprocess.run(
        ["curl", "-s", "-X", "POST", url, "-H", "content-type: application/json", "-d", body],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert out.stdout == '{"result":3}'


@pytest.mark.parametrize(
    ("body", "result"),
    [
        ({"first_number": 2}, 3),
        ({"first_number": 2, "second_number": 5}, 7),
        ({"first_number": 2, "second_number": 0}, 2),  # the text's `or 1` made this 3
        ({"first_number": 2, "second_number": None}, 3),  # Optional in the text: null = missing
        ({"first_number": -7, "second_number": -3}, -10),
        ({"first_number": 10**30, "second_number": 1}, 10**30 + 1),
    ],
)
def test_add(demo: ServiceThread, body: dict[str, Any], result: int) -> None:
    response = post(demo, "/add", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": result}


@pytest.mark.parametrize(
    ("path", "a", "b", "result"),
    [
        ("/subtract", 10, 4, 6),
        ("/subtract", 4, 10, -6),
        ("/multiply", 6, 7, 42),
        ("/multiply", -3, 0, 0),
        ("/divide", 7, 2, 3.5),
        ("/divide", -9, 3, -3.0),
    ],
)
def test_other_operations(demo: ServiceThread, path: str, a: int, b: int, result: float) -> None:
    response = post(demo, path, {"first_number": a, "second_number": b})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": result}


def test_divide_by_zero_is_400_with_a_clear_message(demo: ServiceThread) -> None:
    response = post(demo, "/divide", {"first_number": 1, "second_number": 0})
    assert response.status_code == 400
    assert response.json() == {"detail": "division by zero: second_number must not be 0"}


def test_divide_overflow_is_400(demo: ServiceThread) -> None:
    response = post(demo, "/divide", {"first_number": 10**400, "second_number": 1})
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/add", {"first_number": "two"}, "first_number"),
        ("/add", {"first_number": "2"}, "first_number"),  # strict: no silent conversion
        ("/add", {"first_number": 2.5}, "first_number"),
        ("/add", {"first_number": 2, "second_number": "x"}, "second_number"),
        ("/add", {"second_number": 2}, "first_number"),  # the first is required
        ("/add", {"first_number": True}, "first_number"),
        ("/subtract", {"first_number": 1}, "second_number"),  # no default outside /add
        ("/divide", {"first_number": 1, "second_number": [2]}, "second_number"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    demo: ServiceThread, path: str, body: dict[str, Any], field: str
) -> None:
    response = post(demo, path, body)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", field] in locations


def test_malformed_json_is_422(demo: ServiceThread) -> None:
    response = httpx.post(
        demo.service.api_url + "/add",
        content=b'{"first_number": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


@pytest.fixture
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """What uvicorn logs as errors meanwhile (a 500's traceback goes there)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def post_raw(demo: ServiceThread, path: str, body: str) -> httpx.Response:
    """POST ``body`` as it is: httpx's json= would refuse NaN, and 1e400 must stay 1e400."""
    return httpx.post(
        demo.service.api_url + path,
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=10,
    )


@pytest.mark.parametrize("path", ["/add", "/subtract", "/multiply", "/divide"])
@pytest.mark.parametrize(
    ("body", "field", "echoed"),
    [
        ('{"first_number": 1e400, "second_number": 1}', "first_number", "Infinity"),
        ('{"first_number": 1, "second_number": -1e400}', "second_number", "-Infinity"),
        ('{"first_number": NaN, "second_number": 1}', "first_number", "NaN"),
        ('{"first_number": 2, "second_number": Infinity}', "second_number", "Infinity"),
    ],
    ids=["1e400", "-1e400", "NaN", "Infinity"],
)
def test_non_finite_numbers_are_422_not_500(
    demo: ServiceThread,
    server_errors: list[logging.LogRecord],
    path: str,
    body: str,
    field: str,
    echoed: str,
) -> None:
    """FastAPI's own handler could not echo inf/nan back as JSON: a 500 and a traceback."""
    response = post_raw(demo, path, body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["input"] == echoed
    assert "non-finite number" in error["msg"] and "1e400" in error["msg"]
    assert server_errors == []


def test_non_finite_number_beside_a_missing_field(demo: ServiceThread) -> None:
    """The "missing" error echoes the whole body, the non-finite number with it."""
    response = post_raw(demo, "/divide", '{"first_number": NaN}')
    assert response.status_code == 422, response.text
    missing = [e for e in response.json()["detail"] if e["type"] == "missing"]
    assert missing[0]["input"] == {"first_number": "NaN"}


def test_an_integer_past_the_digit_limit_is_422_saying_so(
    demo: ServiceThread, server_errors: list[logging.LogRecord]
) -> None:
    limit = sys.get_int_max_str_digits()
    response = post_raw(demo, "/add", f'{{"first_number": {"7" * (limit + 700)}}}')
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert f"more than {limit} digits" in error["msg"]
    assert "int max str digits" in error["msg"]
    assert server_errors == []


def test_an_integer_at_the_digit_limit_still_adds(demo: ServiceThread) -> None:
    limit = sys.get_int_max_str_digits()
    response = post_raw(demo, "/add", f'{{"first_number": {"7" * limit}, "second_number": 1}}')
    assert response.status_code == 200, response.text[:200]
    assert response.json() == {"result": int("7" * (limit - 1) + "8")}


def test_other_bad_requests_keep_their_status(demo: ServiceThread) -> None:
    """The digit-limit handler only rewrites that one 400."""
    assert httpx.get(demo.service.api_url + "/nowhere").status_code == 404
    assert httpx.get(demo.service.api_url + "/add").status_code == 405


def test_root_redirects_to_the_docs(demo: ServiceThread) -> None:
    response = httpx.get(demo.service.api_url + "/")
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"


def test_docs_and_openapi_schema(demo: ServiceThread) -> None:
    docs = httpx.get(demo.service.api_url + "/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = httpx.get(demo.service.api_url + "/openapi.json").json()
    assert {"/add", "/subtract", "/multiply", "/divide"} <= set(schema["paths"])
    add = schema["components"]["schemas"]["Add"]
    assert add["required"] == ["first_number"]  # second_number truly optional
    assert add["properties"]["second_number"]["default"] == 1


#: Every address a page refers to: src=, href=, url(...) and quoted "http..." in scripts.
PAGE_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")
EXTERNAL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_need_no_internet(demo: ServiceThread, page: str) -> None:
    """Swagger UI and ReDoc from this server, not a CDN: a demo offline still has docs."""
    api = demo.service.api_url
    html = httpx.get(api + page).text
    assert EXTERNAL.findall(html) == [], html
    assets = [a or b for a, b in PAGE_REFERENCES.findall(html)]
    scripts = [asset for asset in assets if asset.endswith(".js")]
    assert scripts, html  # the page does load its UI from somewhere: here
    for asset in assets:
        assert asset.startswith("/"), asset
        response = httpx.get(api + asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
    assert "openapi.json" in html


# -- served by glassloop --------------------------------------------------------


def test_running_loop_is_glassloops(demo: ServiceThread) -> None:
    """Both services answer from inside a glassloop.Loop, the same one."""
    assert isinstance(demo.loop, glassloop.Loop)
    assert httpx.get(demo.service.api_url + "/loop").json() == {"loop": "glassloop.Loop"}
    assert httpx.get(demo.service.phrases_url + "loop").json() == {"loop": "glassloop.Loop"}
    assert demo.service.loop_name == "glassloop.Loop"


# -- the phrase service -----------------------------------------------------------


def test_phrase_is_an_upper_cased_upstream_phrase(demo: ServiceThread) -> None:
    seen = set()
    for _ in range(5):
        response = httpx.get(demo.service.phrases_url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        seen.add(response.text)
    assert seen <= {p.upper() for p in phrases.PHRASES}
    assert all(text == text.upper() and text != text.lower() for text in seen)


def test_upstream_speaks_the_fish_text_format(demo: ServiceThread) -> None:
    response = httpx.get(demo.service.upstream_url, params={"type": "title"})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    body = json.loads(response.text)
    assert body["status"] == "success" and body["errorCode"] is None
    assert body["text"] in phrases.PHRASES
    error = json.loads(httpx.get(demo.service.upstream_url, params={"type": "x"}).text)
    assert error["status"] == "error" and error["errorCode"] == 11


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def test_unreachable_upstream_is_502_at_once() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/get"
    with ServiceThread(demo_config(upstream=url)) as running:
        start = time.monotonic()
        response = httpx.get(running.service.phrases_url, timeout=10)
        assert time.monotonic() - start < 3
    assert response.status_code == 502
    assert response.json() == {"error": response.json()["error"]}
    assert f"phrase upstream {url} is unreachable" in response.json()["error"]


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """Accepts connections and never answers: only a client timeout gets out."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/get"
    finally:
        stop.set()
        thread.join()
        for sock in [*accepted, listener]:
            sock.close()


def test_silent_upstream_is_502_after_the_timeout(silent_upstream: str) -> None:
    config = demo_config(upstream=silent_upstream, upstream_timeout=0.3)
    with ServiceThread(config) as running:
        start = time.monotonic()
        response = httpx.get(running.service.phrases_url, timeout=10)
        elapsed = time.monotonic() - start
    assert response.status_code == 502
    assert response.json()["error"] == (
        f"phrase upstream {silent_upstream} did not answer within 0.3 s"
    )
    assert 0.25 < elapsed < 3


def test_upstream_error_reply_is_502(demo: ServiceThread) -> None:
    # A second phrase service, pointed at a path the demo's upstream lacks.
    bad = demo.service.upstream_url.replace("/get", "/missing")
    with ServiceThread(demo_config(upstream=bad)) as running:
        response = httpx.get(running.service.phrases_url)
    assert response.status_code == 502
    assert response.json()["error"] == f"phrase upstream {bad} answered HTTP 404"


# -- starting and stopping ----------------------------------------------------------


def test_taken_port_is_a_clear_error(demo: ServiceThread) -> None:
    taken = int(demo.service.api_url.rsplit(":", 1)[1])
    with pytest.raises(ServeError) as info:
        ServiceThread(demo_config(port=taken)).start()
    assert str(info.value) == (
        f"cannot listen on 127.0.0.1:{taken} for the math API: "
        "Address already in use (choose another with --port)"
    )


def test_bad_app_spec_is_a_clear_error() -> None:
    async def start(spec: str) -> None:
        await Service(ServeConfig(app=spec, port=0)).start()

    with pytest.raises(ServeError, match="must look like"):
        glassloop.run(start("no_colon"))
    with pytest.raises(ServeError, match="cannot import module 'no_such_module_xyz'"):
        glassloop.run(start("no_such_module_xyz:app"))
    with pytest.raises(ServeError, match="has no attribute 'nothing'"):
        glassloop.run(start("glassloop.apps.math_api:nothing"))


@contextlib.asynccontextmanager
async def custom_upstream(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` at ``/get`` on a free loopback port; yields its URL."""
    upstream = web.Application()
    upstream.add_routes([web.get("/get", handler)])
    runner = web.AppRunner(upstream)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/get"
    finally:
        await runner.cleanup()


def phrase_via(handler: Handler) -> httpx.Response:
    """``GET /`` of a phrase service whose upstream is ``handler``."""

    async def main() -> httpx.Response:
        async with custom_upstream(handler) as url:
            async with Service(demo_config(upstream=url)) as service:
                async with httpx.AsyncClient() as client:
                    response = await client.get(service.phrases_url)
                    await response.aread()
                    return response

    return glassloop.run(main())


def test_upstream_json_with_any_content_type_is_accepted() -> None:
    """fish-text says text/html; an upstream that says application/json works too."""

    async def json_upstream(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "text": "hello", "errorCode": None})

    response = phrase_via(json_upstream)
    assert (response.status_code, response.text) == (200, "HELLO")


def test_upstream_that_is_not_a_phrase_api_is_502() -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>", content_type="text/html")

    response = phrase_via(html)
    assert response.status_code == 502
    assert "sent malformed JSON" in response.json()["error"]
