"""Readiness and liveness checks against the real bus, broker and search node."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from akhbar.bus import open_bus
from akhbar.config import BusSettings, SearchSinkSettings, Settings, SinkSettings
from akhbar.metrics import Liveness
from akhbar.observe import checks


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_embedded_bus_ready_only_when_its_file_is_usable(tmp_path: Path) -> None:
    settings = BusSettings(backend="embedded", embedded_path=tmp_path / "bus.sqlite3")
    assert not checks.check_bus(settings).ok  # not created yet
    open_bus(settings)
    assert checks.check_bus(settings).ok
    for leftover in tmp_path.glob("bus.sqlite3-*"):  # its write-ahead log holds pages too
        leftover.unlink()
    (tmp_path / "bus.sqlite3").write_bytes(b"not a database, " * 100)
    broken = checks.check_bus(settings)
    assert not broken.ok and "not usable" in broken.reason


def test_kafka_ready_when_a_bootstrap_server_answers(kafka_bootstrap: str) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    assert checks.check_kafka([dead, kafka_bootstrap]).ok
    down = checks.check_kafka([dead])
    assert not down.ok and dead in down.reason


def test_search_ready_when_the_cluster_answers(opensearch_url: str) -> None:
    assert checks.check_search(SearchSinkSettings(hosts=[opensearch_url])).ok
    port = closed_port()
    down = checks.check_search(SearchSinkSettings(hosts=[f"http://elastic:pw@127.0.0.1:{port}"]))
    assert not down.ok
    assert f"127.0.0.1:{port}" in down.reason and "pw" not in down.reason


def test_readiness_checks_search_only_where_the_sink_runs(tmp_path: Path) -> None:
    bus = BusSettings(backend="embedded", embedded_path=tmp_path / "bus.sqlite3")
    open_bus(bus)
    search = SearchSinkSettings(enabled=True, hosts=[f"http://127.0.0.1:{closed_port()}"])
    settings = Settings(bus=bus, sinks=SinkSettings(search=search))
    assert set(checks.Readiness(settings, search_runs=False).check()) == {"bus"}
    found = checks.Readiness(settings, search_runs=True).check()
    assert found["bus"].ok and not found["search"].ok


def test_liveness_fails_for_a_dead_or_stuck_stage() -> None:
    liveness = Liveness()
    release = threading.Event()
    worker = threading.Thread(target=lambda: (liveness.started("enrich"), release.wait(30)))
    worker.start()
    crashed = threading.Thread(target=lambda: liveness.started("fetch"))
    crashed.start()
    crashed.join()
    try:
        while "enrich" not in liveness.snapshot():
            pass
        found = checks.alive(liveness)
        assert found["enrich"].ok
        assert not found["fetch"].ok and "thread is gone" in found["fetch"].reason
        stuck = checks.alive(liveness, now=liveness.snapshot()["enrich"].last_beat + 3600)
        assert not stuck["enrich"].ok and "has not turned" in stuck["enrich"].reason
        liveness.finished("fetch", RuntimeError("boom"))
        assert "boom" in checks.alive(liveness)["fetch"].reason
    finally:
        release.set()
        worker.join()
    liveness.finished("enrich")
    assert checks.alive(liveness)["enrich"].ok
