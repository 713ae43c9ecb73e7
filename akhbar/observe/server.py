"""One small HTTP server per process: /metrics, /healthz, /readyz, /status.

`serve_observability` is called once at start-up by `akhbar run` and `akhbar
stage`; it starts the server in a daemon thread when `metrics.address` is set
and returns it. The server reads only what the process already has (its
registry, the liveness of its stage threads, its latest stored articles) plus
the readiness checks and the `feeds.state` table; a request that breaks answers 500
and the server goes on. Binding a busy address raises OSError at start-up:
a process that cannot be watched should not start unnoticed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from akhbar import __version__
from akhbar.config import Settings
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.observe import checks, page
from akhbar.observe.feeds import FeedHealthCollector, feed_state_source, read_feed_health
from akhbar.pipeline import STAGE_NAMES

DEFAULT_HOST = "127.0.0.1"
# The page allows its own stylesheet and nothing else: no script, no image, no frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def parse_address(address: str) -> tuple[str, int]:
    """`host:port`, `:port` or `port` (host 127.0.0.1); `[::1]:port` for IPv6."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or DEFAULT_HOST, int(port)


class ObservabilityServer(ThreadingHTTPServer):
    """The process's HTTP endpoints; `address` is where it listens (port 0 resolved)."""

    daemon_threads = True

    def __init__(self, settings: Settings, metrics: Metrics, only: str | None) -> None:
        host, port = parse_address(settings.metrics.address or "")
        self.settings = settings
        self.metrics = metrics
        search_runs = settings.sinks.search.enabled and only in (None, "search")
        self.readiness = checks.Readiness(settings, search_runs)
        self.feed_state = settings if settings.ingest.feeds else None
        super().__init__((host, port), _Handler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, name="observability", daemon=True).start()


def serve_observability(
    settings: Settings, metrics: Metrics, only: str | None = None
) -> ObservabilityServer | None:
    """Register the process-level series and serve them, if `metrics.address` is set."""
    metrics.build_info.labels(__version__, settings.bus.resolved_backend).set(1)
    metrics.recent.resize(settings.metrics.recent_articles)
    if settings.ingest.feeds and only in (None, "poller"):
        metrics.registry.register(FeedHealthCollector(settings))
    if not settings.metrics.address:
        return None
    try:
        server = ObservabilityServer(settings, metrics, only)
    except OSError as exc:
        get_logger(stage="main").error(
            "cannot serve /metrics", address=settings.metrics.address, error=str(exc)
        )
        raise
    server.start()
    get_logger(stage="main").info(
        "serving /metrics, /healthz, /readyz and /status", address=server.address
    )
    return server


class _Handler(BaseHTTPRequestHandler):
    server: ObservabilityServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: probes and scrapes come every few seconds."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        routes = {
            "/metrics": self._metrics,
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/status": self._status,
            "/status.css": self._css,
            "/": self._index,
        }
        route = routes.get(path)
        try:
            if route is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
            else:
                route()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception as exc:  # one bad request must not take the server down
            get_logger(stage="main").error("status request failed", path=path, error=repr(exc))
            self._send(500, b"internal error\n", "text/plain; charset=utf-8")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, results: dict[str, checks.Check]) -> None:
        ok = all(result.ok for result in results.values())
        body = {
            "status": "ok" if ok else "failing",
            "checks": {name: result.as_json() for name, result in results.items()},
        }
        self._send(
            200 if ok else 503,
            json.dumps(body, ensure_ascii=False).encode() + b"\n",
            "application/json",
        )

    def _metrics(self) -> None:
        self._send(200, generate_latest(self.server.metrics.registry), CONTENT_TYPE_LATEST)

    def _healthz(self) -> None:
        self._json(checks.alive(self.server.metrics.liveness))

    def _readyz(self) -> None:
        self._json(self.server.readiness.check())

    def _status(self) -> None:
        feeds, error = None, "no feed list in this process"
        if self.server.feed_state is not None:
            try:
                feeds = read_feed_health(self.server.feed_state)
            except Exception as exc:  # the page still shows the stages and articles
                error = f"{feed_state_source(self.server.feed_state)}: {exc}"
        started = self.server.metrics.liveness.snapshot()
        stages = [name for name in STAGE_NAMES if name in started]
        body = page.render_page(self.server.metrics, stages, feeds, error)
        self._send(
            200,
            body.encode(),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "no-referrer"},
        )

    def _css(self) -> None:
        self._send(200, page.CSS.encode(), "text/css; charset=utf-8")

    def _index(self) -> None:
        body = b"akhbar: /metrics /healthz /readyz /status\n"
        self._send(200, body, "text/plain; charset=utf-8")
