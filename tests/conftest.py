"""Shared fixtures: buses over both backends, and the real services.

The Kafka broker and the OpenSearch node are the real ones that
`scripts/services up` starts; their addresses come from AKHBAR_TEST_KAFKA and
AKHBAR_TEST_OPENSEARCH. In CI (CI=true) a missing service fails the run; on a
developer machine the tests that need it are skipped, with a banner saying so.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from akhbar.bus import Bus, open_bus
from akhbar.config import BusSettings, KafkaSettings

KAFKA_ENV = "AKHBAR_TEST_KAFKA"
OPENSEARCH_ENV = "AKHBAR_TEST_OPENSEARCH"
# The broker's minimum: a SIGKILLed member's partitions move on after 6 s, not 30.
KAFKA_TEST_SESSION_MS = 6_000
# Deleting the session's topics in chunks keeps each request well under its timeout.
TOPIC_DELETE_CHUNK = 200
_missing: list[str] = []
_prefixes: set[str] = set()


def _reachable(address: str) -> bool:
    host, _, port = address.removeprefix("http://").removeprefix("https://").partition(":")
    try:
        with socket.create_connection((host, int(port.split("/")[0])), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _service(env: str, what: str) -> str:
    address = os.environ.get(env, "")
    if address and _reachable(address):
        return address
    reason = (
        f"{what} is not available ({env}={address or 'unset'}); "
        "start it with `scripts/services up` or run `make test`"
    )
    if os.environ.get("CI"):
        pytest.fail(f"integration tests are required in CI: {reason}")
    _missing.append(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _service(KAFKA_ENV, "the Kafka broker")


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return _service(OPENSEARCH_ENV, "the OpenSearch node")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing:
        terminalreporter.section("INTEGRATION TESTS SKIPPED", sep="!", red=True, bold=True)
        for reason in sorted(set(_missing)):
            terminalreporter.line(reason, red=True)


def unique_prefix() -> str:
    """A topic and group prefix no other test uses, so tests share one broker safely."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    _prefixes.add(prefix)
    return prefix


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete the topics this session made on the shared broker.

    A broker kept across many runs otherwise piles up thousands of partitions, each
    holding open files, until it stops with "Too many open files".
    """
    address = os.environ.get(KAFKA_ENV, "")
    if not _prefixes or not address or not _reachable(address):
        return
    from kafka import KafkaAdminClient  # only the shared-broker cleanup needs it

    try:
        admin = KafkaAdminClient(bootstrap_servers=[address], request_timeout_ms=30_000)
    except Exception as exc:  # a broker gone by now leaves nothing to clean
        print(f"\ntopics of this session left on {address}: {exc!r}")
        return
    try:
        ours = sorted(t for t in admin.list_topics() if t[:12] in _prefixes)
        for start in range(0, len(ours), TOPIC_DELETE_CHUNK):
            admin.delete_topics(ours[start : start + TOPIC_DELETE_CHUNK], timeout_ms=30_000)
    except Exception as exc:  # cleaning up must not turn a run's result into a failure
        print(f"\ntopics of this session left on {address}: {exc!r}")
    finally:
        admin.close()


def bus_settings(
    backend: str, tmp_path: Path, kafka_bootstrap: str | None, partitions: int = 3
) -> BusSettings:
    if backend == "kafka":
        assert kafka_bootstrap is not None
        return BusSettings(
            backend="kafka",
            partitions=partitions,
            topic_prefix=unique_prefix(),
            kafka=KafkaSettings(
                bootstrap_servers=[kafka_bootstrap], session_timeout_ms=KAFKA_TEST_SESSION_MS
            ),
        )
    return BusSettings(
        backend="embedded",
        partitions=partitions,
        topic_prefix=unique_prefix(),
        embedded_path=tmp_path / "bus.sqlite3",
    )


@pytest.fixture(params=["embedded", "kafka"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_for(backend: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """BusSettings for the parametrized backend, with a fresh topic prefix."""
    bootstrap = request.getfixturevalue("kafka_bootstrap") if backend == "kafka" else None
    return bus_settings(backend, tmp_path, bootstrap)


@pytest.fixture
def bus(settings_for: BusSettings) -> Iterator[Bus]:
    opened = open_bus(settings_for)
    yield opened
    opened.close()
