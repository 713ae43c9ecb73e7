"""Liveness and readiness of one process, for /healthz and /readyz.

Liveness (`alive`): every stage thread the runners registered is running and its
loop has turned recently, or it finished without an error. Readiness (`ready`):
the bus and the backends this process writes to answer now:

* embedded bus: the SQLite file opens and reads, and it and its directory are writable;
* Kafka bus: a bootstrap server accepts a TCP connection;
* search (only when the search sink runs in this process): the cluster answers a ping.

Each check gives a Check; none raises. Readiness answers are cached for
READY_CACHE_S so a probe every second does not load the cluster.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from akhbar.config import BusSettings, SearchSinkSettings, Settings
from akhbar.metrics import Liveness

# A stage runs a step (at most runner.step_timeout_s, 120 s by default) and its
# retries (backoff capped at 30 s) within one turn of its loop; a loop that has not
# turned for this long is stuck.
STALL_S = 900.0
# Probes come every few seconds; the answers may be this old.
READY_CACHE_S = 2.0
# A probe must answer before the prober gives up on it (Kubernetes: 1 s by default).
CONNECT_TIMEOUT_S = 0.8


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def alive(liveness: Liveness, now: float | None = None) -> dict[str, Check]:
    """One Check per stage registered so far (none while the process starts)."""
    now = time.monotonic() if now is None else now
    checks = {}
    for stage, life in liveness.snapshot().items():
        if life.finished:
            failed = life.error is not None
            checks[stage] = Check(not failed, f"failed: {life.error}" if failed else "finished")
        elif not life.thread.is_alive():
            checks[stage] = Check(False, "its thread is gone")
        elif now - life.last_beat > STALL_S:
            checks[stage] = Check(
                False, f"its loop has not turned for {now - life.last_beat:.0f} s"
            )
        else:
            checks[stage] = Check(True, "running")
    return checks


def check_bus(settings: BusSettings) -> Check:
    if settings.resolved_backend == "kafka":
        assert settings.kafka is not None
        return check_kafka(settings.kafka.bootstrap_servers)
    return check_embedded(settings)


def check_embedded(settings: BusSettings) -> Check:
    path = settings.embedded_path
    if not path.exists():
        return Check(False, f"embedded bus file {path} does not exist")
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
        return Check(False, f"embedded bus file {path} or its directory is not writable")
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=CONNECT_TIMEOUT_S)
        try:
            db.execute("SELECT COUNT(*) FROM topics").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Check(False, f"embedded bus file {path} is not usable: {exc}")
    return Check(True, f"embedded bus {path}")


def check_kafka(bootstrap_servers: list[str]) -> Check:
    """Reachable when any bootstrap server accepts a connection (the client needs one)."""
    failures = []
    for server in bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
                return Check(True, f"kafka bootstrap {server} reachable")
        except (OSError, ValueError) as exc:
            failures.append(f"{server}: {exc}")
    return Check(False, "no kafka bootstrap server reachable: " + "; ".join(failures))


def check_search(settings: SearchSinkSettings) -> Check:
    from sinks.search import open_client  # the core needs the search client only here

    client = open_client(settings.model_copy(update={"request_timeout_s": CONNECT_TIMEOUT_S}))
    hosts = ", ".join(_without_credentials(host) for host in settings.hosts)
    try:
        if client.ping():
            return Check(True, f"search cluster {hosts} answers")
        return Check(False, f"search cluster {hosts} does not answer")
    finally:
        client.close()


def _without_credentials(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 9200}"


class Readiness:
    """The readiness checks of one process, cached for READY_CACHE_S."""

    def __init__(self, settings: Settings, search_runs: bool) -> None:
        self._checks: dict[str, Callable[[], Check]] = {"bus": lambda: check_bus(settings.bus)}
        if search_runs:
            self._checks["search"] = lambda: check_search(settings.sinks.search)
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Check]] | None = None

    def check(self) -> dict[str, Check]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= READY_CACHE_S:
                self._cached = (now, {name: _safely(run) for name, run in self._checks.items()})
            return self._cached[1]


def _safely(run: Callable[[], Check]) -> Check:
    try:
        return run()
    except Exception as exc:  # a check that breaks reports not-ready, never a 500
        return Check(False, f"check failed: {type(exc).__name__}: {exc}")
