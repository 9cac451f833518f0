"""A simulated network behind the loop's own API: hosts, TCP streams, UDP and faults, in memory.

Owns :class:`SimNet` (the network: hosts by name, links with latency, the
faults scripted on them, and what happened), the loop that routes its
networking methods into it (:class:`SimLoop`, made by
``glassloop.new_event_loop(network=net)`` and
``glassloop.run(main(), network=net, virtual_time=True)``), the stream
transport both ends of a simulated connection get (:class:`SimTransport`)
and the datagram transport of a simulated UDP endpoint
(:class:`SimDatagramTransport`).

Everything happens through the loop's timers: a write is cut into the
chunks the network delivers, and each chunk arrives with ``call_at`` at the
virtual time the link says, in order within its connection; a datagram is
one timer per copy that arrives (none if it is lost).  So under virtual
time a simulated exchange takes no wall time, and with the same seed and
program it happens the same way, event for event.  No real socket is made:
names and addresses exist only in the simulation (every host name resolves,
to an address in 198.18.0.0/15, the range RFC 2544 sets aside for
benchmarks), and the loop refuses the calls it cannot simulate.

What is simulated: TCP streams (``create_connection``, ``create_server``,
``start_server``/``open_connection``, so aiohttp's client and server and
uvicorn), TLS over them (``ssl=``, ``start_tls``: glassloop's own TLS layer,
``io/tls.py``, on the simulated stream, with real certificates), Unix
sockets (``create_unix_server``/``create_unix_connection``: paths are names
on a host, never files), UDP (``create_datagram_endpoint``), name
resolution, one-way latency per link, bandwidth, jitter (connections
overtake each other, bytes within one never do), a stream delivered in
chunks, flow control (a reader that stops reading fills the sender's
buffers until ``pause_writing``), connection refused (for UDP:
``error_received`` on a connected endpoint), a reset after a given byte,
half-close, partitions between hosts for an interval (streams wait,
datagrams are dropped), hosts down for an interval, DNS failures, and datagrams lost, duplicated or
reordered.  Not yet: ``sock_*`` beyond ``sock_connect``, Unix datagram
endpoints, anything given a real socket (``sock=``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import errno
import itertools
import logging
import math
import os
import random
import socket
import ssl as ssl_module
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..io.sockets import report_incoming_failure
from ..io.stream import check_bytes_like, check_write_limits
from ..io.tls import TLSProtocol, check_ssl_arguments, ssl_context_for
from ..loop import Loop

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
logger = logging.getLogger("asyncio")

#: Where simulated addresses come from (RFC 2544's benchmarking range).
_ADDRESS_BASE = (198 << 24) | (18 << 16)
#: The receive window: bytes a reader takes in before its sender's buffer fills.
WINDOW = 64 * 1024
#: asyncio's default write buffer limits.
HIGH_WATER = 64 * 1024
LOW_WATER = HIGH_WATER // 4
#: The first port ``port=0`` binds.
_EPHEMERAL = 40000
#: What a client connects from when it does not say (``local_addr``) and is
#: not code a simulated server runs.
CLIENT_HOST = "client.sim"
#: The host the running code belongs to: set for everything a simulated
#: server's connection runs (its protocol, the tasks it starts, their
#: connections), so a service's own outgoing calls leave from its host.
current_host: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "glassloop_simnet_host", default=None
)


@dataclass
class Link:
    """One direction between two hosts: its delay, its speed, its faults, its counters."""

    latency: float
    bandwidth: float | None = None  # bytes per second; None: unlimited
    #: The chances that a datagram is lost, arrives twice, or is held back.
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    #: The most a write or a datagram may take beyond the latency (seconds).
    jitter: float = 0.0
    bytes: int = 0
    chunks: int = 0
    writes: int = 0
    datagrams: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0


@dataclass
class _Partition:
    a: str
    b: str
    start: float
    end: float

    def cuts(self, x: str, y: str, when: float) -> bool:
        """Whether hosts ``x`` and ``y`` (names, as the network keys them) are apart at ``when``."""
        return {x, y} == {self.a, self.b} and self.start <= when < self.end


@dataclass
class _Outage:
    """A host down from ``start`` to ``end`` (virtual time)."""

    host: str
    start: float
    end: float

    def covers(self, host: str, when: float) -> bool:
        return host == self.host and self.start <= when < self.end


#: What a link has, set for all links (``SimNet(...)``), a host's (``net.host``)
#: or one pair's (``net.link``).
_SETTINGS = ("latency", "bandwidth", "jitter", "loss", "duplicate", "reorder")


@dataclass
class _Reset:
    host: str
    port: int | str
    after: int
    used: bool = False


#: One end of a stream: (host, port), or (host, path) for a Unix socket
#: (the path "" for a client's unnamed end, as the socket module says).
_End = tuple[str, Any]


@dataclass
class _Listener:
    server: SimServer
    factory: ProtocolFactory
    #: TLS (``create_server(ssl=...)``): the context and asyncio's two timeouts.
    ssl: ssl_module.SSLContext | None = None
    handshake_timeout: float | None = None
    shutdown_timeout: float | None = None


@dataclass
class _Flow:
    """One direction of one connection: what is in flight, in order."""

    link: Link
    last_arrival: float = -math.inf
    #: The turns after its arrival time the last delivery lands (see _deliver).
    last_hops: int = 0
    hops_at: float = -math.inf
    sent: int = 0
    in_flight: int = 0
    reset_after: int | None = None
    eof_sent: bool = False


class SimNet:
    """An in-memory network: ``SimNet(seed=1, latency=0.05)`` is a whole one.

    ``latency`` is the default one-way delay of every link (seconds);
    ``link(a, b, latency=..., bandwidth=...)`` sets one pair's.  ``chunked``
    makes the network deliver each write in pieces of random sizes (seeded),
    as real TCP may.  ``jitter`` adds a random delay of up to that many
    seconds to each write (seeded; a connection's bytes still arrive in
    order, but two connections' may arrive either way round) and to each
    datagram.  ``loss``, ``duplicate`` and ``reorder`` are the chances
    (0 to 1, seeded) that a datagram is lost, arrives twice, or is held back
    so that later ones overtake it; TCP streams never see them (TCP hides
    them).  :meth:`host` gives a host's links their defaults and takes it
    down for a while.  Faults are scripted: :meth:`partition`,
    :meth:`reset_after`, :meth:`fail_dns`.  :meth:`stats` and ``faults`` say what happened.  A
    simnet serves one loop at a time; ``fresh()`` makes an unused copy with
    the same settings (exploration makes one per run).
    """

    def __init__(
        self,
        seed: int = 0,
        latency: float = 0.0,
        *,
        bandwidth: float | None = None,
        chunked: bool = False,
        jitter: float = 0.0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        explored: tuple[str, ...] = ("split",),
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        _check_delay("latency", latency)
        _check_delay("jitter", jitter)
        if bandwidth is not None:
            _check_rate(bandwidth)
        for name, chance in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            _check_chance(name, chance)
        self.seed = seed
        self.latency = float(latency)
        self.bandwidth = bandwidth
        self.chunked = bool(chunked)
        self.jitter = float(jitter)
        self.loss = float(loss)
        self.duplicate = float(duplicate)
        self.reorder = float(reorder)
        unknown = set(explored) - set(EXPLORED_FAULTS)
        if isinstance(explored, str) or unknown:
            raise ValueError(
                f"explored must be a tuple of {', '.join(EXPLORED_FAULTS)}, not {explored!r}"
            )
        #: The faults an exploration may inject, each a decision of its schedule.
        self.explored = tuple(explored)
        #: Per link direction, the settings ``link()`` gave (the rest are the network's).
        self._link_settings: dict[tuple[str, str], dict[str, float]] = {}
        #: Per host, the settings ``host()`` gave its links.
        self._host_settings: dict[str, dict[str, float]] = {}
        self._outages: list[_Outage] = []
        self._partitions: list[_Partition] = []
        self._resets: list[_Reset] = []
        self._dns_failures: set[str] = set()
        self._reset_state()

    def _reset_state(self) -> None:
        self.random = random.Random(self.seed)
        self._addresses: dict[str, str] = {"localhost": "127.0.0.1"}
        self._names: dict[str, str] = {"127.0.0.1": "localhost"}
        self._links: dict[tuple[str, str], Link] = {}
        self._listeners: dict[_End, _Listener] = {}
        #: Every stream end not yet lost (an outage resets those of its host).
        self._streams: set[SimTransport] = set()
        #: Unix socket paths whose server closed and left the file behind (see SimServer.close).
        self._stale_paths: set[tuple[str, str]] = set()
        #: Bound datagram endpoints by (host, port): UDP ports are apart from TCP's.
        self._datagram_ends: dict[tuple[str, int], SimDatagramTransport] = {}
        self._ports = itertools.count(_EPHEMERAL)
        #: What the network did on its own initiative, in words, in order.
        self.faults: list[str] = []
        #: Every delivery and connection event: (virtual time, what).
        self.log: list[tuple[float, str]] = []
        self.loop: SimLoop | None = None
        #: Set by an exploration: chunking then asks its choice source.
        self.choose: Callable[[str, int, str, Callable[[int], str]], int] | None = None

    def fresh(self) -> SimNet:
        """An unused network with this one's settings and faults (same seed)."""
        other = SimNet(
            self.seed,
            self.latency,
            bandwidth=self.bandwidth,
            chunked=self.chunked,
            jitter=self.jitter,
            loss=self.loss,
            duplicate=self.duplicate,
            reorder=self.reorder,
            explored=self.explored,
        )
        other._link_settings = {key: dict(value) for key, value in self._link_settings.items()}
        other._host_settings = {key: dict(value) for key, value in self._host_settings.items()}
        other._outages = [_Outage(o.host, o.start, o.end) for o in self._outages]
        other._partitions = [_Partition(p.a, p.b, p.start, p.end) for p in self._partitions]
        other._resets = [_Reset(r.host, r.port, r.after) for r in self._resets]
        other._dns_failures = set(self._dns_failures)
        return other

    # -- settings and faults ------------------------------------------------------

    def link(
        self,
        a: str,
        b: str,
        *,
        latency: float | None = None,
        bandwidth: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
        duplicate: float | None = None,
        reorder: float | None = None,
    ) -> None:
        """Set the link between hosts ``a`` and ``b`` (both directions).

        A setting left out keeps what the link had (at first, its hosts' or
        the network's default), so calls add up; they also change a link already in use,
        from the next write or datagram on.  ``bandwidth=math.inf`` makes one
        link unlimited on a network whose default is not.
        """
        settings = _checked_settings(
            latency=latency,
            bandwidth=bandwidth,
            jitter=jitter,
            loss=loss,
            duplicate=duplicate,
            reorder=reorder,
        )
        a, b = self.host_of(a), self.host_of(b)
        for key in ((a, b), (b, a)):
            self._link_settings.setdefault(key, {}).update(settings)
        self._refresh_links()

    def host(
        self,
        name: str,
        *,
        latency: float | None = None,
        bandwidth: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
        duplicate: float | None = None,
        reorder: float | None = None,
        down: tuple[float, float] | None = None,
    ) -> None:
        """Settings for every link to or from host ``name``, and when it is down.

        A host's settings are its links' defaults (what ``link()`` sets for a
        pair still comes first): a host on a slow or lossy line.  Where both
        ends of a link have one, the worse counts: the longer latency or
        jitter, the higher chance, the lower bandwidth.

        ``down=(start, end)`` takes the host off the network for that
        interval of virtual time (calls add up): at ``start`` its connections
        are reset (its end at once, the far end once the reset has crossed
        the link); meanwhile connecting to it is refused after a round trip,
        connecting from it fails with ENETUNREACH, and datagrams to or from
        it are dropped.  Its servers listen again once it is back up.  Unix
        sockets are local and stay up.
        """
        settings = _checked_settings(
            latency=latency,
            bandwidth=bandwidth,
            jitter=jitter,
            loss=loss,
            duplicate=duplicate,
            reorder=reorder,
        )
        key = self.host_of(name)
        self._host_settings.setdefault(key, {}).update(settings)
        self._refresh_links()
        if down is not None:
            if not isinstance(down, tuple) or len(down) != 2:
                raise TypeError(f"down must be a (start, end) tuple, not {down!r}")
            start, end = down
            _check_delay("start", start)
            if not isinstance(end, (int, float)) or not end > start:
                raise ValueError(f"end must be after start, not {end!r} <= {start!r}")
            outage = _Outage(key, float(start), float(end))
            self._outages.append(outage)
            if self.loop is not None:
                self._schedule_outage(outage)

    def partition(self, a: str, b: str, start: float = 0.0, end: float = math.inf) -> None:
        """Cut hosts ``a`` and ``b`` apart from virtual time ``start`` to ``end``.

        Bytes sent meanwhile wait (TCP retransmits) and arrive once it heals;
        a connection attempt waits too, so a caller's timeout decides.
        """
        _check_delay("start", start)
        if not end > start:
            raise ValueError(f"end must be after start, not {end!r} <= {start!r}")
        self._partitions.append(
            _Partition(self.host_of(a), self.host_of(b), float(start), float(end))
        )

    def reset_after(self, host: str, port: int | str, after: int) -> None:
        """Reset the next connection to ``host:port`` once ``after`` bytes of its reply arrived.

        ``port`` may be a Unix socket's path on ``host``.
        """
        if not isinstance(after, int) or after < 0:
            raise ValueError(f"after must be a number of bytes >= 0, not {after!r}")
        self._resets.append(_Reset(host, port, after))

    def fail_dns(self, name: str) -> None:
        """Make resolving ``name`` fail (socket.gaierror, as for an unknown name)."""
        self._dns_failures.add(name)

    def stats(self) -> dict[str, dict[str, int]]:
        """What each link direction carried (``"a -> b"``), for those that carried anything.

        Streams: bytes, chunks and writes; datagrams, when there were any:
        how many were sent, and of them lost (to a partition too),
        duplicated and reordered (held back).
        """
        stats: dict[str, dict[str, int]] = {}
        for (a, b), link in sorted(self._links.items()):
            entry: dict[str, int] = {}
            if link.writes:
                entry.update(bytes=link.bytes, chunks=link.chunks, writes=link.writes)
            if link.datagrams:
                entry.update(datagrams=link.datagrams, lost=link.lost)
                entry.update(duplicated=link.duplicated, reordered=link.reordered)
            if entry:
                stats[f"{a} -> {b}"] = entry
        return stats

    # -- names ----------------------------------------------------------------------

    def address_of(self, name: str) -> str:
        """The simulated address of host ``name`` (given on first use)."""
        name = _host_key(name)
        if _is_ip(name):
            return name
        address = self._addresses.get(name)
        if address is None:
            number = _ADDRESS_BASE + len(self._addresses)
            address = socket.inet_ntoa(number.to_bytes(4, "big"))
            self._addresses[name] = address
            self._names[address] = name
        return address

    def host_of(self, address: str) -> str:
        """The host an address or name stands for (its name if it has one)."""
        key = _host_key(address)
        return self._names.get(key, key)

    def resolve(self, host: str) -> str:
        key = _host_key(host)
        if key in self._dns_failures:
            self.faults.append(f"DNS failed for {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host!r}")
        return self.address_of(key)

    # -- the wire ----------------------------------------------------------------------

    def _link(self, a: str, b: str) -> Link:
        link = self._links.get((a, b))
        if link is None:
            link = self._links[(a, b)] = Link(self.latency)
            self._configure(link, a, b)
        return link

    def _configure(self, link: Link, a: str, b: str) -> None:
        """Give a link its settings: the network's, over them its hosts', over those its own."""
        values: dict[str, float] = {name: getattr(self, name) for name in _SETTINGS}
        values["bandwidth"] = math.inf if self.bandwidth is None else self.bandwidth
        hosts = [self._host_settings.get(host, {}) for host in {a, b}]
        for name in _SETTINGS:
            given = [settings[name] for settings in hosts if name in settings]
            if given:
                values[name] = min(given) if name == "bandwidth" else max(given)
        values.update(self._link_settings.get((a, b), {}))
        for name, value in values.items():
            setattr(link, name, None if value == math.inf else value)

    def _refresh_links(self) -> None:
        # Links in use take new settings from their next write or datagram on.
        for (a, b), link in self._links.items():
            self._configure(link, a, b)

    def _down(self, host: str, when: float) -> bool:
        return any(outage.covers(host, when) for outage in self._outages)

    def _schedule_outage(self, outage: _Outage) -> None:
        assert self.loop is not None
        self.loop.call_at(outage.start, self._go_down, outage)

    def _go_down(self, outage: _Outage) -> None:
        """The host leaves the network: its connections are reset, both ends."""
        assert self.loop is not None
        now = self.loop.time()
        ends = sorted(
            (
                end
                for end in self._streams
                if not isinstance(end._local[1], str)  # Unix sockets are local
                and end._local[0] == outage.host
            ),
            key=lambda end: end._label,  # a set's order is not a seed's
        )
        self.faults.append(
            f"{outage.host} was down from {outage.start:g} s to {outage.end:g} s: "
            f"its connections reset ({len(ends)})"
        )
        for end in ends:
            end._reset()
            peer = end.peer
            if peer is not None and not peer._lost:
                # The far end hears of it when the reset has crossed the link.
                when = now + self._link(outage.host, peer._local[0]).latency
                self.loop.call_at(when, peer._reset, context=peer.context)

    def _arrival(self, a: str, b: str, sent: float, size: int, flow: _Flow | None) -> float:
        """When ``size`` bytes sent at ``sent`` from ``a`` reach ``b`` (inf: never)."""
        link = self._link(a, b)
        when = sent + link.latency
        if link.bandwidth is not None:
            when += size / link.bandwidth
        for cut in self._partitions:
            if cut.cuts(a, b, sent) or cut.cuts(a, b, when):
                when = max(when, cut.end + link.latency)
        if flow is not None:
            when = max(when, flow.last_arrival)  # in order within a connection
            flow.last_arrival = when
        return when

    def _pieces(self, data: bytes, label: str) -> list[bytes]:
        """The chunks a write arrives in: whole, unless the network splits it."""
        if len(data) < 2:
            return [data]
        choose = self.choose
        if choose is not None and "split" in self.explored:
            points = _split_points(len(data))
            cut = choose(
                "net-split",
                len(points) + 1,
                label,
                lambda value: f"{label} was split after byte {points[value - 1]}",
            )
            if not cut:
                return [data]
            at = points[cut - 1]
            return [data[:at], *self._pieces(data[at:], label)]
        if choose is not None or not self.chunked:
            return [data]
        pieces = []
        rest = data
        while len(rest) > 1 and self.random.random() < 0.5:
            at = self.random.randrange(1, len(rest))
            pieces.append(rest[:at])
            rest = rest[at:]
        pieces.append(rest)
        if len(pieces) > 1:
            self.faults.append(f"{label}: {len(data)} bytes arrived as {len(pieces)} chunks")
        return pieces

    def _datagram_arrivals(self, a: str, b: str, size: int, label: str) -> list[float]:
        """When the copies of a datagram sent now from ``a`` reach ``b``: none if it is lost.

        UDP does not retransmit: a partition at either end of its flight
        drops it, where TCP's bytes would wait.  Under an exploration the
        explored faults ("loss", "duplicate", "delay") are decisions of the
        schedule, and the seeded chances stay out of it (as ``chunked``).
        """
        assert self.loop is not None
        link = self._link(a, b)
        link.datagrams += 1
        now = self.loop.time()
        when = now + link.latency + (size / link.bandwidth if link.bandwidth else 0.0)
        copies = 1
        choose = self.choose
        if choose is not None:
            if "loss" in self.explored and choose("net-loss", 2, label, _says(f"{label} was lost")):
                return self._lose(link, f"{label} was lost")
            if "duplicate" in self.explored:
                copies += choose("net-duplicate", 2, label, _says(f"{label} arrived twice"))
        else:
            # Only the chances that are set draw: a network without them
            # makes the same draws (so the same chunks) as before they existed.
            if link.loss and self.random.random() < link.loss:
                return self._lose(link, f"{label} was lost")
            if link.reorder and self.random.random() < link.reorder:
                # Held back one to two latencies (at least a millisecond, so
                # that on a link without latency it is still overtaken).
                hold = max(link.latency, 0.001) * self.random.uniform(1.0, 2.0)
                when += hold
                link.reordered += 1
                self.faults.append(f"{label} was held back {hold:.3g} s (reordered)")
            if link.duplicate and self.random.random() < link.duplicate:
                copies = 2
        when += self._extra_delay(link, label)
        if self._apart(a, b, now, when):
            return self._lose(link, f"{label} was dropped: {a} and {b} are cut apart")
        for host, at in ((a, now), (b, when)):
            if self._down(host, at):
                return self._lose(link, f"{label} was dropped: {host} was down")
        if copies > 1:
            link.duplicated += 1
            self.faults.append(f"{label} arrived twice")
        return [when] * copies

    def _extra_delay(self, link: Link, label: str) -> float:
        """What a write or a datagram takes beyond its link's latency.

        The link's jitter, seeded; under an exploration, the "delay" decision
        instead (jitter's explored form: a delay is what reorders two
        connections, or two datagrams), and none when it is not explored.
        """
        choose = self.choose
        if choose is None:
            # Drawn only on a jittery link: without jitter, the same draws
            # (so the same chunks and faults) as before jitter existed.
            return self.random.uniform(0.0, link.jitter) if link.jitter else 0.0
        if "delay" not in self.explored:
            return 0.0
        return _DELAYS[
            choose(
                "net-delay",
                len(_DELAYS),
                label,
                lambda value: f"{label} was delayed by {_DELAYS[value]:g} s",
            )
        ]

    def _apart(self, a: str, b: str, *times: float) -> bool:
        """Whether a partition cuts ``a`` from ``b`` at any of ``times``."""
        return any(cut.cuts(a, b, when) for cut in self._partitions for when in times)

    def _lose(self, link: Link, why: str) -> list[float]:
        link.lost += 1
        self.faults.append(why)
        return []

    def _send_datagram(
        self, sender: SimDatagramTransport, data: bytes, to: tuple[str, int]
    ) -> None:
        assert self.loop is not None
        loop = self.loop
        source, (host, port) = sender._local, to
        label = f"the datagram {source[0]}:{source[1]} -> {host}:{port} ({len(data)} bytes)"
        for when in self._datagram_arrivals(source[0], host, len(data), label):
            loop.call_at(when, self._land_datagram, data, source, to, sender, label)

    def _land_datagram(
        self,
        data: bytes,
        source: tuple[str, int],
        to: tuple[str, int],
        sender: SimDatagramTransport,
        label: str,
    ) -> None:
        assert self.loop is not None
        end = self._datagram_ends.get(to)
        if end is not None:
            self.log.append((self.loop.time(), f"{label} arrived"))
            end.context.run(end._receive, data, source)
            return
        self.log.append((self.loop.time(), f"{label}: nobody listens, port unreachable"))
        if sender._connected and not sender._closing:
            # The ICMP port-unreachable travels back over the network too.
            now = self.loop.time()
            back = now + self._link(to[0], source[0]).latency
            if not self._apart(to[0], source[0], now, back):
                self.loop.call_at(back, sender._refused, context=sender.context)

    def _take_reset(self, host: str, port: int | str) -> int | None:
        for reset in self._resets:
            if not reset.used and _host_key(reset.host) == host and reset.port == port:
                reset.used = True
                return reset.after
        return None


#: The faults an exploration may inject (``SimNet(explored=...)``): "loss" and
#: "duplicate" are datagrams'; "delay" holds back stream writes and datagrams.
EXPLORED_FAULTS = ("split", "delay", "reset", "loss", "duplicate")
#: The extra delays a "delay" decision chooses among (seconds; 0 first).
_DELAYS = (0.0, 0.1, 1.0, 10.0)


def _says(text: str) -> Callable[[int], str]:
    return lambda _value: text


def _split_points(size: int) -> list[int]:
    """Where a split of ``size`` bytes may fall: the first bytes (headers, length
    prefixes), powers of two, the middle and the last byte: the boundaries
    framing bugs live on, a handful of options rather than one per byte."""
    points = {1, 2, 3, 4, size // 2, size - 1}
    power = 8
    while power < size:
        points.add(power)
        power *= 2
    return sorted(point for point in points if 0 < point < size)


def _host_key(host: str) -> str:
    return host.lower().rstrip(".")


def _is_ip(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return True
    return False


def _check_delay(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


def _checked_settings(**given: float | None) -> dict[str, float]:
    """A link's or a host's settings, the ones given, checked."""
    settings: dict[str, float] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name in ("latency", "jitter"):
            _check_delay(name, value)
        elif name == "bandwidth":
            _check_rate(value)
        else:
            _check_chance(name, value)
        settings[name] = float(value)
    return settings


def _check_chance(name: str, value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a probability, not {type(value).__name__}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability from 0 to 1, not {value!r}")


def _check_rate(value: object) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"bandwidth must be a number of bytes per second > 0, not {value!r}")


# -- the transport -------------------------------------------------------------------------


class SimTransport(asyncio.Transport):
    """One end of a simulated TCP connection.

    TLS rides on it as on a socket's transport: glassloop's ``TLSProtocol``
    becomes its protocol (``ssl=``, ``loop.start_tls``), so the records, and
    the handshake's round trips, cross the simulated network.
    """

    # loop.start_tls accepts it, as asyncio's socket transports.
    _start_tls_compatible = True

    def __init__(
        self,
        loop: SimLoop,
        net: SimNet,
        local: _End,
        remote: _End,
        label: str,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._net = net
        self._local = local
        self._remote = remote
        self._label = label
        #: The context this end's protocol is called in (its host's, see
        #: current_host), also for deliveries the other end schedules.
        self.context = contextvars.copy_context()
        self._protocol: asyncio.BaseProtocol | None = None
        self.peer: SimTransport | None = None
        self._out: _Flow | None = None
        self._closing = False
        self._lost = False
        self._reading = True
        self._pending: collections.deque[bytes | None] = collections.deque()  # None: EOF
        self._writing_paused = False
        self._high = HIGH_WATER
        self._low = LOW_WATER
        self._eof_received = False
        #: The server that accepted this end, which waits for it in wait_closed.
        self.server: SimServer | None = None
        #: The socket object a library made for this end (never used): closed with it.
        self.socket: Any = None
        self._face: SimSocket | None = None
        net._streams.add(self)

    # -- BaseTransport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        local: Any
        remote: Any
        if isinstance(self._local[1], str):  # a Unix socket's ends are paths
            local, remote, family = self._local[1], self._remote[1], socket.AF_UNIX
        else:
            local = (self._net.address_of(self._local[0]), self._local[1])
            remote = (self._net.address_of(self._remote[0]), self._remote[1])
            family = socket.AF_INET
        if name == "socket":
            if self._face is None:
                self._face = SimSocket(local, remote, family=family)
            return self._face
        return {"peername": remote, "sockname": local}.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._send_eof()
        self._loop.call_soon(self._connection_lost, None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    # -- ReadTransport

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        self._loop.call_soon(self._drain_pending)

    # -- WriteTransport

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high, self._low = check_write_limits(high, low, HIGH_WATER)
        self._check_writing()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        out = self._out
        queued = 0 if out is None else out.in_flight
        return max(0, queued - WINDOW)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        check_bytes_like(data)
        if self._out is not None and self._out.eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data or self._closing or self._lost:
            return
        self._send(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._lost:
            return
        self._send_eof()

    def abort(self) -> None:
        if self._lost:
            return
        self._closing = True
        peer = self.peer
        if peer is not None and not peer._lost:
            arrival = self._net._arrival(
                self._local[0], self._remote[0], self._loop.time(), 0, self._out
            )
            self._deliver(arrival, _RESET, 1)
        self._loop.call_soon(self._connection_lost, None)

    # -- the wire

    def _send(self, data: bytes) -> None:
        out = self._out
        assert out is not None and self.peer is not None
        net = self._net
        out.link.writes += 1
        now = self._loop.time()
        label = f"the data {self._label} sent"
        choose = net.choose
        if choose is not None:
            if "reset" in net.explored and choose(
                "net-reset",
                2,
                label,
                _says(f"the connection {self._label} was reset after byte {out.sent}"),
            ):
                out.reset_after = out.sent
        # Jitter (or an explored delay) holds the whole write back; _arrival
        # keeps it behind what this connection sent before.
        now += net._extra_delay(out.link, label)
        for hops, piece in enumerate(net._pieces(data, label)):
            if out.reset_after is not None and out.sent + len(piece) > out.reset_after:
                keep = piece[: out.reset_after - out.sent]
                if keep:
                    self._schedule(keep, now, hops)
                net.faults.append(
                    f"the connection {self._label} was reset after byte {out.reset_after}"
                )
                arrival = net._arrival(self._local[0], self._remote[0], now, 0, out)
                self._deliver(arrival, _RESET, hops + 1)
                self._loop.call_at(arrival, self._reset_soon)
                out.reset_after = None
                return
            self._schedule(piece, now, hops)
        self._check_writing()

    def _schedule(self, piece: bytes, now: float, hops: int = 0) -> None:
        """Send ``piece``; the ``hops``-th piece of a split write lands that many turns later.

        The pieces of one write arrive at one virtual time, but as separate
        packets: a real loop reads them on separate polls, and the reader's
        task runs in between (that is what makes a split matter).
        """
        out = self._out
        assert out is not None and self.peer is not None
        arrival = self._net._arrival(self._local[0], self._remote[0], now, len(piece), out)
        out.sent += len(piece)
        out.in_flight += len(piece)
        out.link.bytes += len(piece)
        out.link.chunks += 1
        self._deliver(arrival, piece, hops)

    def _deliver(self, arrival: float, item: Any, hops: int) -> None:
        """Land ``item`` (bytes, None for EOF, or _RESET) at the peer at ``arrival``.

        It lands ``hops`` turns after the timer fires, and never before what
        this connection delivered earlier at the same time: a later packet
        is read on a later (or the same) poll, never an earlier one.
        """
        out = self._out
        peer = self.peer
        if out is None or peer is None or arrival == math.inf:
            return
        if arrival == out.hops_at:
            hops = max(hops, out.last_hops)
        out.hops_at, out.last_hops = arrival, hops
        self._loop.call_at(arrival, peer._hop, item, hops, context=peer.context)

    def _hop(self, item: Any, hops: int) -> None:
        if hops:
            self._loop.call_soon(self._hop, item, hops - 1, context=self.context)
        elif item is _RESET:
            self._reset()
        else:
            self._arrive(item)

    def _send_eof(self) -> None:
        out = self._out
        if out is None or out.eof_sent or self.peer is None:
            return
        out.eof_sent = True
        arrival = self._net._arrival(self._local[0], self._remote[0], self._loop.time(), 0, out)
        self._deliver(arrival, None, 0)

    def _arrive(self, piece: bytes | None) -> None:
        if self._lost:
            return
        self._net.log.append((self._loop.time(), f"{self._label} <- {_show(piece)}"))
        self._pending.append(piece)
        self._drain_pending()

    def _drain_pending(self) -> None:
        protocol = self._protocol
        while self._pending and self._reading and not self._lost and protocol is not None:
            piece = self._pending.popleft()
            sender = self.peer
            if piece is None:
                self._eof_received = True
                keep_open = protocol.eof_received()  # type: ignore[attr-defined]
                if not keep_open:
                    self.close()
                return
            if sender is not None and sender._out is not None:
                sender._out.in_flight -= len(piece)
                sender._check_writing()
            try:
                if isinstance(protocol, asyncio.BufferedProtocol):
                    _feed_buffered(protocol, piece)
                else:
                    protocol.data_received(piece)  # type: ignore[attr-defined]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": "Fatal error: protocol.data_received() call failed.",
                        "exception": exc,
                        "transport": self,
                        "protocol": protocol,
                    }
                )
                self.abort()
                return

    def _check_writing(self) -> None:
        protocol = self._protocol
        if protocol is None:
            return
        size = self.get_write_buffer_size()
        if not self._writing_paused and size > self._high:
            self._writing_paused = True
            protocol.pause_writing()
        elif self._writing_paused and size <= self._low:
            self._writing_paused = False
            protocol.resume_writing()

    def _reset_soon(self) -> None:
        # A reset is a packet of its own: a real loop sees it on a later poll
        # than the bytes before it, after the callbacks those bytes queued (a
        # stream reader's waiter) have run.
        self._loop.call_soon(self._reset)

    def _reset(self) -> None:
        if self._lost:
            return
        self._closing = True
        self._connection_lost(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._net._streams.discard(self)
        self._net.log.append((self._loop.time(), f"{self._label} lost ({exc!r})"))
        try:
            if self._protocol is not None:
                self._protocol.connection_lost(exc)
        finally:
            if self.socket is not None:
                self.socket.close()
            if self.server is not None:
                self.server._forget(self)


#: What _deliver lands for a reset (a packet of its own, after the bytes before it).
_RESET = object()


def _feed_buffered(protocol: asyncio.BufferedProtocol, piece: bytes) -> None:
    view = memoryview(piece)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        if not size:
            raise RuntimeError("get_buffer() returned an empty buffer")
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]


def _show(piece: bytes | None) -> str:
    return "EOF" if piece is None else f"{len(piece)} bytes"


# -- datagrams --------------------------------------------------------------------------------

#: The largest UDP payload over IPv4; a larger one is refused with EMSGSIZE.
MAX_DATAGRAM = 65507
#: After this many sends on a lost endpoint, each one is logged (asyncio's threshold).
_LOG_SENDS_AFTER_LOSS = 5


class SimDatagramTransport(asyncio.DatagramTransport):
    """A simulated UDP endpoint: what ``create_datagram_endpoint`` gives on a SimNet.

    The simulation never fills a send buffer, so datagrams leave at once and
    the write buffer stays empty; what can go wrong is what the network does
    (loss, duplication, reordering, partitions) and what the peer's kernel
    answers: a connected endpoint hears ``ConnectionRefusedError`` through
    ``error_received`` when nobody listens at its peer's port (Linux reports
    the ICMP error on connected sockets only).
    """

    def __init__(
        self,
        loop: SimLoop,
        net: SimNet,
        local: tuple[str, int],
        remote: tuple[str, int] | None,
        connected: bool,
        protocol: asyncio.BaseProtocol,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._net = net
        self._local = local  # (host name, port)
        #: The resolved peer address sendto() defaults to (and insists on), as asyncio's.
        self._address = None if remote is None else (net.address_of(remote[0]), remote[1])
        self._remote = remote
        self._connected = connected
        self._protocol = protocol
        self._closing = False
        self._lost = False
        self._sends_after_loss = 0
        self._high = HIGH_WATER
        self._low = LOW_WATER
        self._face: SimSocket | None = None
        #: Its protocol runs as code of its host (see current_host).
        self.context = contextvars.copy_context()
        self.context.run(current_host.set, local[0])

    def __repr__(self) -> str:
        state = " closed" if self._closing else ""
        return f"<SimDatagramTransport {self._local[0]}:{self._local[1]}{state}>"

    # -- BaseTransport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        local = (self._net.address_of(self._local[0]), self._local[1])
        peer = self._address if self._connected else None
        if name == "socket":
            if self._face is None:
                self._face = SimSocket(local, peer, kind=socket.SOCK_DGRAM)
            return self._face
        return {"sockname": local, "peername": peer}.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        # Nothing is ever queued, so closing is at once (no flush to wait for).
        self._unbind()
        self._loop.call_soon(self._connection_lost, None, context=self.context)

    def abort(self) -> None:
        self.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # -- flow control (asyncio's datagram transports have it; here nothing queues)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high, self._low = check_write_limits(high, low, HIGH_WATER)

    # -- sending

    def sendto(self, data: Any, addr: Any = None) -> None:
        check_bytes_like(data)
        if self._address is not None:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._lost:
            # As asyncio: dropped, and logged once it keeps happening.
            self._sends_after_loss += 1
            if self._sends_after_loss >= _LOG_SENDS_AFTER_LOSS:
                logger.warning("socket.send() raised exception.")
            return
        try:
            to = self._destination(addr)
        except OSError as exc:
            # What the socket call raises (an unknown name) goes to the
            # protocol; the endpoint lives on.
            self._protocol.error_received(exc)  # type: ignore[attr-defined]
            return
        except (TypeError, ValueError, OverflowError) as exc:
            # A malformed address is a bug, not the network: asyncio reports
            # it to the exception handler and closes the endpoint with it.
            self._fatal(exc, "Fatal write error on datagram transport")
            return
        if len(data) > MAX_DATAGRAM:
            self._protocol.error_received(  # type: ignore[attr-defined]
                OSError(errno.EMSGSIZE, os.strerror(errno.EMSGSIZE))
            )
            return
        self._net._send_datagram(self, bytes(data), to)

    def _destination(self, addr: Any) -> tuple[str, int]:
        """The (host name, port) ``addr`` names, with the socket module's complaints."""
        if not isinstance(addr, tuple):
            raise TypeError(f"sendto(): AF_INET address must be tuple, not {type(addr).__name__}")
        if len(addr) != 2:
            raise TypeError("AF_INET address must be a pair (host, port)")
        host, port = addr
        if not isinstance(host, str):
            raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if not 0 <= port <= 65535:
            raise OverflowError("sendto(): port must be 0-65535.")
        return self._net.host_of(self._net.resolve(host)), port

    # -- receiving

    def _receive(self, data: bytes, source: tuple[str, int]) -> None:
        if self._closing:
            return
        if self._connected and source != self._remote:
            return  # a connected socket's kernel takes datagrams from its peer only
        address = (self._net.address_of(source[0]), source[1])
        self._protocol.datagram_received(data, address)  # type: ignore[attr-defined]

    def _refused(self) -> None:
        if not self._closing:
            self._protocol.error_received(  # type: ignore[attr-defined]
                ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
            )

    # -- ending

    def _fatal(self, exc: Exception, message: str) -> None:
        self._loop.call_exception_handler(
            {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
        )
        if not self._closing:
            self._closing = True
            self._unbind()
            self._loop.call_soon(self._connection_lost, exc, context=self.context)

    def _unbind(self) -> None:
        if self._net._datagram_ends.get(self._local) is self:
            del self._net._datagram_ends[self._local]

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._net.log.append((self._loop.time(), f"{self!r} lost ({exc!r})"))
        self._protocol.connection_lost(exc)


# -- the server ------------------------------------------------------------------------------


class SimSocket:
    """A simulated socket's face: what ``server.sockets`` and ``get_extra_info("socket")`` give.

    Libraries read addresses from it (anyio, uvicorn) and set options on it
    (aiohttp's TCP_NODELAY): options are remembered, nothing is real, and
    its ``fileno()`` is -1.
    """

    family = socket.AF_INET
    type = socket.SOCK_STREAM
    proto = socket.IPPROTO_TCP

    def __init__(
        self,
        address: Any,
        peer: Any = None,
        *,
        kind: socket.SocketKind = socket.SOCK_STREAM,
        family: socket.AddressFamily = socket.AF_INET,
    ) -> None:
        self._address = address
        self._peer = peer
        self._options: dict[tuple[int, int], Any] = {}
        if kind == socket.SOCK_DGRAM:
            self.type = kind
            self.proto = socket.IPPROTO_UDP
        if family != socket.AF_INET:
            self.family = family
            self.proto = 0

    def getsockname(self) -> Any:
        return self._address

    def getpeername(self) -> Any:
        if self._peer is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return self._peer

    def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
        self._options[(level, option)] = value

    def getsockopt(self, level: int, option: int, *rest: Any) -> Any:
        return self._options.get((level, option), 0)

    def fileno(self) -> int:
        return -1

    def __repr__(self) -> str:
        if isinstance(self._address, str):
            return f"<SimSocket {self._address!r}>"
        return f"<SimSocket {self._address[0]}:{self._address[1]}>"


class SimServer(asyncio.AbstractServer):
    """A listening simulated host:port (or several), or a Unix socket's path on a host."""

    def __init__(
        self, loop: SimLoop, net: SimNet, addresses: list[_End], leaves_file: bool = False
    ) -> None:
        self._loop = loop
        self._net = net
        self._addresses = addresses
        #: A Unix server whose socket file outlives it (asyncio before 3.13,
        #: or cleanup_socket=False): connecting then is refused, not "no such file".
        self._leaves_file = leaves_file
        self._serving = False
        self._closed = False
        self._transports: list[SimTransport] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._serving_forever: asyncio.Future[None] | None = None

    @property
    def sockets(self) -> tuple[SimSocket, ...]:
        if self._closed:
            return ()
        return tuple(
            SimSocket(p, family=socket.AF_UNIX)
            if isinstance(p, str)
            else SimSocket((self._net.address_of(h), p))
            for h, p in self._addresses
        )

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        self._serving = True

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        await self.start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._serving = False
        listeners = self._net._listeners
        for address in self._addresses:
            listener = listeners.get(address)
            if listener is None or listener.server is not self:
                continue  # another Unix server took the path over (see create_unix_server)
            del listeners[address]
            if self._leaves_file:
                self._net._stale_paths.add(address)
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._wake()

    def close_clients(self) -> None:
        for transport in list(self._transports):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._transports):
            transport.abort()

    def _forget(self, transport: SimTransport) -> None:
        if transport in self._transports:
            self._transports.remove(transport)
        self._wake()

    def _wake(self) -> None:
        if self._closed and not self._transports:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    async def wait_closed(self) -> None:
        if not self._closed or not self._transports:
            if self._closed:
                return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        self._wake()
        await waiter

    def __repr__(self) -> str:
        where = ", ".join(f"{h}:{p}" for h, p in self._addresses)  # a path, for Unix
        return f"<SimServer {where}{' closed' if self._closed else ''}>"


# -- the loop ------------------------------------------------------------------------------------


def _refuse(name: str) -> Callable[..., Any]:
    def refused(self: SimLoop, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"loop.{name}() is not simulated on a loop with a SimNet (glassloop.testing.simnet): "
            "it would use a real socket"
        )

    refused.__name__ = name
    return refused


class SimLoop(Loop):
    """A glassloop loop whose networking goes through a :class:`SimNet`."""

    def __init__(self, network: SimNet, **seams: Any) -> None:
        if network.loop is not None:  # first: a refused loop leaves nothing open
            raise RuntimeError("this SimNet already serves a loop: use net.fresh() for another run")
        super().__init__(**seams)
        network.loop = self
        self.network = network
        for outage in network._outages:
            network._schedule_outage(outage)
        #: Socket objects "connected" by sock_connect, to their client ends.
        self._connected: weakref.WeakKeyDictionary[Any, SimTransport] = weakref.WeakKeyDictionary()

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        if host is None:
            host = "localhost"
        if isinstance(host, bytes):
            host = host.decode("idna")
        address = self.network.resolve(str(host))
        number = _port_number(port)
        kinds = [socket.SOCK_STREAM] if type in (0, socket.SOCK_STREAM) else [type]
        return [(socket.AF_INET, kind, socket.IPPROTO_TCP, "", (address, number)) for kind in kinds]

    async def create_connection(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        sock: Any = None,
        local_addr: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        **options: Any,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        if ssl and server_hostname is None:
            if host is None:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        context = ssl_context_for(ssl, server_side=False)
        if sock is not None:
            if host is not None or port is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            # A socket object the caller made (aiohttp's happy eyeballs) and
            # "connected" with sock_connect: never used for real.
            client = self._connected.pop(sock, None)
            if client is None:
                raise NotImplementedError(
                    "sock= must be a socket connected with loop.sock_connect on this loop: "
                    "a real socket cannot join a SimNet"
                )
            client.socket = sock
        else:
            if host is None or port is None:
                raise ValueError("host and port was not specified and no sock specified")
            client = await self._connect(host, port, local_addr)
        return await self._open(
            client,
            protocol_factory,
            context,
            server_hostname,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )

    async def _open(
        self,
        client: SimTransport,
        protocol_factory: ProtocolFactory,
        context: ssl_module.SSLContext | None,
        server_hostname: str | None,
        handshake_timeout: float | None,
        shutdown_timeout: float | None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """Give a connected client end to its protocol, through TLS when there is a context.

        With TLS the protocol hears ``connection_made`` once the handshake is
        done, and a failed handshake raises here, as with asyncio.
        """
        tls = None
        try:
            protocol = protocol_factory()
            if context is None:
                client.set_protocol(protocol)
                protocol.connection_made(client)
            else:
                waiter: asyncio.Future[None] = self.create_future()
                tls = TLSProtocol(
                    self,
                    protocol,
                    context,
                    waiter,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=handshake_timeout,
                    ssl_shutdown_timeout=shutdown_timeout,
                )
                client.set_protocol(tls)
                tls.connection_made(client)
        except BaseException:
            client.close()  # the server sees the connection end, nothing hangs
            raise
        # Bytes the server sent at once may have arrived with the SYN-ACK.
        self.call_soon(client._drain_pending, context=client.context)
        self.network.log.append((self.time(), f"{client._label} connected"))
        if tls is None:
            return client, protocol
        transport = tls.app_transport  # before the wait: a lost connection lets go of it
        try:
            await waiter
        except BaseException:
            client.close()
            raise
        return transport, protocol

    async def sock_connect(self, sock: Any, address: Any) -> None:
        """Simulated for the socket objects libraries make before create_connection(sock=)."""
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError(f"address must be a (host, port) tuple, not {address!r}")
        local = None
        with contextlib.suppress(OSError):
            name = sock.getsockname()
            if isinstance(name, tuple) and name[1]:
                local = (name[0], name[1])
        self._connected[sock] = await self._connect(address[0], address[1], local)

    async def _connect(
        self, host: str, port: Any, local_addr: tuple[str, int] | None
    ) -> SimTransport:
        """The handshake: the SYN travels, the listener (if any) accepts, the SYN-ACK returns."""
        net = self.network
        address = net.resolve(host)
        server_host = net.host_of(address)
        number = _port_number(port)
        if local_addr is not None:
            client_host = net.host_of(local_addr[0])
        else:
            client_host = current_host.get() or CLIENT_HOST
        client_port = next(net._ports) if not local_addr or not local_addr[1] else local_addr[1]
        now = self.time()
        if net._down(client_host, now):
            net.faults.append(
                f"{client_host} is down: its connect to {server_host}:{number} failed"
            )
            raise OSError(errno.ENETUNREACH, os.strerror(errno.ENETUNREACH))
        there = net._arrival(client_host, server_host, now, 0, None)
        if there == math.inf:
            await self.create_future()  # partitioned forever: the caller's timeout decides
        await asyncio.sleep(max(0.0, there - now))
        listener = net._listeners.get((server_host, number))
        label = f"{client_host}:{client_port} -> {server_host}:{number}"
        back = net._arrival(server_host, client_host, self.time(), 0, None)
        down = net._down(server_host, self.time())
        if down:
            net.faults.append(f"{server_host} is down: it refused {label}")
        if down or listener is None or not listener.server.is_serving():
            net.log.append((self.time(), f"{label} refused"))
            await asyncio.sleep(max(0.0, back - self.time()))
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"Connect call failed ({address!r}, {number})"
            )
        client = self._join(listener, (client_host, client_port), (server_host, number), label)
        await asyncio.sleep(max(0.0, back - self.time()))
        return client

    def _join(
        self, listener: _Listener, client_end: _End, server_end: _End, label: str
    ) -> SimTransport:
        """The two ends of a connection the listener accepts; the client's is returned."""
        net = self.network
        client = SimTransport(self, net, client_end, server_end, f"{label} (client)")
        server = SimTransport(self, net, server_end, client_end, f"{label} (server)")
        client.peer, server.peer = server, client
        client._out = _Flow(net._link(client_end[0], server_end[0]))
        server._out = _Flow(
            net._link(server_end[0], client_end[0]), reset_after=net._take_reset(*server_end)
        )
        listener.server._transports.append(server)
        server.server = listener.server
        net.log.append((self.time(), f"{label} accepted"))
        server.context = contextvars.Context()
        server.context.run(current_host.set, server_end[0])
        server.context.run(self._accept, server, listener)
        return client

    def _accept(self, server: SimTransport, listener: _Listener) -> None:
        """Give an accepted end to a new protocol of its server, through TLS if it serves TLS.

        What fails here is the server's business, as with asyncio's servers:
        the handler hears of it and the connection is closed; the client's
        connect does not raise it.
        """
        try:
            protocol = listener.factory()
            if listener.ssl is None:
                server.set_protocol(protocol)
                protocol.connection_made(server)
                return
            handshake: asyncio.Future[None] = self.create_future()
            handshake.add_done_callback(self._handshake_done)
            tls = TLSProtocol(
                self,
                protocol,
                listener.ssl,
                handshake,
                server_side=True,
                ssl_handshake_timeout=listener.handshake_timeout,
                ssl_shutdown_timeout=listener.shutdown_timeout,
            )
            server.set_protocol(tls)
            tls.connection_made(server)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            report_incoming_failure(self, exc)
            server.close()

    def _handshake_done(self, handshake: asyncio.Future[None]) -> None:
        # TLSProtocol has already dropped the connection if the handshake failed.
        if not handshake.cancelled() and (exc := handshake.exception()) is not None:
            report_incoming_failure(self, exc)

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: Any = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        sock: Any = None,
        start_serving: bool = True,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        **options: Any,
    ) -> SimServer:
        context = _server_context(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            raise NotImplementedError("sock= is a real socket: not on a loop with a SimNet")
        net = self.network
        hosts = [host] if host is None or isinstance(host, str) else list(host)
        number = _port_number(port)
        if number == 0:
            number = next(net._ports)
        addresses: list[tuple[str, int]] = []
        for name in hosts:
            key = _bound_host(net, name)
            if (key, number) in net._listeners:
                raise OSError(
                    errno.EADDRINUSE,
                    f"[Errno {errno.EADDRINUSE}] error while attempting to bind on address "
                    f"({net.address_of(key)!r}, {number}): address already in use",
                )
            addresses.append((key, number))
        listener = _Listener(
            SimServer(self, net, addresses),
            protocol_factory,
            context,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        return await self._listen(listener, start_serving)

    async def _listen(self, listener: _Listener, start_serving: bool) -> SimServer:
        """Put a new server's listener at each of its addresses (TCP's, or a Unix path)."""
        server = listener.server
        for address in server._addresses:
            self.network._listeners[address] = listener
        if start_serving:
            await server.start_serving()
        return server

    async def create_datagram_endpoint(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        local_addr: Any = None,
        remote_addr: Any = None,
        *,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        reuse_port: bool | None = None,
        allow_broadcast: bool | None = None,
        sock: Any = None,
    ) -> tuple[asyncio.DatagramTransport, asyncio.BaseProtocol]:
        """A UDP endpoint on the simulation: bound at ``local_addr`` (or an
        ephemeral port of the caller's host), connected to ``remote_addr``
        when given (unless ``allow_broadcast``, as asyncio)."""
        if sock is not None:
            raise NotImplementedError("sock= is a real socket: not on a loop with a SimNet")
        if family == getattr(socket, "AF_UNIX", None):
            raise NotImplementedError("Unix datagram sockets are not simulated on a SimNet")
        if not (local_addr or remote_addr) and family == 0:
            raise ValueError("unexpected address family")
        for addr in (local_addr, remote_addr):
            if addr is not None and not (isinstance(addr, tuple) and len(addr) == 2):
                raise TypeError("2-tuple is expected")
        net = self.network
        remote = None
        if remote_addr:
            remote = (net.host_of(net.resolve(str(remote_addr[0]))), _port_number(remote_addr[1]))
        if local_addr:
            host = _bound_host(net, local_addr[0])
            port = _port_number(local_addr[1])
        else:
            host, port = current_host.get() or CLIENT_HOST, 0
        if port == 0:
            port = next(net._ports)
            while (host, port) in net._datagram_ends:
                port = next(net._ports)
        elif (host, port) in net._datagram_ends:
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
        protocol = protocol_factory()  # before binding: if it fails, nothing is bound
        transport = SimDatagramTransport(
            self, net, (host, port), remote, bool(remote) and not allow_broadcast, protocol
        )
        net._datagram_ends[(host, port)] = transport
        net.log.append((self.time(), f"{transport!r} bound"))
        waiter = self.create_future()
        self.call_soon(protocol.connection_made, transport, context=transport.context)
        self.call_soon(_set_unless_done, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def create_unix_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        path: Any = None,
        *,
        sock: Any = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
        cleanup_socket: bool = True,
    ) -> SimServer:
        """A Unix socket server at ``path`` on the calling code's host: a name, no file.

        As asyncio, binding a path a server already has takes it over (asyncio
        removes the socket file it finds there first); an abstract path
        (``"\\0..."``) is refused with EADDRINUSE instead.
        """
        context = _server_context(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            if path is not None:
                raise ValueError("path and sock can not be specified at the same time")
            raise NotImplementedError("sock= is a real socket: not on a loop with a SimNet")
        if path is None:
            raise ValueError("path was not specified, and no sock specified")
        net = self.network
        address = (current_host.get() or CLIENT_HOST, os.fsdecode(os.fspath(path)))
        abstract = address[1].startswith("\0")
        if abstract and address in net._listeners:
            raise OSError(errno.EADDRINUSE, f"Address {address[1]!r} is already in use")
        net._stale_paths.discard(address)
        leaves_file = not abstract and not (cleanup_socket and sys.version_info >= (3, 13))
        listener = _Listener(
            SimServer(self, net, [address], leaves_file),
            protocol_factory,
            context,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        return await self._listen(listener, start_serving)

    async def create_unix_connection(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        path: Any = None,
        *,
        ssl: Any = None,
        sock: Any = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        """A stream to the Unix server at ``path`` on the calling code's own host.

        A Unix connect is local: it succeeds or fails at once (FileNotFoundError
        for a path nobody bound, ConnectionRefusedError for one nobody serves);
        the bytes then cross the host's link to itself, with its latency and
        faults (``net.link(host, host, latency=0)`` makes it instant).
        """
        check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
        if ssl and server_hostname is None:
            raise ValueError("you have to pass server_hostname when using ssl")
        context = ssl_context_for(ssl, server_side=False)
        if sock is not None:
            if path is not None:
                raise ValueError("path and sock can not be specified at the same time")
            raise NotImplementedError("sock= is a real socket: not on a loop with a SimNet")
        if path is None:
            raise ValueError("no path and sock were specified")
        net = self.network
        host = current_host.get() or CLIENT_HOST
        address = (host, os.fsdecode(os.fspath(path)))
        listener = net._listeners.get(address)
        label = f"{host} -> {host}:{address[1]}"
        if listener is None or not listener.server.is_serving():
            net.log.append((self.time(), f"{label} refused"))
            if listener is None and address not in net._stale_paths:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
            raise ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
        client = self._join(listener, (host, ""), address, label)
        return await self._open(
            client,
            protocol_factory,
            context,
            server_hostname,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )

    sock_accept = _refuse("sock_accept")
    connect_accepted_socket = _refuse("connect_accepted_socket")


def _server_context(
    ssl: Any, handshake_timeout: float | None, shutdown_timeout: float | None
) -> ssl_module.SSLContext | None:
    """A server's ``ssl=``, checked as asyncio checks it (``True`` is no context for a server)."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    check_ssl_arguments(ssl, None, handshake_timeout, shutdown_timeout)
    return ssl_context_for(ssl, server_side=True)


def _bound_host(net: SimNet, name: Any) -> str:
    """The host a bind address names; the wildcard addresses are ``localhost``, as for servers."""
    if name in (None, "", "0.0.0.0", "::"):
        return "localhost"
    if isinstance(name, bytes):
        name = name.decode("idna")
    key = net.host_of(str(name))
    net.address_of(key)
    return key


def _set_unless_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _port_number(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if not port.isdigit():
            try:
                return socket.getservbyname(port)
            except OSError:
                raise socket.gaierror(
                    socket.EAI_SERVICE, f"Servname not supported: {port!r}"
                ) from None
        port = int(port)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise OverflowError(f"port must be 0-65535, not {port!r}")
    return port
