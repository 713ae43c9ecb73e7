"""The feed poller against the fixture site: conditional GET, identity, memory across restarts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import httpx

from ingest.feeds import Feed
from ingest.fixture_server import FixtureServer, SiteArticle
from ingest.poller import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    FeedPoller,
    adaptive_interval,
    entry_key,
)
from tests.ingest.conftest import SITE_ARTICLES

ALLOW = ("127.0.0.1",)


def poller(site: FixtureServer, state: Path, *paths: str) -> FeedPoller:
    feeds = [Feed(url=f"{site.base_url}{path}", name=path) for path in paths]
    return FeedPoller(feeds, state, allow_hosts=ALLOW)


def poll_all_now(source: FeedPoller) -> list:  # type: ignore[type-arg]
    for state in source.states.values():
        state.next_poll = 0
    found = source.read(10_000)
    source.commit()
    return found


def test_each_entry_is_emitted_once_even_from_two_feeds(
    site: FixtureServer, tmp_path: Path
) -> None:
    # Given the same stories in an RSS and an Atom feed
    source = poller(site, tmp_path / "state.sqlite3", "/feeds/news.xml", "/feeds/news.atom")
    # When both are polled, twice
    first = poll_all_now(source)
    second = poll_all_now(source)
    source.close()
    # Then every story is emitted once, with the feed's title and date
    assert len(first) == SITE_ARTICLES
    assert len({article.id for article in first}) == SITE_ARTICLES
    assert all(article.title and article.published_at for article in first)
    assert second == []


def test_unchanged_feeds_are_fetched_conditionally(site: FixtureServer, tmp_path: Path) -> None:
    source = poller(site, tmp_path / "state.sqlite3", "/feeds/news.xml")
    poll_all_now(source)
    poll_all_now(source)
    state = next(iter(source.states.values()))
    source.close()
    assert state.last_status == 304
    assert state.etag
    assert state.polls == 2


def test_a_restart_remembers_what_was_emitted(site: FixtureServer, tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = poller(site, path, "/feeds/news.xml")
    assert len(poll_all_now(first)) == SITE_ARTICLES
    first.close()
    # A new story appears while the poller is down.
    site.publish(SiteArticle("خبر جديد", "نص الخبر", datetime.now(UTC)))
    restarted = poller(site, path, "/feeds/news.xml")
    found = poll_all_now(restarted)
    restarted.close()
    assert [article.title for article in found] == ["خبر جديد"]


def test_what_was_not_committed_is_emitted_again(site: FixtureServer, tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    crashed = poller(site, path, "/feeds/news.xml")
    for state in crashed.states.values():
        state.next_poll = 0
    assert len(crashed.read(10_000)) == SITE_ARTICLES  # read, never committed
    crashed.store.close()
    restarted = poller(site, path, "/feeds/news.xml")
    assert len(poll_all_now(restarted)) == SITE_ARTICLES
    restarted.close()


def test_broken_feeds_are_recorded_and_do_not_stop_the_others(
    site: FixtureServer, tmp_path: Path
) -> None:
    path = tmp_path / "state.sqlite3"
    source = poller(
        site, path, "/feeds/malformed.xml", "/hostile/429", "/hostile/404", "/feeds/news.xml"
    )
    found = poll_all_now(source)
    source.close()
    assert len(found) == SITE_ARTICLES
    rows = dict(sqlite3.connect(path).execute("SELECT name, last_error_kind FROM feeds").fetchall())
    assert rows == {
        "/feeds/malformed.xml": "malformed-feed",
        "/hostile/429": "http-429",
        "/hostile/404": "http-404",
        "/feeds/news.xml": None,
    }


def test_a_failing_feed_backs_off_and_honours_retry_after(
    site: FixtureServer, tmp_path: Path
) -> None:
    source = poller(site, tmp_path / "state.sqlite3", "/hostile/429")
    poll_all_now(source)
    state = next(iter(source.states.values()))
    source.close()
    assert state.error_streak == 1
    assert state.next_poll - (state.last_poll or 0) >= 120 * 0.9


def test_hostile_entries_become_discovered_articles_without_crashing(
    site: FixtureServer, tmp_path: Path
) -> None:
    source = poller(site, tmp_path / "state.sqlite3", "/feeds/hostile.xml")
    found = poll_all_now(source)
    source.close()
    assert any(article.url.startswith("http://169.254.169.254") for article in found)
    assert len(found) >= 17


def test_entry_identity_prefers_guid_then_canonical_link() -> None:
    feed = feedparser.parse(
        "<rss><channel>"
        "<item><guid>abc</guid><link>https://x.example/a?utm_source=tw</link></item>"
        "<item><link>http://X.example/b/?utm_medium=rss</link></item>"
        "<item><title>بلا رابط</title><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>"
        "</channel></rss>"
    )
    keys = [entry_key(entry) for entry in feed.entries]
    assert keys[0] == "guid:abc"
    assert keys[1] == "url:https://x.example/b"
    assert keys[2] is not None and keys[2].startswith("title:")


def test_the_interval_follows_the_rate_and_the_hints() -> None:
    plain = httpx.Response(200)
    assert adaptive_interval(10_000, None, plain) == MIN_INTERVAL_S
    assert adaptive_interval(0.001, None, plain) == MAX_INTERVAL_S
    assert adaptive_interval(24, None, plain) == 1800
    cached = httpx.Response(200, headers={"Cache-Control": "max-age=3600"})
    assert adaptive_interval(24, None, cached) == 3600
    expires = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    expiring = httpx.Response(200, headers={"Expires": expires})
    assert 7000 <= adaptive_interval(24, None, expiring) <= 7200
    ttl = feedparser.parse("<rss><channel><ttl>90</ttl></channel></rss>")
    assert adaptive_interval(24, ttl, plain) == 5400
