"""A feed that drips a byte at a time is given up on, and does not hold up the others."""

from __future__ import annotations

from ingest.feeds import Feed
from ingest.fixture_server import FixtureServer
from ingest.poller import FeedPoller
from tests.ingest.conftest import SITE_ARTICLES


def test_a_slow_drip_feed_times_out_and_the_other_feeds_are_read(site: FixtureServer) -> None:
    # Found by the reliability suite's hostile set: the read timeout never trips on a
    # byte every 0.2 s, so one such feed held every poll round for its whole minute.
    # Given a news feed and a feed that drips a byte every 0.2 s for a minute
    feeds = [
        Feed(url=f"{site.base_url}/feeds/news.xml", name="news"),
        Feed(url=f"{site.base_url}/hostile/slow", name="slow"),
    ]
    poller = FeedPoller(feeds, allow_hosts=("127.0.0.1",), total_timeout_s=1.0)

    # When they are polled
    found = poller.read(1000)
    poller.close()

    # Then the news feed's entries are read, and the slow one failed as a timeout
    assert len(found) == SITE_ARTICLES
    slow = poller.states[f"{site.base_url}/hostile/slow"]
    assert (slow.error_streak, slow.last_error_kind) == (1, "timeout")
