"""``glassloop serve``: the demo Async API, or any ASGI app, on one glassloop loop.

Everything runs on the loop that is running when ``Service.start`` is awaited,
in one process: uvicorn serving the ASGI app (by default the course's FastAPI
math API) and, for the demo, the aiohttp phrase service and its embedded
upstream.  uvicorn is driven as a library rather than through ``uvicorn.run``
so the aiohttp services share its loop, and so the sockets are bound here
first: a port that is taken is reported before anything starts, and port 0
(any free port) works, which the tests rely on.

Signals are ours, not uvicorn's.  ``uvicorn.Server`` would catch SIGINT and,
after its own graceful shutdown, raise it again -- a KeyboardInterrupt in the
middle of the aiohttp services' cleanup.  Here the first Ctrl-C asks every
service to stop (in-flight requests finish, connections are closed), a second
one makes uvicorn stop waiting for them; the app's lifespan shutdown still
runs.  Stopped by Ctrl-C, the command exits 130 as command-line tools do
(SIGTERM, a supervisor's ordinary stop, exits 0), and a Ctrl-C that comes
after everything has stopped exits at once, quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

import uvicorn
from aiohttp import web

from . import math_api, phrases

#: The phrase service's access log line, shaped like uvicorn's next to it.
ACCESS_LOG_FORMAT = '[phrases] %a - "%r" %s'


class ServeError(Exception):
    """``glassloop serve`` could not start; the message says what to change."""


@dataclass(frozen=True)
class Endpoint:
    """One thing that listens, as the startup banner shows it."""

    name: str
    url: str
    note: str = ""


@dataclass
class ServeConfig:
    """What ``glassloop serve`` serves, and where.  Port 0 means any free port."""

    #: ``"module:attribute"`` of an ASGI app, or None for the demo Async API.
    app: str | None = None
    #: With ``app``: the attribute is a factory to call for the ASGI app.
    factory: bool = False
    #: Prepended to ``sys.path`` before ``app`` is imported, like uvicorn's --app-dir.
    app_dir: str = "."
    host: str = "127.0.0.1"
    port: int = 8000
    #: The demo's aiohttp phrase service.
    phrases_port: int = 8080
    #: A fish-text style phrase API; None starts the embedded one on loopback.
    upstream: str | None = None
    upstream_timeout: float = phrases.DEFAULT_UPSTREAM_TIMEOUT
    access_log: bool = True
    #: uvicorn's log level for its own messages (startup chatter is at info).
    log_level: str = "warning"
    #: How long a stop waits for in-flight requests before cancelling them.
    graceful_timeout: float = 10.0
    #: Extra key/values for ``uvicorn.Config``, for tests and embedding.
    uvicorn_options: dict[str, Any] = field(default_factory=dict)


class _Server(uvicorn.Server):
    """uvicorn's server, minus its signal handling (``Service`` owns signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, plus the app's lifespan shutdown even when forced.

        uvicorn skips the lifespan shutdown on a forced exit, which leaves the
        app's lifespan task waiting for a message that never comes; closing
        the loop then cancels it and uvicorn logs that CancelledError as a
        traceback.  Forcing means "stop waiting for requests", not "skip the
        app's own cleanup".
        """
        await super().shutdown(sockets=sockets)
        if not self.force_exit:
            return
        await self._cancel_requests()
        shutdown_done: asyncio.Event | None = getattr(self.lifespan, "shutdown_event", None)
        if shutdown_done is not None and not shutdown_done.is_set():
            await self.lifespan.shutdown()

    async def _cancel_requests(self) -> None:
        """Cancel the requests a forced stop does not wait for, each logged in one line.

        uvicorn leaves them running; the loop's closing would cancel them
        later, and uvicorn would log each CancelledError as a traceback.
        """
        tasks = [task for task in self.server_state.tasks if not task.done()]
        if not tasks:
            return
        logger = logging.getLogger("uvicorn.error")
        one_line = _CancelledInOneLine()
        logger.addFilter(one_line)
        try:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            logger.removeFilter(one_line)


class _CancelledInOneLine(logging.Filter):
    """uvicorn's "Exception in ASGI application" for a request we cancelled: one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg = "request cancelled: the server stopped without waiting for it"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


class Service:
    """The services of one ``glassloop serve``: ``start``, then ``wait`` or ``stop``.

    Also an async context manager: ``async with Service(config) as service:``
    starts it and, on the way out, stops it and waits until it has stopped.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.endpoints: list[Endpoint] = []
        self.loop_name = ""
        #: Filled in by ``start``: where the ASGI app, the phrase service and
        #: the phrase upstream listen (the last two for the demo only).
        self.api_url = ""
        self.phrases_url = ""
        self.upstream_url = ""
        self._server: _Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._runners: list[web.AppRunner] = []  # started order; cleaned up in reverse
        self._stop_requested = False

    @property
    def is_demo(self) -> bool:
        return self.config.app is None

    # -- starting ------------------------------------------------------------

    async def start(self) -> list[Endpoint]:
        """Bind every socket and start every service; return what listens where."""
        self.loop_name = math_api.loop_name(asyncio.get_running_loop())
        try:
            if self.is_demo:
                await self._start_phrase_services()
                asgi_app: Any = math_api.app
            else:
                asgi_app = self._load_app()
            await self._start_uvicorn(asgi_app)
        except BaseException:
            await self._cleanup()
            raise
        return self.endpoints

    async def _start_phrase_services(self) -> None:
        config = self.config
        upstream = config.upstream
        if upstream is None:
            # Loopback only: the stand-in is for this process, not the network.
            sock = bind_socket("127.0.0.1", 0, "the embedded phrase upstream")
            upstream = f"{http_url(sock)}/get"
            await self._start_aiohttp(phrases.make_upstream_app(), sock, access_log=False)
        self.upstream_url = upstream
        sock = bind_socket(config.host, config.phrases_port, "the phrase service", "--phrases-port")
        app = phrases.make_app(upstream, timeout=config.upstream_timeout)
        await self._start_aiohttp(app, sock, access_log=config.access_log)
        self.phrases_url = f"{http_url(sock)}/"

    async def _start_aiohttp(
        self, app: web.Application, sock: socket.socket, *, access_log: bool
    ) -> None:
        runner = web.AppRunner(
            app,
            access_log=_phrases_access_logger() if access_log else None,
            access_log_format=ACCESS_LOG_FORMAT,
            shutdown_timeout=self.config.graceful_timeout,
        )
        self._runners.append(runner)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            raise

    def _load_app(self) -> Any:
        """Import ``module:attribute`` here, so a typo is one clear line, not a traceback."""
        spec = self.config.app or ""
        module_name, sep, attribute = spec.partition(":")
        if not sep or not module_name or not attribute:
            raise ServeError(f'app must look like "module:attribute", got {spec!r}')
        app_dir = os.path.abspath(self.config.app_dir)
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                raise ServeError(
                    f"cannot import module {module_name!r} (looked in {app_dir} and sys.path)"
                ) from None
            raise  # the app's own import failed: its traceback is the useful part
        obj: Any = module
        for part in attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ServeError(f"module {module_name!r} has no attribute {attribute!r}") from None
        if self.config.factory:
            obj = obj()
        if not callable(obj):
            raise ServeError(f"{spec} is {type(obj).__name__}, not an ASGI application")
        return obj

    async def _start_uvicorn(self, asgi_app: Any) -> None:
        config = self.config
        what = "the math API" if self.is_demo else "the app"
        sock = bind_socket(config.host, config.port, what, "--port")
        options: dict[str, Any] = {
            "lifespan": "on" if self.is_demo else "auto",
            "log_level": config.log_level,
            "access_log": config.access_log,
            "timeout_graceful_shutdown": config.graceful_timeout,
        }
        options.update(config.uvicorn_options)
        uv_config = uvicorn.Config(asgi_app, **options)
        if config.access_log:
            # uvicorn gives its access log the level of its other messages;
            # requests should show even when startup chatter does not.
            logging.getLogger("uvicorn.access").setLevel(logging.INFO)
        self._server = server = _Server(uv_config)
        self._serve_task = task = asyncio.create_task(server.serve(sockets=[sock]))
        # uvicorn has no "started" event to await; it sets a flag.  Startup is
        # the app's lifespan handler plus create_server, so this is brief.
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if task.done():
            sock.close()
            task.result()  # the app's startup error, if it raised one
            raise ServeError(f"{what} stopped during startup (see the log above)")
        self.api_url = url = http_url(sock)
        if self.is_demo:
            embedded = self.config.upstream is None
            self.endpoints = [
                Endpoint(
                    "math API (FastAPI on uvicorn)", url, "POST /add /subtract /multiply /divide"
                ),
                Endpoint("API docs", f"{url}/docs"),
                Endpoint("phrases (aiohttp)", self.phrases_url, "GET /: an upper-cased phrase"),
                Endpoint(
                    "phrase upstream" + (" (embedded)" if embedded else ""), self.upstream_url
                ),
            ]
        else:
            self.endpoints = [Endpoint(f"{config.app} (uvicorn)", url)]

    # -- stopping ------------------------------------------------------------

    def request_stop(self, *, force: bool = False) -> None:
        """Ask every service to stop; ``force`` stops waiting for in-flight requests."""
        self._stop_requested = True
        if self._server is not None:
            self._server.should_exit = True
            if force:
                self._server.force_exit = True

    async def wait(self) -> None:
        """Until a stop is requested and everything has stopped and been cleaned up."""
        try:
            if self._serve_task is not None:
                await asyncio.shield(self._serve_task)
        finally:
            await self._cleanup()

    async def stop(self) -> None:
        self.request_stop()
        await self.wait()

    async def _cleanup(self) -> None:
        task = self._serve_task
        if task is not None and not task.done():
            # Only when wait() itself was cancelled: don't leave uvicorn behind.
            self.request_stop(force=True)
            with contextlib.suppress(Exception):
                await task
        while self._runners:
            # Reverse start order: the phrase service still needs its upstream
            # while it finishes in-flight requests.
            await self._runners.pop().cleanup()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def bind_socket(host: str, port: int, what: str, option: str | None = None) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port``, or a ServeError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot resolve host {host!r} for {what}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    try:
        sock = socket.create_server(address, family=family, backlog=2048)
    except OSError as exc:
        # socket.create_server's strerror repeats the address; errno says it plainly.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = f" (choose another with {option})" if option and port else ""
        raise ServeError(
            f"cannot listen on {format_host(host)}:{port} for {what}: {reason}{hint}"
        ) from None
    sock.setblocking(False)
    return sock


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def http_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{format_host(host)}:{port}"


def _phrases_access_logger() -> logging.Logger:
    """The phrase service's access log, formatted like uvicorn's beside it."""
    logger = logging.getLogger("glassloop.serve.phrases.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


# -- the command ---------------------------------------------------------------


#: The exit status of a ``glassloop serve`` stopped by each signal: SIGINT is
#: the user's Ctrl-C (128 + 2, what a shell reports for a tool it interrupted);
#: SIGTERM is a supervisor's ordinary "stop", after which a clean stop is 0.
EXIT_STATUS: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 0}


@contextlib.contextmanager
def stop_on_signals(service: Service, out: TextIO) -> Iterator[list[int]]:
    """SIGINT/SIGTERM stop ``service``; a second SIGINT forces it.  Main thread only.

    Yields the list of signals received, in order.  The handler only schedules
    a callback (``call_soon_threadsafe`` is safe from a signal handler: it
    appends and writes a byte); printing happens in the callback, since
    ``print`` inside a signal handler can re-enter itself.

    Once a signal has stopped the service, the previous handlers are not put
    back: Python's would raise KeyboardInterrupt into the loop's closing for a
    Ctrl-C pressed just after, and print its traceback.  A signal from then on
    ends the process at once with the status the stop would have given.
    """
    signals_seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield signals_seen
        return
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals_seen.append(signum)
        loop.call_soon_threadsafe(stop, signum, len(signals_seen) > 1)

    def stop(signum: int, again: bool) -> None:
        if again and signum == signal.SIGINT:
            print("glassloop serve: stopping now, without waiting for requests", file=out)
            service.request_stop(force=True)
        elif not again:
            name = signal.Signals(signum).name
            print(f"glassloop serve: {name}, stopping (Ctrl-C again to force)", file=out)
            service.request_stop()
        out.flush()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals_seen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, ExitAtOnce(exit_status(signals_seen)) if signals_seen else handler)


class ExitAtOnce:
    """A signal handler for after the stop: end the process now, with ``status``.

    Only the loop's closing is left to do then, nothing a user would wait for.
    """

    def __init__(self, status: int) -> None:
        self.status = status

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        os._exit(self.status)


def exit_status(signals_seen: list[int]) -> int:
    """The command's exit status after a stop: the first signal decides."""
    return EXIT_STATUS.get(signals_seen[0], 128 + signals_seen[0]) if signals_seen else 0


async def serve(config: ServeConfig, out: TextIO | None = None) -> int:
    """What ``glassloop serve`` runs on its loop: start, print, serve until a signal."""
    out = sys.stdout if out is None else out
    service = Service(config)
    try:
        endpoints = await service.start()
    except ServeError as exc:
        print(f"glassloop serve: {exc}", file=sys.stderr)
        return 1
    with stop_on_signals(service, out) as signals_seen:
        # Handlers first: whoever reads the banner may signal us at once.
        print(banner(service, endpoints), file=out, flush=True)
        await service.wait()
    print("glassloop serve: stopped", file=out, flush=True)
    return exit_status(signals_seen)


def banner(service: Service, endpoints: list[Endpoint]) -> str:
    what = "the Async API demo" if service.is_demo else service.config.app
    lines = [f"glassloop serve: {what}, on one {service.loop_name} (pid {os.getpid()})"]
    width = max(len(e.name) for e in endpoints)
    url_width = max(len(e.url) for e in endpoints)
    for e in endpoints:
        lines.append(f"  {e.name:<{width}}  {e.url:<{url_width}}  {e.note}".rstrip())
    if service.is_demo:
        lines.append("try:")
        lines.append(
            f"  curl -X POST {service.api_url}/add -H 'content-type: application/json'"
            """ -d '{"first_number": 2}'"""
        )
        lines.append(f"  curl {service.phrases_url}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def run(config: ServeConfig, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> int:
    """Run ``serve`` to the end on a fresh loop from ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        status = runner.run(serve(config))
    if isinstance(signal.getsignal(signal.SIGINT), ExitAtOnce):
        # Stopped by a signal, and the loop is closed: only the interpreter's
        # exit is left, and it resets Python-level handlers to SIG_DFL, so a
        # Ctrl-C during it would kill the process (status -2, not 130).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    return status
