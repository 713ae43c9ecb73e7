"""Fetching pages politely and safely: the HTTP half of the fetch stage.

A `PageFetcher` is created once per fetch stage and called for every new entry's
page. Whatever a server does (endless bodies, gzip bombs, redirect loops, slow
drips, wrong encodings, links into the private network), a fetch ends within its
limits with either a decoded page or a named error:

* `PermanentFetchError` (an InvalidArticle: the message is dead-lettered with the
  reason) for what will never work: 404/410, a refused address, a body over the
  cap, a content type that is not a page, too many redirects;
* `TransientFetchError` for what may work later (429, 5xx, timeouts, connection
  errors); the runner retries it with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import charset_normalizer
import httpcore
import httpx

from ingest.fetch_errors import FetchError as FetchError
from ingest.fetch_errors import PermanentFetchError as PermanentFetchError
from ingest.fetch_errors import TransientFetchError as TransientFetchError
from ingest.page_client import PageConnections, PageResponse, content_decoders, split_url

# Larger than any real article page (the biggest news pages are 2-3 MB of HTML);
# counted after decompression, so a gzip bomb stops here too.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Outlets chain http -> https -> www -> consent page; more than this is a loop.
MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 20.0
# A server that drips one byte at a time never trips the read timeout; this does.
TOTAL_TIMEOUT_S = 45.0
# Two requests to one host at least this far apart: outlets throttle crawlers.
HOST_SPACING_S = 1.0
# A Retry-After longer than this is treated as this: a typo must not park a host for weeks.
MAX_RETRY_AFTER_S = 24 * 3600
USER_AGENT = "Akhbar/0.1 (Arabic news ingestion; +https://akhbar.invalid/bot)"
# The answers that send the client elsewhere (RFC 9110 15.4).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Google reads the first 500 KiB of a robots.txt; rules past that are ignored.
MAX_ROBOTS_BYTES = 500 * 1024
PAGE_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml")
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 414, 451})
# Charset labels that browsers decode as windows-1252, and that Arabic sites send
# by mistake for windows-1256 or UTF-8 pages.
LATIN_LABELS = frozenset({"iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252", "ascii"})
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
ARABIC_LETTER = re.compile("[\u0621-\u064a]")


@dataclass(frozen=True)
class FetchedPage:
    """A page as fetched: the final URL after redirects, and its text decoded."""

    url: str
    status: int
    content_type: str
    body: bytes
    text: str
    encoding: str
    headers: dict[str, str]


class AddressGuard:
    """Refuses hosts that resolve to private, loopback, link-local or reserved addresses.

    Anyone can add a feed, and a feed can link anywhere; without this the service
    would fetch its own network's admin pages and cloud metadata for them. The
    check runs when a connection is opened (ingest.page_client for pages,
    AsyncGuardedBackend for feeds): the host is resolved once, every address is
    checked, and the connection goes to a checked address,
    so a name that answers differently the second time (DNS rebinding) cannot
    slip through; redirects open their connections the same way. Hosts in
    `allow_hosts`, names or literal addresses, are let through (tests, intranet
    feeds): a name resolving to an allow-listed address is allowed too.
    """

    def __init__(self, allow_hosts: Iterable[str] = ()) -> None:
        self.allow_hosts = frozenset(host.lower().strip("[]") for host in allow_hosts)

    def check(self, url: str) -> None:
        """Raise PermanentFetchError unless `url` is http(s) to a public address."""
        host, port = self.check_url(url)
        self.resolve(host, port)

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host (in its ASCII form) and port; PermanentFetchError unless it is
        http(s) with a host: the same reading the page client connects by."""
        origin, _target = split_url(url)
        return origin.host, origin.port

    def needs_dns(self, host: str) -> bool:
        """False for allow-listed names and literal addresses: resolve() will not block."""
        return host.strip("[]") not in self.allow_hosts and not _is_literal(host)

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, each checked; an allow-listed name as it is.

        Raises PermanentFetchError when any address is not public (a name with one
        private address among public ones is refused whole), TransientFetchError
        when the name does not resolve now.
        """
        host = host.lower().strip("[]")
        if host in self.allow_hosts:
            return [host]
        addresses = [host] if _is_literal(host) else self._addresses(host, port)
        for address in addresses:
            if _is_internal(address) and address not in self.allow_hosts:
                raise PermanentFetchError(
                    "private-address",
                    f"{host} resolves to {address}, a non-public address (allow-list the host "
                    "to fetch it)",
                )
        return addresses

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise TransientFetchError("dns", f"cannot resolve {host}: {exc}") from exc
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio network backend with the guard in front, for the feed poller:
    connections go only to addresses the guard checked, from the one resolution it
    made; DNS runs in a thread. `inner` opens the connections to the checked
    addresses (httpcore's anyio one unless given)."""

    def __init__(
        self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.guard.needs_dns(host):
            loop = asyncio.get_running_loop()
            addresses = await loop.run_in_executor(None, self.guard.resolve, host, port)
        else:
            addresses = self.guard.resolve(host, port)  # no DNS, no blocking
        error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def async_guarded_transport(
    guard: AddressGuard,
    limits: httpx.Limits,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncHTTPTransport:
    """httpx's async transport over AsyncGuardedBackend (connecting with `inner`)."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    transport._pool._network_backend = AsyncGuardedBackend(guard, inner)  # type: ignore[union-attr]
    return transport


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved


class HostPacer:
    """Keeps requests to one host at least `spacing_s` apart, and at most
    `max_in_flight` at once, across threads."""

    def __init__(self, spacing_s: float = HOST_SPACING_S, max_in_flight: int = 2) -> None:
        self.spacing_s = spacing_s
        self.max_in_flight = max_in_flight
        self._next: dict[str, float] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Hold one of the host's request slots, its spacing waited for."""
        with self._lock:
            slots = self._slots.setdefault(host, threading.BoundedSemaphore(self.max_in_flight))
        with slots:
            self.wait(host)
            yield

    def wait(self, host: str) -> None:
        delay = self.reserve(host)
        if delay > 0:
            time.sleep(delay)

    def reserve(self, host: str) -> float:
        """Book the host's next start; the seconds to wait for it (0: go now).

        The async poller books here too and waits without blocking its loop.
        """
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + self.spacing_s
        return slot - now


class PageFetcher:
    """Fetches one page per call, within the limits above; safe to call from several threads.

    Called by the fetch stage's step for every discovered article. Raises
    PermanentFetchError or TransientFetchError (see the module docstring); never
    returns a partial body. Requests go through PageConnections (ingest.page_client),
    whose every connection is made to an address the guard checked.
    """

    def __init__(
        self,
        allow_hosts: Iterable[str] = (),
        user_agent: str = USER_AGENT,
        max_body_bytes: int = MAX_BODY_BYTES,
        total_timeout_s: float = TOTAL_TIMEOUT_S,
        host_spacing_s: float = HOST_SPACING_S,
        obey_robots: bool = False,
        max_per_host: int = 2,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = AddressGuard(allow_hosts)
        self.max_body_bytes = max_body_bytes
        self.total_timeout_s = total_timeout_s
        self.pacer = HostPacer(host_spacing_s, max_per_host)
        self.obey_robots = obey_robots
        self._robots: dict[str, RobotFileParser] = {}
        self.user_agent = user_agent
        self._connections = PageConnections(
            self.guard, user_agent, CONNECT_TIMEOUT_S, READ_TIMEOUT_S, ssl_context
        )

    def fetch(self, url: str) -> FetchedPage:
        """The page at `url`, redirects followed (each hop checked against the guard)."""
        deadline = time.monotonic() + self.total_timeout_s
        for _hop in range(MAX_REDIRECTS + 1):
            # The address itself is checked when the connection opens (PageConnections).
            self.guard.check_url(url)
            self._check_robots(url)
            response_or_url = self._get(url, deadline)
            if isinstance(response_or_url, FetchedPage):
                return response_or_url
            url = response_or_url
        raise PermanentFetchError("redirects", f"more than {MAX_REDIRECTS} redirects, last {url}")

    def close(self) -> None:
        self._connections.close()

    def _get(self, url: str, deadline: float) -> FetchedPage | str:
        """A fetched page, or the URL a redirect points to."""
        with self.pacer.slot(urlsplit(url).netloc):
            return self._get_now(url, deadline)

    def _get_now(self, url: str, deadline: float) -> FetchedPage | str:
        # An answer that is not the page (a redirect, an error) is not read: its
        # connection is closed rather than kept.
        with self._connections.open(url, deadline) as response:
            if response.status in REDIRECT_STATUSES:
                return _redirect_target(response)
            _check_status(response)
            content_type = _check_content_type(response)
            body = read_capped(response, self.max_body_bytes)
        text, encoding = decode_html(body, _header_charset(response.headers))
        return FetchedPage(
            response.url, response.status, content_type, body, text, encoding, response.headers
        )

    def _check_robots(self, url: str) -> None:
        if not self.obey_robots:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._robots.get(origin)
        if rules is None:
            rules = self._load_robots(origin)
            self._robots[origin] = rules
        if not rules.can_fetch(self.user_agent, url):
            raise PermanentFetchError("robots", f"robots.txt of {origin} disallows {url}")

    def _load_robots(self, origin: str) -> RobotFileParser:
        rules = RobotFileParser()
        url = f"{origin}/robots.txt"
        lines: list[str] = []
        try:
            with self._connections.open(url, time.monotonic() + self.total_timeout_s) as response:
                if response.status == 200:
                    body = read_capped(response, MAX_ROBOTS_BYTES)
                    lines = body.decode("utf-8", errors="replace").splitlines()
        except FetchError as exc:
            if exc.kind == "private-address":
                raise
            # No readable robots.txt: everything is allowed, as RFC 9309 says.
        rules.parse(lines)
        return rules


def _redirect_target(response: PageResponse) -> str:
    location = response.headers.get("location")
    if not location:
        raise PermanentFetchError("redirects", f"redirect without Location from {response.url}")
    return urljoin(response.url, location)


def read_capped(response: PageResponse, max_bytes: int) -> bytes:
    """The response's body decoded from its Content-Encoding, at most `max_bytes` of it.

    The cap counts decoded bytes, so a gzip or brotli bomb stops at it too:
    PermanentFetchError "too-large"; a body that does not decode is "decoding".
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PermanentFetchError(
            "too-large", f"Content-Length {declared} is over {max_bytes} bytes"
        )
    decoders = content_decoders(response.headers.get("content-encoding", ""), response.url)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.body_chunks():
        for decoder in decoders:
            chunk = decoder.decode(chunk, max_bytes - size)
        size += len(chunk)
        if size > max_bytes:
            raise PermanentFetchError("too-large", f"body over {max_bytes} bytes (decompressed)")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_status(response: PageResponse) -> None:
    status = response.status
    if status < 400:
        return
    if status in PERMANENT_STATUSES:
        raise PermanentFetchError(f"http-{status}", f"{response.url} answered {status}")
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    raise TransientFetchError(
        f"http-{status}", f"{response.url} answered {status}", retry_after_s=retry_after
    )


def _check_content_type(response: PageResponse) -> str:
    content_type = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if content_type and not content_type.startswith(PAGE_CONTENT_TYPES):
        raise PermanentFetchError(
            "content-type", f"{response.url} is {content_type!r}, not a web page"
        )
    return content_type


def _header_charset(headers: dict[str, str]) -> str | None:
    """The charset parameter of Content-Type, if there is one."""
    for parameter in headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta or HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - (now if now is not None else time.time())), MAX_RETRY_AFTER_S)


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """The page's text and the encoding it was read with.

    Arabic sites get this wrong in three common ways: UTF-8 pages labelled
    latin-1, windows-1256 pages with no label or a latin-1 one, and a header that
    disagrees with the page's meta tag. Valid UTF-8 with non-ASCII bytes is
    almost never anything else, so it wins; then a declared non-latin label that
    decodes cleanly; then detection on the bytes.
    """
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for label in _declared_charsets(body, header_charset):
        decoded = _try_decode(body, label)
        if decoded is not None:
            return decoded, label
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace"), best.encoding
    return body.decode("windows-1256", errors="replace"), "windows-1256"


def _declared_charsets(body: bytes, header_charset: str | None) -> Iterator[str]:
    """Declared labels worth trusting, the page's own meta tag first."""
    meta = META_CHARSET.search(body[:4096])
    for label in (meta.group(1).decode("ascii", "ignore") if meta else None, header_charset):
        if label and label.lower() not in LATIN_LABELS and label.lower() not in ("utf-8", "utf8"):
            yield label.lower()


def _try_decode(body: bytes, label: str) -> str | None:
    try:
        return body.decode(label)
    except (LookupError, UnicodeDecodeError):
        return None
