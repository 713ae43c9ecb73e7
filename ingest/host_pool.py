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
"""

from __future__ import annotations

import httpx

from ingest.fetch import AddressGuard, async_guarded_transport

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
        self.headers = {"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING}
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
            pool = self._pools[origin] = async_guarded_transport(self.guard, self.limits)
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
