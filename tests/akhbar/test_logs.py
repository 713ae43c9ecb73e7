"""Log records of libraries come out as the same JSON events as Akhbar's own."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from akhbar.config import LogSettings
from akhbar.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    """Later tests must not log into this test's captured (then closed) stderr."""
    yield
    structlog.reset_defaults()


def test_a_library_warning_is_a_json_event_with_its_level_and_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by the reliability suite: during a broker outage a stage with nothing
    # to commit said so only through kafka-python's plain-text lines.
    configure_logging(LogSettings(level="INFO", format="json"))

    logging.getLogger("kafka.net.manager").warning("Connection failed: %s", "ECONNREFUSED")
    logging.getLogger("kafka.conn").info("connecting")  # below WARNING: not shown
    get_logger(stage="normalize").info("stage started")

    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert events[0]["event"] == "Connection failed: ECONNREFUSED"
    assert events[0]["level"] == "warning"
    assert events[0]["logger"] == "kafka.net.manager"
    assert "timestamp" in events[0]
    assert [e["event"] for e in events[1:]] == ["stage started"]


def test_a_library_warning_with_an_exception_carries_its_traceback_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(level="INFO", format="json"))

    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        logging.getLogger("opensearch").warning("POST /_bulk failed", exc_info=True)

    [event] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert event["exception"].startswith("Traceback")
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in event["exception"]
