"""The poller's asyncio connections: TLS verified against the name, over a real local server."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpcore
import pytest

from ingest.host_pool import AsyncioBackend

TLS = Path(__file__).resolve().parents[1] / "fixtures" / "tls"
CERT, KEY = TLS / "localhost-cert.pem", TLS / "localhost-key.pem"
TIMEOUTS = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()
    writer.close()


async def _get_over_tls(client_context: ssl.SSLContext) -> httpcore.Response:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(CERT, KEY)
    server = await asyncio.start_server(_answer_ok, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpcore.AsyncConnectionPool(
            ssl_context=client_context, network_backend=AsyncioBackend()
        ) as pool:
            return await pool.request(
                "GET", f"https://localhost:{port}/", extensions={"timeout": TIMEOUTS}
            )
    finally:
        server.close()


def test_https_feeds_are_read_over_a_verified_tls_connection() -> None:
    trusting = ssl.create_default_context(cafile=str(CERT))
    response = asyncio.run(_get_over_tls(trusting))
    assert (response.status, response.content) == (200, b"ok")


def test_a_certificate_the_client_does_not_trust_is_refused() -> None:
    with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(_get_over_tls(ssl.create_default_context()))


def test_a_refused_connection_is_httpcores_connect_error() -> None:
    async def connect_to_a_closed_port() -> None:
        server = await asyncio.start_server(_answer_ok, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5.0)

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(connect_to_a_closed_port())
