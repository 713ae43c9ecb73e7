"""Feed health from the pollers' `feeds.state` table: failing, quiet and healthy feeds.

Runs on both buses: the table is read the way `akhbar status`, the status page
and the `akhbar_feeds` gauge read it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from akhbar.bus import open_bus
from akhbar.config import BusSettings, IngestSettings, Settings
from akhbar.errors import BusError
from akhbar.observe.feeds import FeedHealthCollector, read_feed_health
from akhbar.topics import Topics
from ingest.poller_group import ensure_feed_topics
from ingest.state import FeedState, PageErrorStore, encode_state

HOUR = 3600.0


def settings_with(bus: BusSettings, tmp_path: Path) -> Settings:
    return Settings(bus=bus, ingest=IngestSettings(state_path=tmp_path / "page-errors.sqlite3"))


def publish_states(settings: Settings, now: float) -> None:
    """Three feeds as the pollers leave them: one failing, one quiet, one healthy."""
    states = [
        FeedState(
            url="https://a.example/rss",
            name="عكاظ",
            error_streak=3,
            last_error="http-503: feed answered 503",
            last_error_kind="http-503",
            polls=10,
            entries=5,
            items_per_day=24,
        ),
        # 24 items a day (one an hour), but nothing new for 10 hours.
        FeedState(
            url="https://b.example/rss",
            name="quiet",
            polls=40,
            entries=30,
            items_per_day=24,
            seen={"b1": now - 10 * HOUR},
        ),
        FeedState(
            url="https://c.example/rss",
            name="busy",
            polls=40,
            entries=30,
            items_per_day=24,
            seen={"c1": now - 0.5 * HOUR},
        ),
    ]
    bus = open_bus(settings.bus)
    try:
        topics = Topics(settings.bus.topic_prefix)
        ensure_feed_topics(bus, topics)
        producer = bus.producer()
        for state in states:
            producer.send(topics.feed_state, encode_state(state), key=state.url.encode())
        producer.flush()
        producer.close()
    finally:
        bus.close()
    errors = PageErrorStore(settings.ingest.state_path)
    errors.record_page_error("https://c.example/rss", "http-404", "http-404: page answered 404")
    errors.close()


def test_failing_quiet_and_healthy_feeds(settings_for: BusSettings, tmp_path: Path) -> None:
    # Given a state table with a failing feed, one quiet for 10 of its usual hours, one busy
    settings = settings_with(settings_for, tmp_path)
    now = time.time()
    publish_states(settings, now)

    # When its health is read
    feeds = read_feed_health(settings, now)

    # Then failing comes first with its last error, then quiet, then ok with its page errors
    assert [(f.name, f.state) for f in feeds] == [
        ("عكاظ", "failing"),
        ("quiet", "quiet"),
        ("busy", "ok"),
    ]
    assert feeds[0].last_error == "http-503: feed answered 503"
    assert feeds[0].error_streak == 3
    assert feeds[1].last_item == pytest.approx(now - 10 * HOUR)
    assert feeds[2].page_errors == {"http-404": 1}
    assert feeds[2].last_page_error == "http-404: page answered 404"


def test_the_gauge_counts_feeds_by_state(settings_for: BusSettings, tmp_path: Path) -> None:
    settings = settings_with(settings_for, tmp_path)
    publish_states(settings, time.time())
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(settings))
    for state in ("ok", "failing", "quiet"):
        assert registry.get_sample_value("akhbar_feeds", {"state": state}) == 1


def test_an_unreachable_bus_is_an_error_and_the_gauge_has_no_series(tmp_path: Path) -> None:
    from tests.akhbar.observe.test_checks import closed_port

    bus = BusSettings.model_validate(
        {"backend": "kafka", "kafka": {"bootstrap_servers": [f"127.0.0.1:{closed_port()}"]}}
    )
    settings = settings_with(bus, tmp_path)
    with pytest.raises(BusError):
        read_feed_health(settings)
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(settings))
    assert registry.get_sample_value("akhbar_feeds", {"state": "ok"}) is None
