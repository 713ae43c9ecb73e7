"""The page client on real local servers: encodings, kept-alive connections, TLS, odd URLs."""

from __future__ import annotations

import gzip
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import brotli
import pytest

from ingest.fetch import PageFetcher, PermanentFetchError, TransientFetchError
from ingest.fixture_server import QuietHTTPServer
from ingest.page_client import split_url

TLS = Path(__file__).resolve().parents[1] / "fixtures" / "tls"
CERT, KEY = TLS / "localhost-cert.pem", TLS / "localhost-key.pem"
PAGE = (
    "<html><body><article><p>" + "خبر عاجل من الرياض. " * 50 + "</p></article></body></html>"
).encode()
# Bodies that inflate past the small cap the bomb tests give the fetcher.
SMALL_CAP = 1_000_000
BOMB_BYTES = 20 * SMALL_CAP


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODED: dict[str, tuple[str, Callable[[], bytes]]] = {
    "gzip": ("gzip", lambda: gzip.compress(PAGE)),
    "deflate": ("deflate", lambda: zlib.compress(PAGE)),
    "raw-deflate": ("deflate", lambda: _raw_deflate(PAGE)),
    "br": ("br", lambda: brotli.compress(PAGE)),
    "gzip-then-br": ("gzip, br", lambda: brotli.compress(gzip.compress(PAGE))),
    "identity": ("identity", lambda: PAGE),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths: list[str]
    connections: set[tuple[str, int]]
    # Answer, then hang up without saying so: a server dropping idle keep-alive connections.
    hang_up = False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.connections.add(self.client_address)
        name = self.path.strip("/")
        if name in ENCODED:
            encoding, make = ENCODED[name]
            self._send(make(), encoding)
        elif name == "zstd":
            self._send(b"\x28\xb5\x2f\xfd not really", "zstd")
        elif name == "bad-gzip":
            self._send(b"\x1f\x8b\x08\x00 this is not gzip data", "gzip")
        elif name == "br-bomb":
            self._send(brotli.compress(b"\0" * BOMB_BYTES, quality=1), "br")
        elif name == "deflate-bomb":
            self._send(zlib.compress(b"\0" * BOMB_BYTES, 1), "deflate")
        elif name == "big-head":
            self._send(PAGE, extra={f"X-Filler-{n}": "x" * 1000 for n in range(80)})
        else:
            self._send(PAGE)
        if self.hang_up:
            self.close_connection = True

    def _send(self, body: bytes, encoding: str = "", extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        for header, value in (extra or {}).items():
            self.send_header(header, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server:
    def __init__(self, hang_up: bool = False, tls: bool = False) -> None:
        handler = type(
            "Handler", (_Handler,), {"paths": [], "connections": set(), "hang_up": hang_up}
        )
        self.handler = handler
        self.httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(CERT, KEY)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.stop()


def fetcher(**options: Any) -> PageFetcher:
    return PageFetcher(allow_hosts=["127.0.0.1", "localhost"], host_spacing_s=0, **options)


@pytest.mark.parametrize("name", list(ENCODED))
def test_every_content_encoding_asked_for_is_undone(server: _Server, name: str) -> None:
    page = fetcher().fetch(server.url(f"/{name}"))
    assert page.body == PAGE
    assert "خبر عاجل" in page.text


@pytest.mark.parametrize(("name", "kind"), [("zstd", "decoding"), ("bad-gzip", "decoding")])
def test_an_encoding_not_asked_for_or_broken_is_a_named_permanent_error(
    server: _Server, name: str, kind: str
) -> None:
    with pytest.raises(PermanentFetchError) as raised:
        fetcher().fetch(server.url(f"/{name}"))
    assert raised.value.kind == kind


@pytest.mark.parametrize("name", ["br-bomb", "deflate-bomb"])
def test_brotli_and_deflate_bombs_stop_at_the_cap(server: _Server, name: str) -> None:
    with pytest.raises(PermanentFetchError) as raised:
        fetcher(max_body_bytes=SMALL_CAP).fetch(server.url(f"/{name}"))
    assert raised.value.kind == "too-large"


def test_a_response_head_of_tens_of_kilobytes_is_read(server: _Server) -> None:
    # Outlets send large cookie and security headers; 80 KiB takes more than one read, and
    # is over h11's default limit for a head still incomplete.
    page = fetcher().fetch(server.url("/big-head"))
    assert page.body == PAGE
    assert page.headers["x-filler-79"] == "x" * 1000


def test_pages_from_one_site_share_a_kept_alive_connection(server: _Server) -> None:
    client = fetcher()
    for n in range(5):
        assert client.fetch(server.url(f"/news/{n}")).body == PAGE
    assert len(server.handler.connections) == 1


def test_a_connection_the_server_dropped_is_not_reused() -> None:
    # Given a server that hangs up after every answer without saying it will
    dropping = _Server(hang_up=True)
    client = fetcher()
    try:
        # When two pages are fetched one after the other
        pages = [client.fetch(dropping.url(f"/news/{n}")) for n in range(2)]
    finally:
        dropping.stop()
    # Then both arrive, each on a connection of its own
    assert [page.body for page in pages] == [PAGE, PAGE]
    assert len(dropping.handler.connections) == 2


def test_an_arabic_path_is_sent_percent_encoded_as_utf8(server: _Server) -> None:
    page = fetcher().fetch(server.url("/أخبار/محليات?q=عاجل جدا"))
    sent = server.handler.paths[-1]
    assert sent.isascii()
    assert unquote(sent) == "/أخبار/محليات?q=عاجل جدا"
    assert page.body == PAGE


def test_an_international_host_name_is_sent_in_its_ascii_form() -> None:
    # (the stdlib's own codec gives the same: "أخبار.مثال".encode("idna"))
    origin, target = split_url("https://أخبار.مثال:8443/صفحة")
    assert origin.host == "xn--igbicxr.xn--mgbh0fb"
    assert origin.host_header == "xn--igbicxr.xn--mgbh0fb:8443"
    assert target == b"/%D8%B5%D9%81%D8%AD%D8%A9"


def test_https_pages_are_read_over_tls_verified_against_the_name() -> None:
    secure = _Server(tls=True)
    try:
        trusting = ssl.create_default_context(cafile=str(CERT))
        page = fetcher(ssl_context=trusting).fetch(secure.url("/news/1", "localhost", "https"))
        assert page.body == PAGE
        # Without the certificate in its trust store the client refuses the server.
        with pytest.raises(TransientFetchError, match="CERTIFICATE_VERIFY_FAILED"):
            fetcher().fetch(secure.url("/news/2", "localhost", "https"))
    finally:
        secure.stop()
