"""A lean HTTP/1.1 client for article pages: h11 over sockets to checked addresses.

`PageConnections` is created once per PageFetcher and asked for every page and
robots.txt request it makes, from the fetch stage's threads at once. It does
only what a page fetch needs: one GET, a kept-alive connection per origin, the
body handed over raw (still content-encoded) as it arrives. The fetch policy
(status, content type, size cap, decoding) stays in ingest.fetch.

httpx did the same over httpcore, but with a local server answering at once its
layers (request building, cookies, auth and redirect hooks, the pool's locks and
per-request scans) took more CPU than the download itself: a third of the fetch
stage's time beside trafilatura. h11 is the same HTTP/1.1 parser httpcore uses.

Every connection goes to an address the guard checked from its one resolution
(AddressGuard.resolve), so a name that answers differently the second time
(DNS rebinding) gets nowhere; TLS is verified against the name, which is also
the Host header. Errors are TransientFetchError ("timeout", "connection") or
PermanentFetchError (from the guard), as ingest.fetch names them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import brotli
import h11
import httpx
import idna

from ingest.fetch_errors import PermanentFetchError, TransientFetchError

if TYPE_CHECKING:
    from ingest.fetch import AddressGuard

# What one recv() may return: a typical article page in two or three reads.
READ_CHUNK_BYTES = 64 * 1024
# Largest response head accepted (status line and headers): httpcore's figure. Some
# outlets send tens of kilobytes of cookies and security headers; h11's own default
# (16 KiB) would refuse them.
MAX_HEAD_BYTES = 100 * 1024
# Idle connections kept per origin: the fetch stage's threads share one site's few.
MAX_IDLE_PER_ORIGIN = 8
# An idle connection older than this is closed, not reused: servers drop idle
# keep-alive connections after 5-15 s and a request on one that is closing fails.
KEEPALIVE_EXPIRY_S = 5.0
# A redirect's or robots.txt's body worth reading to keep its connection; a bigger
# one is not read at all and its connection is closed.
SMALL_BODY_BYTES = 64 * 1024
# Characters left as they are in a request target: reserved ones and escapes; the
# rest (Arabic paths and queries, spaces) is percent-encoded as UTF-8, as browsers do.
TARGET_SAFE = "/%:@!$&'()*+,;=-._~?#[]"


@dataclass(frozen=True)
class Origin:
    """Where a connection goes: scheme, the host's name (ASCII, IDNA) and port."""

    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class _Connection:
    sock: socket.socket
    protocol: h11.Connection = field(
        default_factory=lambda: h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    )
    idle_since: float = 0.0
    reused: bool = False


@dataclass
class PageResponse:
    """A response whose body has not been read yet: read it with `body_chunks()`."""

    url: str
    status: int
    headers: dict[str, str]
    _connection: _Connection
    _client: PageConnections
    _deadline: float
    complete: bool = False

    def body_chunks(self) -> Iterator[bytes]:
        """The body as it arrives, still content-encoded; the total deadline applies."""
        while True:
            event = self._client.next_event(self._connection, self._deadline, self.url)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                self.complete = True
                return

    def read_small(self, limit: int = SMALL_BODY_BYTES) -> bytes | None:
        """The whole body if it is at most `limit` bytes, else None (and unread)."""
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        for chunk in self.body_chunks():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


class PageConnections:
    """Kept-alive HTTP/1.1 connections per origin; see the module docstring.

    `open()` sends a GET and yields the response once its head has arrived; on
    leaving, a connection whose exchange finished cleanly goes back to the pool
    and any other is closed. A request that fails on a reused connection before
    any answer arrived (the server had closed it) is sent again once on a new one.
    """

    def __init__(
        self,
        guard: AddressGuard,
        user_agent: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.user_agent = user_agent
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        # The trust store httpx uses (certifi's), so the switch trusts the same sites.
        self.ssl_context = ssl_context or httpx.create_ssl_context()
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def open(
        self, url: str, deadline: float, accept: str = "text/html,application/xhtml+xml"
    ) -> Iterator[PageResponse]:
        """GET `url`; yields the response with its head read and its body not yet."""
        origin, target = split_url(url)
        request = h11.Request(
            method="GET",
            target=target,
            headers=[
                ("Host", origin.host_header),
                ("User-Agent", self.user_agent),
                ("Accept", accept),
                ("Accept-Encoding", "gzip, deflate, br"),
            ],
        )
        response = self._exchange(origin, request, url, deadline)
        try:
            yield response
        finally:
            self._release(origin, response)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                _close(connection)

    def next_event(self, connection: _Connection, deadline: float, url: str) -> object:
        """h11's next event on `connection`, reading the socket as it needs."""
        protocol = connection.protocol
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                raise TransientFetchError("connection", f"bad HTTP from {url}: {exc}") from exc
            if event is not h11.NEED_DATA:
                return event
            protocol.receive_data(self._recv(connection, deadline, url))

    def _exchange(
        self, origin: Origin, request: h11.Request, url: str, deadline: float
    ) -> PageResponse:
        connection = self._take_idle(origin) or self._connect(origin, deadline)
        try:
            return self._send(connection, request, url, deadline)
        except BaseException as exc:
            _close(connection)
            stale = isinstance(exc, TransientFetchError) and exc.kind == "connection"
            if not (connection.reused and stale):
                raise
        # The server closed the kept-alive connection first: once more, on a new one.
        connection = self._connect(origin, deadline)
        try:
            return self._send(connection, request, url, deadline)
        except BaseException:
            _close(connection)
            raise

    def _send(
        self, connection: _Connection, request: h11.Request, url: str, deadline: float
    ) -> PageResponse:
        protocol = connection.protocol
        with _socket_errors(url, f"writing the request to {url}"):
            connection.sock.sendall(protocol.send(request) + protocol.send(h11.EndOfMessage()))
        while True:
            event = self.next_event(connection, deadline, url)
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise TransientFetchError("connection", f"{url} closed without answering")
            # 1xx answers (103 Early Hints) come before the real one.
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return PageResponse(url, event.status_code, headers, connection, self, deadline)

    def _recv(self, connection: _Connection, deadline: float, url: str) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransientFetchError("timeout", f"{url} took longer than its total time")
        with _socket_errors(url, f"ReadTimeout on {url}"):
            connection.sock.settimeout(min(self.read_timeout_s, remaining))
            return connection.sock.recv(READ_CHUNK_BYTES)

    def _connect(self, origin: Origin, deadline: float) -> _Connection:
        addresses = self.guard.resolve(origin.host, origin.port)
        timeout = min(self.connect_timeout_s, max(0.001, deadline - time.monotonic()))
        error: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, origin.port), timeout=timeout)
            except TimeoutError as exc:
                raise TransientFetchError(
                    "timeout", f"ConnectTimeout to {origin.host} ({address})"
                ) from exc
            except OSError as exc:
                error = exc
                continue
            return _Connection(self._secure(sock, origin, timeout))
        raise TransientFetchError(
            "connection", f"ConnectError: cannot connect to {origin.host}: {error}"
        )

    def _secure(self, sock: socket.socket, origin: Origin, timeout: float) -> socket.socket:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if origin.scheme != "https":
            return sock
        try:
            sock.settimeout(timeout)
            return self.ssl_context.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError as exc:
            sock.close()
            raise TransientFetchError("timeout", f"ConnectTimeout: TLS with {origin.host}") from exc
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise TransientFetchError(
                "connection", f"ConnectError: TLS with {origin.host}: {exc}"
            ) from exc

    def _take_idle(self, origin: Origin) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return None
            if now - connection.idle_since < KEEPALIVE_EXPIRY_S and not _readable(connection):
                connection.reused = True
                return connection
            _close(connection)  # expired, or the server hung up (or sent unasked bytes)

    def _release(self, origin: Origin, response: PageResponse) -> None:
        connection = response._connection
        protocol = connection.protocol
        if not (
            response.complete
            and protocol.our_state is h11.DONE
            and protocol.their_state is h11.DONE
        ):
            _close(connection)
            return
        protocol.start_next_cycle()
        connection.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                idle.append(connection)
                return
        _close(connection)


class ContentDecoder:
    """Undoes one Content-Encoding, chunk by chunk, never giving more than asked for.

    `decode(data, room)` returns at most `room + 1` bytes: enough to tell that
    the body is over its cap without inflating a bomb any further.
    """

    def __init__(self, encoding: str, url: str) -> None:
        self.encoding = encoding
        self.url = url
        self._brotli = brotli.Decompressor() if encoding == "br" else None
        # gzip framing; deflate is zlib-framed by the RFC but raw on some servers (first
        # chunk decides, as browsers do).
        self._zlib = zlib.decompressobj(
            zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        )
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        limit = max(room, 0) + 1
        try:
            if self._brotli is not None:
                return bytes(self._brotli.process(data, output_buffer_limit=limit))
            return self._inflate(data, limit)
        except (zlib.error, brotli.error) as exc:
            raise PermanentFetchError(
                "decoding", f"bad {self.encoding} content encoding from {self.url}: {exc}"
            ) from exc

    def _inflate(self, data: bytes, limit: int) -> bytes:
        if not self._started and self.encoding == "deflate":
            self._started = True
            try:
                return self._zlib.decompress(data, limit)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        return self._zlib.decompress(data, limit)


# The encodings asked for in Accept-Encoding, and the old name of one of them.
DECODABLE = frozenset({"gzip", "deflate", "br"})
ENCODING_ALIASES = {"x-gzip": "gzip"}


def content_decoders(header: str, url: str) -> list[ContentDecoder]:
    """Decoders for a Content-Encoding header, in the order to apply them (the last
    encoding applied is undone first); PermanentFetchError for one not asked for."""
    decoders = []
    for name in reversed(header.split(",")):
        encoding = name.strip().lower()
        encoding = ENCODING_ALIASES.get(encoding, encoding)
        if encoding in ("", "identity"):
            continue
        if encoding not in DECODABLE:
            raise PermanentFetchError(
                "decoding", f"{url} sent content encoding {encoding!r}, which was not asked for"
            )
        decoders.append(ContentDecoder(encoding, url))
    return decoders


def split_url(url: str) -> tuple[Origin, bytes]:
    """The URL's origin and request target; PermanentFetchError for what cannot be asked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PermanentFetchError("bad-url", f"scheme {parts.scheme!r} is not http(s): {url}")
    host = (parts.hostname or "").lower()
    if not host:
        raise PermanentFetchError("bad-url", f"no host in {url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except (ValueError, idna.IDNAError) as exc:
        raise PermanentFetchError("bad-url", f"bad host or port in {url}") from exc
    target = quote(parts.path or "/", safe=TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=TARGET_SAFE)
    return Origin(parts.scheme, host, port), target.encode("ascii")


def _readable(connection: _Connection) -> bool:
    """True when an idle connection has something to read: EOF or bytes nobody asked for."""
    sock = connection.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()  # not select(): it fails on descriptors above 1023
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _close(connection: _Connection) -> None:
    with contextlib.suppress(OSError):
        connection.sock.close()


@contextlib.contextmanager
def _socket_errors(url: str, timed_out: str) -> Iterator[None]:
    """A socket's failure as a transient fetch error: `timed_out` says what took too long."""
    try:
        yield
    except TimeoutError as exc:
        raise TransientFetchError("timeout", timed_out) from exc
    except OSError as exc:
        raise TransientFetchError("connection", f"{type(exc).__name__} on {url}: {exc}") from exc
