"""The load side of the I/O rows: plain blocking/epoll sockets, no event loop.

It runs in its own process, the same code whichever loop the server runs on,
so the loop under test is alone in its process.  It is kept lean (one
reusable receive buffer, raw epoll for several connections, no asyncio)
because on a 2-core machine the client's own cost bounds the ratios the
suite can show.

Modes:

``echo``  open ``--conns`` connections (TCP or Unix), do one untimed round
          trip on each (the server is then surely running its handler), then
          time ``--rounds`` round trips of ``--size`` bytes on every
          connection, all connections in flight at once.  Prints
          ``{"elapsed": s, "round_trips": n}``.
``udp``   ``--rounds`` sequential datagram round trips of ``--size`` bytes.
``idle``  open ``--conns`` connections in batches; after each batch wait for
          the server's one-byte acknowledgement (so a connect storm never
          outruns the accept backlog), print ``{"connected": n}``, then keep
          them open until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import sys
from time import perf_counter

TIMEOUT = 30.0


def parse_address(family: str, address: str) -> tuple[int, str | tuple[str, int]]:
    if family == "unix":
        return socket.AF_UNIX, address
    host, _, port = address.rpartition(":")
    return socket.AF_INET, (host, int(port))


def connect(family: str, address: str) -> socket.socket:
    af, addr = parse_address(family, address)
    sock = socket.socket(af, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(addr)
    if af == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip_blocking(sock: socket.socket, message: bytes, buf: memoryview) -> bytes:
    """Send ``message`` and read back exactly as many bytes; return what came back."""
    sock.sendall(message)
    got = 0
    size = len(message)
    while got < size:
        n = sock.recv_into(buf[got:size])
        if not n:
            raise ConnectionError("server closed the connection mid-echo")
        got += n
    return bytes(buf[:size])


def echo(family: str, address: str, size: int, conns: int, rounds: int) -> dict[str, float]:
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    buf = memoryview(bytearray(max(size, 256 * 1024)))
    socks = [connect(family, address) for _ in range(conns)]
    for sock in socks:
        if round_trip_blocking(sock, message, buf) != message:
            raise AssertionError("the echo differs from what was sent")

    if conns == 1:
        sock = socks[0]
        start = perf_counter()
        for _ in range(rounds):
            sock.sendall(message)
            got = 0
            while got < size:
                n = sock.recv_into(buf)
                if not n:
                    raise ConnectionError("server closed the connection mid-echo")
                got += n
        elapsed = perf_counter() - start
    else:
        elapsed = echo_many(socks, message, buf, rounds)
    for sock in socks:
        sock.close()
    return {"elapsed": elapsed, "round_trips": conns * rounds}


def echo_many(socks: list[socket.socket], message: bytes, buf: memoryview, rounds: int) -> float:
    """All connections in flight at once, driven by one epoll; returns the elapsed time."""
    size = len(message)
    view = memoryview(message)
    ep = select.epoll(len(socks))
    by_fd: dict[int, socket.socket] = {}
    received: dict[int, int] = {}
    left: dict[int, int] = {}
    unsent: dict[int, memoryview] = {}
    for sock in socks:
        sock.setblocking(False)
        fd = sock.fileno()
        by_fd[fd] = sock
        received[fd] = 0
        left[fd] = rounds
    active = len(socks)
    IN, OUT = select.EPOLLIN, select.EPOLLOUT

    def send(fd: int, data: memoryview) -> None:
        try:
            n = by_fd[fd].send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            unsent[fd] = data[n:]
            ep.modify(fd, IN | OUT)

    start = perf_counter()
    for fd in by_fd:
        ep.register(fd, IN)
        send(fd, view)
    while active:
        events = ep.poll(TIMEOUT)
        if not events:
            raise TimeoutError(f"no echo for {TIMEOUT} s ({active} connections waiting)")
        for fd, mask in events:
            if mask & (select.EPOLLERR | select.EPOLLHUP) and not mask & IN:
                raise ConnectionError("the server reset the connection")
            if mask & OUT:
                rest = unsent.pop(fd)
                ep.modify(fd, IN)
                send(fd, rest)
            if mask & IN:
                try:
                    n = by_fd[fd].recv_into(buf)
                except BlockingIOError:
                    continue
                if not n:
                    raise ConnectionError("server closed the connection mid-echo")
                got = received[fd] + n
                if got < size:
                    received[fd] = got
                    continue
                received[fd] = 0
                left[fd] -= 1
                if left[fd]:
                    send(fd, view)
                else:
                    ep.unregister(fd)
                    active -= 1
    elapsed = perf_counter() - start
    ep.close()
    return elapsed


def udp(address: str, size: int, rounds: int) -> dict[str, float]:
    af, addr = parse_address("tcp", address)
    sock = socket.socket(af, socket.SOCK_DGRAM)
    sock.connect(addr)
    sock.settimeout(1.0)
    message = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    resent = 0

    def round_trip() -> bytes:
        nonlocal resent
        for _ in range(int(TIMEOUT)):
            sock.send(message)
            try:
                return sock.recv(65536)
            except TimeoutError:
                resent += 1  # a datagram was lost (rare on loopback): send it again
        raise TimeoutError(f"no UDP echo for {TIMEOUT} s")

    if round_trip() != message:
        raise AssertionError("the echo differs from what was sent")
    start = perf_counter()
    for _ in range(rounds):
        round_trip()
    elapsed = perf_counter() - start
    sock.close()
    return {"elapsed": elapsed, "round_trips": rounds, "resent": resent}


def idle(family: str, address: str, conns: int, batch: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < conns + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(conns + 64, hard), hard))
    socks: list[socket.socket] = []
    while len(socks) < conns:
        this_batch = [connect(family, address) for _ in range(min(batch, conns - len(socks)))]
        socks.extend(this_batch)
        # The server writes one byte on the connection that completes the batch.
        poller = select.poll()
        by_fd = {s.fileno(): s for s in this_batch}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        events = poller.poll(TIMEOUT * 1000)
        if not events:
            raise TimeoutError(f"server did not acknowledge {len(socks)} connections")
        for fd, _ in events:
            if by_fd[fd].recv(1) != b"k":
                raise ConnectionError("unexpected acknowledgement")
    print(json.dumps({"connected": len(socks)}), flush=True)
    sys.stdin.read()  # until the server has measured and closes our stdin
    for s in socks:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("echo", "udp", "idle"))
    parser.add_argument("--family", choices=("tcp", "unix"), default="tcp")
    parser.add_argument("--address", required=True, help="host:port, or a Unix socket path")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if args.mode == "echo":
        result = echo(args.family, args.address, args.size, args.conns, args.rounds)
        print(json.dumps(result), flush=True)
    elif args.mode == "udp":
        print(json.dumps(udp(args.address, args.size, args.rounds)), flush=True)
    else:
        idle(args.family, args.address, args.conns, args.batch)
    os._exit(0)


if __name__ == "__main__":
    main()
