"""Local feed sites for the polling benchmark: thousands of tiny feeds, served cheaply.

`FeedSites(hosts, processes)` is started by benchmarks/ingest_throughput.py. It
opens `hosts` sites on 127.0.0.1, each on a port of its own (a host, for the
poller's per-host limit), spread over `processes` server processes so that the
sites are not one interpreter on one core. Each process is an asyncio server
that speaks just enough HTTP/1.1 for a conditional GET, with keep-alive:

* `GET /bench/<n>.xml` answers a one-item RSS feed with an ETag, or `304 Not
  Modified` when If-None-Match carries that ETag; that is the whole request
  handling: the request line and that one header are all it reads;
* anything else answers 404.

The fixture server (ingest/fixture_server.py) serves the same feeds, but from
one process, a thread per connection and the standard library's full request
parsing: beside a poller doing 1,000 polls/s it, not the poller, was measured.
`server_capacity` drives these sites with a minimal client as hard as the
poller's connections allow, so the reader sees the sites' own limit beside the
poller's figure.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import zlib
from collections.abc import Callable
from typing import Any

# A request head longer than this is not one of our clients: close the connection.
MAX_HEAD_BYTES = 16 * 1024
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def feed_etag(path: bytes) -> bytes:
    """The ETag of the feed at `path`: fixed per feed, so every poll after the first is a 304."""
    return b'"%08x"' % zlib.crc32(path)


def answer(head: bytes) -> bytes:
    """The whole response to one request head (request line and headers, no blank line)."""
    line_end = head.find(b"\r\n")
    parts = head[: line_end if line_end >= 0 else len(head)].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or not parts[1].startswith(b"/bench/"):
        return NOT_FOUND
    path = parts[1]
    etag = feed_etag(path)
    lowered = head.lower()
    if b"\r\nif-none-match: " + etag in lowered:
        return b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\nContent-Length: 0\r\n\r\n"
    return _feed_response(path, etag, _host(lowered))


def _host(lowered_head: bytes) -> bytes:
    start = lowered_head.find(b"\r\nhost: ")
    if start < 0:
        return b"127.0.0.1"
    end = lowered_head.find(b"\r\n", start + 8)
    return lowered_head[start + 8 : end if end >= 0 else len(lowered_head)]


def _feed_response(path: bytes, etag: bytes, host: bytes) -> bytes:
    link = b"http://" + host + path + b"/item"
    body = (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        b"<title>bench</title><link>http://" + host + b"/</link><description>bench</description>"
        b"<item><title>item</title><link>" + link + b"</link><guid>" + link + b"</guid>"
        b"<pubDate>Thu, 01 Jan 2026 00:00:00 GMT</pubDate></item></channel></rss>"
    )
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: " + etag + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class HeadAnswering(asyncio.Protocol):
    """One client connection: answers each complete request head as it arrives, with
    `answer(head)` (request line and headers, no blank line); the page site uses it too."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        answers = []
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            answers.append(self.answer(self.buffer[:end]))
            self.buffer = self.buffer[end + 4 :]
        if answers:
            self.transport.write(b"".join(answers))
        if len(self.buffer) > MAX_HEAD_BYTES:
            self.transport.close()


def _serve(count: int, ports: Any) -> None:
    """A server process: `count` sites on free ports, reported on `ports`, served until killed."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(lambda: HeadAnswering(answer), "127.0.0.1", 0, backlog=1024)
            for _ in range(count)
        ]
        ports.put([server.sockets[0].getsockname()[1] for server in servers])
        await asyncio.Event().wait()

    asyncio.run(main())


class FeedSites:
    """The sites in their processes; `start()` returns their base URLs, `stop()` ends them.

    A process that does not report its ports within START_TIMEOUT_S fails `start()`
    with queue.Empty; the processes are daemons, so they end with the benchmark too.
    """

    START_TIMEOUT_S = 60.0

    def __init__(self, hosts: int, processes: int) -> None:
        self.hosts = hosts
        self.processes = max(1, min(processes, hosts))
        self._workers: list[multiprocessing.process.BaseProcess] = []

    def start(self) -> list[str]:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        shares = [len(range(n, self.hosts, self.processes)) for n in range(self.processes)]
        self._workers = [
            context.Process(target=_serve, args=(share, ports), daemon=True) for share in shares
        ]
        for worker in self._workers:
            worker.start()
        found = [ports.get(timeout=self.START_TIMEOUT_S) for _ in self._workers]
        return [f"http://127.0.0.1:{port}" for chunk in found for port in chunk]

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self._workers if worker.pid is not None]

    def stop(self) -> None:
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join(timeout=10)


def server_capacity(etags: dict[str, str], per_host: int) -> float:
    """Conditional GETs per second the sites answer, with a minimal client on the poller's
    connections (`per_host` kept-alive connections to each host), each answer checked
    to be a 304."""
    return len(etags) / asyncio.run(_drive(etags, per_host))


async def _drive(etags: dict[str, str], per_host: int) -> float:
    by_host: dict[str, list[bytes]] = {}
    for url, etag in etags.items():
        host, _, path = url.removeprefix("http://").partition("/")
        request = f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: {etag}\r\n\r\n"
        by_host.setdefault(host, []).append(request.encode())
    lanes = [
        (host, requests[lane::per_host])
        for host, requests in by_host.items()
        for lane in range(per_host)
    ]
    connections = [await _connect(host) for host, _ in lanes]
    started = time.perf_counter()
    await asyncio.gather(
        *(_lane(conn, requests) for conn, (_, requests) in zip(connections, lanes, strict=True))
    )
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return elapsed


async def _connect(host: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address, _, port = host.partition(":")
    # asyncio turns Nagle off on TCP connections: no 40 ms delayed-ACK waits.
    return await asyncio.open_connection(address, int(port))


async def _lane(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], requests: list[bytes]
) -> None:
    """One request at a time on one connection, as the poller's client does."""
    reader, writer = connection
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 304 "):
            raise AssertionError(f"expected a 304, got {head[:40]!r}")
