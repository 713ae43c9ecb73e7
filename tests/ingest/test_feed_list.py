"""The feed list file is the declared list of the feeds that came from it, on both buses."""

from __future__ import annotations

from pathlib import Path

from akhbar.bus import Bus
from akhbar.config import BusSettings
from akhbar.topics import Topics
from ingest.feeds import Feed, save_feeds
from ingest.poller_group import publish_feeds, read_table, sync_feed_list
from ingest.state import FeedState, encode_state

A, B, C = (f"https://{name}.example/rss.xml" for name in ("a", "b", "c"))


def test_a_line_deleted_from_the_file_stops_its_feed_and_added_feeds_stay(
    tmp_path: Path, bus: Bus, settings_for: BusSettings
) -> None:
    topics = Topics(settings_for.topic_prefix)
    path = tmp_path / "feeds.yaml"
    # Given a poller that published a file listing A and B, and a feed C added on its own
    save_feeds(path, [Feed(url=A), Feed(url=B)])
    assert sync_feed_list(bus, topics, path) == (2, 0)
    publish_feeds(bus, topics, [Feed(url=C)])
    producer = bus.producer()
    producer.send(topics.feed_state, encode_state(FeedState(url=B)), key=B.encode())
    producer.flush()
    producer.close()
    # When B's line is deleted and a poller starts again
    save_feeds(path, [Feed(url=A)])
    published, removed = sync_feed_list(bus, topics, path)
    # Then B is off the feed list and its state is gone; A and C are still polled
    assert (published, removed) == (1, 1)
    assert set(read_table(bus, topics.feeds)) == {A, C}
    assert B not in read_table(bus, topics.feed_state)


def test_feeds_listed_by_another_file_are_not_removed(
    tmp_path: Path, bus: Bus, settings_for: BusSettings
) -> None:
    topics = Topics(settings_for.topic_prefix)
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    save_feeds(first, [Feed(url=A)])
    save_feeds(second, [Feed(url=B)])
    sync_feed_list(bus, topics, first)
    assert sync_feed_list(bus, topics, second) == (1, 0)
    assert set(read_table(bus, topics.feeds)) == {A, B}
