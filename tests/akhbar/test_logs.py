"""Structured logs: one JSON event per line, with where the message is, and no secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from akhbar.article import Article
from akhbar.bus import open_bus
from akhbar.config import BusSettings, LogSettings, SearchSinkSettings, Settings
from akhbar.logs import MASK, configure_logging, get_logger
from akhbar.metrics import Metrics
from akhbar.runner import Stage, StageRunner
from tests.akhbar.test_runner import FAST, produce
from tests.helpers.articles import make_article

SECRETS = ("hunter2", "c2VjcmV0LWtleQ", "s3cr3t-token", "pa55word", "sasl-secret")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Call it to send JSON logs to the captured stderr; it returns a reader of the events.

    Configured from the test itself: pytest swaps stderr between setup and the test.
    """

    def start() -> Any:
        configure_logging(LogSettings(level="INFO", format="json"))

        def events() -> list[dict[str, Any]]:
            lines = capsys.readouterr().err.splitlines()
            return [json.loads(line) for line in lines if line.strip()]

        return events

    yield start
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_akhbar_handler", False)]:
        root.removeHandler(handler)


def test_secrets_never_reach_a_log_line(json_logs: Any) -> None:
    # Given events and library records that carry secrets in every usual place
    events = json_logs()
    log = get_logger(stage="search")
    log.warning(
        "bulk failed",
        url="https://elastic:hunter2@search-1:9200/_bulk?api_key=c2VjcmV0LWtleQ&pretty=1",
        headers={"Authorization": "Bearer s3cr3t-token", "Accept": "application/json"},
        password="pa55word",
        token_count=42,
        error=ConnectionError("POST https://elastic:hunter2@search-1:9200 failed"),
    )
    log.info("starting", settings={"kafka": {"sasl_password": "sasl-secret", "client_id": "a"}})
    logging.getLogger("opensearch").warning(
        "GET http://admin:hunter2@127.0.0.1:9200/ [status:N/A] Authorization: ApiKey c2VjcmV0LWtleQ"
    )
    try:
        raise RuntimeError("cannot reach https://user:pa55word@broker:9093")
    except RuntimeError:
        log.exception("poll failed")

    # Then every line is one JSON event, the secrets are masked and the rest is kept
    logged = events()
    text = json.dumps(logged)
    assert len(logged) == 4
    for secret in SECRETS:
        assert secret not in text
    bulk, starting, library, failure = logged
    assert bulk["url"] == (f"https://elastic:{MASK}@search-1:9200/_bulk?api_key={MASK}&pretty=1")
    assert bulk["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    assert bulk["password"] == MASK and bulk["token_count"] == 42
    assert starting["settings"]["kafka"] == {"sasl_password": MASK, "client_id": "a"}
    assert library["logger"] == "opensearch" and library["level"] == "warning"
    assert "http://admin:" in library["event"] and "127.0.0.1:9200" in library["event"]
    assert "RuntimeError" in failure["exception"]


def test_the_settings_logged_at_start_hide_a_password_in_a_host_url(json_logs: Any) -> None:
    # Given settings whose search host carries a password, as some deployments write it
    events = json_logs()
    settings = Settings(
        sinks={"search": SearchSinkSettings(hosts=["https://elastic:hunter2@search-1:9200"])}
    )

    # When the runner logs them at start-up, as `akhbar run` does
    get_logger(stage="main").info("starting", settings=settings.masked())

    # Then the host is there, its password is not
    (event,) = events()
    assert event["settings"]["sinks"]["search"]["hosts"] == [
        f"https://elastic:{MASK}@search-1:9200"
    ]


def test_events_about_a_message_say_where_it_is(json_logs: Any, tmp_path: Path) -> None:
    # Given an article on the embedded bus and a step that fails once, then works
    events = json_logs()
    bus = open_bus(BusSettings(backend="embedded", embedded_path=tmp_path / "bus.sqlite3"))
    article = make_article(1)
    produce(bus, "articles.cleaned", [article.to_bytes()], [article.id.encode()])
    calls: list[int] = []

    def flaky(received: Article) -> Article:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("upstream slow")
        return received

    stage = Stage("normalize", "1", "articles.cleaned", flaky, output_topic="articles.normalized")

    # When the stage runs
    StageRunner(bus, stage, FAST, Metrics()).run(max_messages=1, timeout=30)

    # Then the retry event names the stage, topic, partition, offset, article id and url
    retry = next(e for e in events() if e["event"] == "step failed, will retry")
    assert retry["stage"] == "normalize"
    assert retry["topic"] == "articles.cleaned"
    assert isinstance(retry["partition"], int) and retry["offset"] == 0
    assert retry["article_id"] == article.id and retry["url"] == article.url
