"""Feed health from a real poller state file: failing, quiet and healthy feeds."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from akhbar.observe.feeds import FeedHealthCollector, read_feed_health
from ingest.state import FeedState, FeedStateStore

HOUR = 3600.0


def write_state(path: Path, now: float) -> None:
    """Three feeds as the poller leaves them: one failing, one quiet, one healthy."""
    store = FeedStateStore(path)
    store.commit(
        [
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
                url="https://b.example/rss", name="quiet", polls=40, entries=30, items_per_day=24
            ),
            FeedState(
                url="https://c.example/rss", name="busy", polls=40, entries=30, items_per_day=24
            ),
        ],
        [("https://b.example/rss", "guid:b1"), ("https://c.example/rss", "guid:c1")],
        [],
    )
    store.record_page_error("https://c.example/rss", "http-404", "http-404: page answered 404")
    store.close()
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "UPDATE seen_entries SET seen_at = ? WHERE feed = ?",
            (now - 10 * HOUR, "https://b.example/rss"),
        )
        db.execute(
            "UPDATE seen_entries SET seen_at = ? WHERE feed = ?",
            (now - 0.5 * HOUR, "https://c.example/rss"),
        )
    db.close()


def test_failing_quiet_and_healthy_feeds(tmp_path: Path) -> None:
    # Given a state file with a failing feed, one quiet for 10 of its usual hours, one busy
    path = tmp_path / "feeds.sqlite3"
    now = time.time()
    write_state(path, now)

    # When its health is read
    feeds = read_feed_health(path, now)

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


def test_the_gauge_counts_feeds_by_state(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite3"
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(path))
    # Before the poller wrote anything, the gauge has no series (and the scrape works)
    assert registry.get_sample_value("akhbar_feeds", {"state": "ok"}) is None
    write_state(path, time.time())
    collector_registry = CollectorRegistry()
    collector_registry.register(FeedHealthCollector(path))
    for state in ("ok", "failing", "quiet"):
        assert collector_registry.get_sample_value("akhbar_feeds", {"state": state}) == 1


def test_a_missing_state_file_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.sqlite3"
    with pytest.raises(sqlite3.Error, match="no feed state"):
        read_feed_health(path)
    assert not path.exists()
