"""Keep-alive connections for the feed poller: one small pool per host.

`HostPools` is created by a FeedPoller and used for every feed request it
makes. Each host (scheme, host and port) gets its own httpx transport over the
address guard (AsyncGuardedBackend), holding at most the poller's per-host
limit of connections, all kept alive between polls. One pool for every host
would be simpler, but httpcore's pool rescans all of its connections for every
request and every connection state change, so its cost grows with the square of
the connections it holds: with a few hundred feed hosts that scan, not the
network, was most of a poll.

A request goes straight to the host's transport: no cookies, no auth, no
redirect handling, no event hooks (the poller follows redirects itself, each
hop checked). Errors are httpx's (httpx.TimeoutException, httpx.HTTPError),
as a client would raise them.

Connections are asyncio streams (`AsyncioBackend`) rather than httpcore's
anyio ones: anyio's cancel scopes and attribute lookups around every read and
write were a fifth of a 304 poll.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from ingest.fetch import AddressGuard, async_guarded_transport

# Bytes the stream reader buffers before it stops reading the socket.
READ_BUFFER_BYTES = 256 * 1024

# httpx's own list when brotli is installed (it is: the fetch stage decodes brotli pages).
ACCEPT_ENCODING = "gzip, deflate, br"


class HostPools:
    """Per-host keep-alive transports; see the module docstring.

    `end_round()` closes the pools no request used since the previous call, so a
    poller with thousands of hosts keeps open only the connections of the hosts
    it is polling now.
    """

    def __init__(
        self, guard: AddressGuard, max_per_host: int, user_agent: str, timeout: httpx.Timeout
    ) -> None:
        self.guard = guard
        self.limits = httpx.Limits(
            max_connections=max_per_host, max_keepalive_connections=max_per_host
        )
        # What httpx's client would send, less its Connection header (HTTP/1.1 keeps alive).
        self.headers = {
            "Accept": "*/*",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": user_agent,
        }
        self.extensions = {"timeout": timeout.as_dict()}
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncHTTPTransport] = {}
        self._used: set[tuple[bytes, bytes, int | None]] = set()

    async def open(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """The response to a GET of `url`, its body not read yet (read it, then aclose it)."""
        request = httpx.Request("GET", url, headers={**self.headers, **headers})
        request.extensions = self.extensions
        origin = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = async_guarded_transport(
                self.guard, self.limits, AsyncioBackend()
            )
        self._used.add(origin)
        response = await pool.handle_async_request(request)
        response.request = request
        return response

    async def end_round(self) -> None:
        """Close the pools of hosts not asked for since the last call."""
        idle = [origin for origin in self._pools if origin not in self._used]
        for origin in idle:
            await self._pools.pop(origin).aclose()
        self._used.clear()

    def open_connections(self) -> dict[str, int]:
        """Connections held per host ("scheme://host:port"), idle ones included."""
        return {
            f"{scheme.decode()}://{host.decode()}:{port}": len(pool._pool.connections)  # type: ignore[union-attr]
            for (scheme, host, port), pool in self._pools.items()
        }

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection as asyncio streams; errors are httpcore's, as its own streams raise them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            self._writer.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks this of an idle connection: a server that hung up
            # (or sent anything unasked) makes it unfit for the next request.
            return self._reader.at_eof() or self._writer.is_closing()
        if self._writer.is_closing():
            return None  # asyncio's closed TLS transport fails on any lookup
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        return self._writer.get_extra_info(info)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens AsyncioStream connections to an address already checked (AsyncGuardedBackend)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=local, limit=READ_BUFFER_BYTES
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
