"""A local news site for the cleaning benchmark: article pages served from pre-encoded bytes.

`PageSite(path)` is started by benchmarks/ingest_throughput.py. It serves, from a
process of its own, the SaudiNewsNet articles of `path` wrapped in the fixture
site's news-site chrome (ingest.fixture_server.article_page, the very HTML the
benchmark's anchor extracts), as `GET /news/<n>` (any query string ignored),
with keep-alive. Every response (status line, headers, body) is encoded once at
start; answering is finding the request line and writing those bytes.

The fixture server builds each page per request, parses every header with the
standard library and runs a thread per connection: on a 2-core machine that
was CPU taken from the stage being measured. `cpu_seconds()` (the process's own
CPU time, asked of it over HTTP) lets the benchmark say how much of the cores
the site still takes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.feed_sites import NOT_FOUND, HeadAnswering
from ingest.fixture_server import article_page, load_saudinewsnet

CPU_PATH = b"/_cpu"


def encoded_pages(path: Path) -> dict[bytes, bytes]:
    """Request path -> the whole response, for every article in the file."""
    responses = {}
    for number, article in enumerate(load_saudinewsnet(path)):
        body = article_page(article, str(number)).encode()
        responses[f"/news/{number}".encode()] = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
    return responses


def first_line(head: bytes) -> bytes:
    return head.partition(b"\r\n")[0]


def answer(request_line: bytes, responses: dict[bytes, bytes]) -> bytes:
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        return NOT_FOUND
    path = parts[1].partition(b"?")[0]
    if path == CPU_PATH:
        body = repr(time.process_time()).encode()
        return b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    return responses.get(path, NOT_FOUND)


def _serve(path: Path, ports: Any) -> None:
    responses = encoded_pages(path)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: HeadAnswering(lambda head: answer(first_line(head), responses)),
            "127.0.0.1",
            0,
            backlog=1024,
        )
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


class PageSite:
    """The site in its process; `start()` returns its base URL, `stop()` ends it.

    A process that does not report its port within START_TIMEOUT_S fails `start()`
    with queue.Empty; the process is a daemon, so it ends with the benchmark too.
    """

    START_TIMEOUT_S = 60.0

    def __init__(self, articles: Path) -> None:
        self.articles = articles
        self.base_url = ""
        self._worker: multiprocessing.process.BaseProcess | None = None

    def start(self) -> str:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self._worker = context.Process(target=_serve, args=(self.articles, ports), daemon=True)
        self._worker.start()
        self.base_url = f"http://127.0.0.1:{ports.get(timeout=self.START_TIMEOUT_S)}"
        return self.base_url

    def cpu_seconds(self) -> float:
        """The CPU time the site's process has used so far."""
        with urllib.request.urlopen(self.base_url + CPU_PATH.decode(), timeout=10) as response:
            return float(response.read())

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.terminate()
            self._worker.join(timeout=10)
