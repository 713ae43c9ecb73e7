"""The feed poller against the fixture site: conditional GET, identity, state carried over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
from ingest.state import decode_state, encode_state
from tests.ingest.conftest import SITE_ARTICLES

ALLOW = ("127.0.0.1",)


def poller(site: FixtureServer, *paths: str) -> FeedPoller:
    feeds = [Feed(url=f"{site.base_url}{path}", name=path) for path in paths]
    return FeedPoller(feeds, allow_hosts=ALLOW)


def poll_all_now(source: FeedPoller) -> list:  # type: ignore[type-arg]
    for state in source.states.values():
        state.next_poll = 0
    found = source.read(10_000)
    source.take_states()
    return found


def test_each_entry_is_emitted_once_even_from_two_feeds(site: FixtureServer) -> None:
    # Given the same stories in an RSS and an Atom feed
    source = poller(site, "/feeds/news.xml", "/feeds/news.atom")
    # When both are polled, twice
    first = poll_all_now(source)
    second = poll_all_now(source)
    source.close()
    # Then every story is emitted once, with the feed's title and date
    assert len(first) == SITE_ARTICLES
    assert len({article.id for article in first}) == SITE_ARTICLES
    assert all(article.title and article.published_at for article in first)
    assert second == []


def test_unchanged_feeds_are_fetched_conditionally(site: FixtureServer) -> None:
    source = poller(site, "/feeds/news.xml")
    poll_all_now(source)
    poll_all_now(source)
    state = next(iter(source.states.values()))
    source.close()
    assert state.last_status == 304
    assert state.etag
    assert state.polls == 2


def test_a_saved_state_carries_what_was_emitted_to_the_next_poller(site: FixtureServer) -> None:
    # Given a poller that emitted every entry and handed out its states
    first = poller(site, "/feeds/news.xml")
    for state in first.states.values():
        state.next_poll = 0
    assert len(first.read(10_000)) == SITE_ARTICLES
    saved = [decode_state(encode_state(state)) for state in first.take_states()]
    first.close()
    # When a new story appears and another poller starts from the saved states
    site.publish(SiteArticle("خبر جديد", "نص الخبر", datetime.now(UTC)))
    restarted = poller(site, "/feeds/news.xml")
    for state in saved:
        restarted.load_state(state)
    found = poll_all_now(restarted)
    restarted.close()
    # Then only the new story is emitted
    assert [article.title for article in found] == ["خبر جديد"]
    assert len(saved) == 1 and len(saved[0].seen) == SITE_ARTICLES


def test_broken_feeds_are_recorded_and_do_not_stop_the_others(site: FixtureServer) -> None:
    source = poller(site, "/feeds/malformed.xml", "/hostile/429", "/hostile/404", "/feeds/news.xml")
    found = poll_all_now(source)
    source.close()
    assert len(found) == SITE_ARTICLES
    rows = {state.name: state.last_error_kind for state in source.states.values()}
    assert rows == {
        "/feeds/malformed.xml": "malformed-feed",
        "/hostile/429": "http-429",
        "/hostile/404": "http-404",
        "/feeds/news.xml": None,
    }


def test_a_failing_feed_backs_off_and_honours_retry_after(site: FixtureServer) -> None:
    source = poller(site, "/hostile/429")
    poll_all_now(source)
    state = next(iter(source.states.values()))
    source.close()
    assert state.error_streak == 1
    assert state.next_poll - (state.last_poll or 0) >= 120 * 0.9


def test_hostile_entries_become_discovered_articles_without_crashing(site: FixtureServer) -> None:
    source = poller(site, "/feeds/hostile.xml")
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


def test_polls_reuse_a_pool_per_host_bounded_by_the_per_host_limit(site: FixtureServer) -> None:
    # Given twelve feeds on one host and a per-host limit of three
    feeds = [Feed(url=f"{site.base_url}/bench/{n}.xml") for n in range(12)]
    source = FeedPoller(feeds, allow_hosts=ALLOW, max_per_host=3)
    # When they are polled twice
    poll_all_now(source)
    poll_all_now(source)
    held = source._pools.open_connections()
    source.close()
    # Then one pool served them, with at most three connections, and the second round was 304s
    assert list(held) == [site.base_url] and 1 <= held[site.base_url] <= 3
    assert {state.last_status for state in source.states.values()} == {304}


def test_a_round_closes_the_connections_of_hosts_it_did_not_poll(site: FixtureServer) -> None:
    # Given a poller that polled a feed on the fixture site
    source = FeedPoller([Feed(url=f"{site.base_url}/feeds/news.xml")], allow_hosts=ALLOW)
    poll_all_now(source)
    assert site.base_url in source._pools.open_connections()
    # When the feed is removed and another round runs
    source.remove_feed(f"{site.base_url}/feeds/news.xml")
    other_host = f"http://localhost:{site.base_url.rsplit(':', 1)[1]}"
    source.add_feed(Feed(url=f"{other_host}/feeds/news.atom"))
    poll_all_now(source)
    held = source._pools.open_connections()
    source.close()
    # Then the first host's connections were closed; the host polled keeps its own
    assert site.base_url not in held
    assert list(held) == [other_host]


def test_a_feed_on_a_private_address_is_refused_before_any_request(site: FixtureServer) -> None:
    url = site.base_url.replace("127.0.0.1", "localhost") + "/feeds/news.xml"
    source = FeedPoller([Feed(url=url)])
    found = poll_all_now(source)
    source.close()
    assert found == []
    assert source.states[url].last_error_kind == "private-address"
    assert site.requests == 0


def test_polls_of_one_host_start_at_least_the_host_spacing_apart(site: FixtureServer) -> None:
    # Given six feeds on one host, four polls allowed at once, and a spacing of 0.2 s
    feeds = [Feed(url=f"{site.base_url}/bench/{n}.xml") for n in range(6)]
    source = FeedPoller(feeds, allow_hosts=ALLOW, max_per_host=4, host_spacing_s=0.2)
    # When they are polled in one round, then again at once
    poll_all_now(source)
    poll_all_now(source)
    source.close()
    # Then the host saw one request after another, never a burst, across the two rounds
    starts = sorted(when for when, path, _agent in site.requests_log() if "/bench/" in path)
    assert len(starts) == 12
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.15  # the server notes a request a little after it was sent
