"""Pollers in one consumer group: Kafka's assignment shares the feed list among them.

The feed list is the compacted topic `feeds` (key: feed URL, value: the Feed as
JSON, a tombstone when removed), and each feed's state is the compacted topic
`feeds.state`, co-partitioned with it (ingest/state.py). Every poller process
runs a `PollerMember`, which joins the group `akhbar.poller` on `feeds` and:

* reads its assigned partitions of `feeds` from the start, never committing, so
  it always holds the whole current list of its partitions and follows changes;
* before polling the feeds of a newly assigned partition, reads that partition
  of `feeds.state` to its end and polls them as the previous owner left them:
  validators, next poll time, seen entries;
* each round polls the feeds that are due, sends their new articles to
  `articles.discovered`, flushes, then publishes their new states and flushes.
  Nothing is held unflushed when it asks the group for news, so a partition
  that moves away has nothing left behind; a member killed mid-round loses
  only that round, which the next owner polls again after the session timeout;
* polls a partition's feeds only from the group's `on_assign` for it to its
  next `on_revoke`. kafka-python 3 can finish a rebalance on its IO thread
  after `poll` has returned, so the assignment `poll` leaves behind may be
  one the group has already replaced; the revoke, though, always runs before
  the group moves a partition on, and it waits for a round in flight to
  publish its states. The next owner therefore starts from those states, and
  no feed is polled by two members at once. (A member the group evicts while
  it is stalled learns of it only when it next asks the group for news, as
  any Kafka consumer does; until then it may still poll.)

On the embedded bus one consumer holds every partition (the group's lock file
ensures a single poller), through the same code.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from akhbar.bus import COMPACTED, Bus, Consumer, Message, Producer, TopicPartition
from akhbar.config import Settings
from akhbar.errors import AkhbarError
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.runner import RunStats
from akhbar.topics import Topics, dead_letter_topic
from ingest.feeds import Feed, load_feeds
from ingest.fetch import USER_AGENT
from ingest.metrics import IngestMetrics
from ingest.poller import NAME, VERSION, FeedPoller
from ingest.state import FeedState, decode_state, encode_state

# How long one wait for feed-list changes may take when no feed is due: the delay
# before a new or changed feed is seen, and the longest sleep between rounds.
LIST_POLL_MAX_S = 1.0
# Feed-list messages applied per poll; a 10,000-feed list loads in a few polls.
LIST_BATCH = 5_000
# Reading a partition of the state table must not wait forever on a sick broker.
STATE_LOAD_TIMEOUT_S = 60.0


class FeedTableError(AkhbarError):
    """A message on the feed list or the state table could not be read."""


def encode_feed(feed: Feed) -> bytes:
    return feed.model_dump_json(exclude_defaults=True).encode()


def ensure_feed_topics(bus: Bus, topics: Topics) -> None:
    """Create the feed list and the state table as compacted topics where missing."""
    tables = [topics.feeds, topics.feed_state]
    bus.ensure_topics(tables, configs=dict.fromkeys(tables, COMPACTED))


def publish_feeds(bus: Bus, topics: Topics, feeds: Iterable[Feed]) -> int:
    """Add or update feeds on the feed list; returns how many were sent."""
    ensure_feed_topics(bus, topics)
    producer = bus.producer()
    try:
        sent = 0
        for feed in feeds:
            producer.send(topics.feeds, encode_feed(feed), key=feed.url.encode())
            sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


def remove_feeds(bus: Bus, topics: Topics, urls: Iterable[str]) -> None:
    """Tombstone feeds on the feed list and in the state table."""
    ensure_feed_topics(bus, topics)
    producer = bus.producer()
    try:
        for url in urls:
            producer.send(topics.feeds, None, key=url.encode())
            producer.send(topics.feed_state, None, key=url.encode())
        producer.flush()
    finally:
        producer.close()


def sync_feed_list(bus: Bus, topics: Topics, path: Path) -> tuple[int, int]:
    """Make the feed list topic follow the list file: publish its feeds, marked as
    listed in it, and remove the feeds it listed before and no longer does.

    Called by a poller at start-up. Feeds without the mark (published on their
    own, or by an older poller) are left alone. Returns (published, removed);
    raises FeedListError for a bad file, before anything is sent.
    """
    listed_in = str(path.resolve())
    feeds = [feed.model_copy(update={"listed_in": listed_in}) for feed in load_feeds(path)]
    ensure_feed_topics(bus, topics)
    urls = {feed.url for feed in feeds}
    dropped = [
        url
        for url, value in read_table(bus, topics.feeds).items()
        if url not in urls and _listed_in(value) == listed_in
    ]
    published = publish_feeds(bus, topics, feeds)
    if dropped:
        remove_feeds(bus, topics, dropped)
    return published, len(dropped)


def _listed_in(value: bytes) -> str | None:
    """The list file a feed-list message says its feed came from, if it says so."""
    try:
        data = json.loads(value)
    except ValueError:
        return None  # an unreadable entry is reported where the poller applies it
    found = data.get("listed_in") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def read_table(bus: Bus, topic: str) -> dict[str, bytes]:
    """A whole compacted topic as {key: latest value}, tombstoned keys left out."""
    reader = bus.reader(topic, range(bus.partition_count(topic)))
    try:
        table: dict[str, bytes] = {}
        for message in reader.read_to_end(STATE_LOAD_TIMEOUT_S):
            if message.key is None:
                continue
            if message.value:
                table[message.key.decode()] = message.value
            else:
                table.pop(message.key.decode(), None)
        return table
    finally:
        reader.close()


@dataclass
class PollerMember:
    """One poller process's part of the group; see the module docstring.

    `run()` returns after a stop request (or, with `until_exhausted` and `once`,
    when every feed it holds has been polled once). A bus that fails to store
    what was sent raises BusError out of `run`, with the states of that round
    unpublished: the restarted poller polls those feeds again.
    """

    bus: Bus
    settings: Settings
    metrics: Metrics
    stop: threading.Event = field(default_factory=threading.Event)
    once: bool = False
    stats: RunStats = field(default_factory=RunStats)

    def __post_init__(self) -> None:
        ingest = self.settings.ingest
        self.topics = Topics(self.settings.bus.topic_prefix)
        self.log = get_logger(stage=NAME)
        self.poller = FeedPoller(
            allow_hosts=tuple(ingest.allow_hosts),
            user_agent=ingest.user_agent or USER_AGENT,
            once=self.once,
            metrics=IngestMetrics.of(self.metrics),
            max_per_host=ingest.poll_max_per_host,
            host_spacing_s=ingest.host_spacing_s,
            # A feed is fetched like a page, and bounded the same way.
            total_timeout_s=ingest.page_timeout_s,
        )
        # The feed list of the partitions the consumer reads, and where each feed is.
        self._listed: dict[str, Feed] = {}
        self._partition_of: dict[str, int] = {}
        # Partitions the consumer reads, as its assignment said after the last poll.
        self._held: set[int] = set()
        # Partitions the group gave and has not revoked; the rebalance callbacks
        # change it on the consumer's IO thread, under `_lock`.
        self._granted: set[int] = set()
        # Partitions revoked since this member's thread last looked: polling them
        # stops even if the group has given them back meanwhile, since another member
        # may have polled their feeds in between; their states are read again.
        self._revoked: set[int] = set()
        # Partitions whose feeds the FeedPoller has, their states loaded.
        self._polling: set[int] = set()
        # Held by the member's thread while it works on its feeds (never while it
        # waits on the group consumer), so a revoke waits for a round to publish.
        self._lock = threading.Lock()
        self._list_read = False

    @property
    def group(self) -> str:
        return f"{self.settings.bus.topic_prefix}akhbar.{NAME}"

    def run(self, until_exhausted: bool = False, idle_wait_s: float = LIST_POLL_MAX_S) -> RunStats:
        """Follow the feed list and poll its feeds until stopped; see the class docstring."""
        ensure_feed_topics(self.bus, self.topics)
        self.bus.ensure_topics([self.topics.discovered, dead_letter_topic(self.topics.discovered)])
        if self.settings.ingest.feeds is not None:
            path = self.settings.ingest.feeds
            seeded, dropped = sync_feed_list(self.bus, self.topics, path)
            self.log.info("feed list published", feeds=seeded, removed=dropped, path=str(path))
        consumer = self.bus.consumer(
            self.group, [self.topics.feeds], on_revoke=self._on_revoke, on_assign=self._on_assign
        )
        producer = self.bus.producer()
        self.log.info("poller started", group=self.group)
        # /healthz and the status page follow the poller like any stage.
        self.metrics.liveness.started(NAME)
        try:
            while not self.stop.is_set():
                self.metrics.liveness.beat(NAME)
                self._follow_list(consumer, self._wait_s(idle_wait_s))
                # A stop asked for while waiting starts no round: the feeds the group
                # handed over meanwhile are left to the member that goes on.
                if self.stop.is_set() or (until_exhausted and self._exhausted()):
                    break
                self._round(producer)
        except BaseException as exc:
            self.metrics.liveness.finished(NAME, exc)
            raise
        finally:
            self.poller.close()
            producer.close()
            consumer.close()
        self.metrics.liveness.finished(NAME)
        self.log.info("poller stopped", feeds=len(self.poller.feeds), **vars(self.stats))
        return self.stats

    def _wait_s(self, idle_wait_s: float) -> float:
        """Wait for list changes only until the next feed is due."""
        due = self.poller.next_due()
        if self.once or due is None:
            return min(idle_wait_s, 0.05) if self.once else idle_wait_s
        return max(0.0, min(idle_wait_s, due - time.time()))

    # -- the feed list and the assignment --------------------------------------

    def _follow_list(self, consumer: Consumer, timeout: float) -> None:
        # Outside the lock: the rebalance callbacks run while this thread waits here.
        records = consumer.poll(timeout, LIST_BATCH)
        assigned = {p for _topic, p in consumer.assignment()}
        with self._lock:
            for record in records:
                self._apply(record)
            self._follow_assignment(assigned)
        # An empty poll with everything read: this member knows its whole list.
        if not records and self._polling and consumer.at_end():
            self._list_read = True

    def _exhausted(self) -> bool:
        """With `once`: every partition held is polled, its list read, each feed polled."""
        return self._list_read and self._polling == self._held and self.poller.exhausted

    def _apply(self, record: Message) -> None:
        if record.key is None:
            self.log.warning("feed list message without a key ignored", offset=record.offset)
            return
        url = record.key.decode(errors="replace")
        if not record.value:
            self._forget_feed(url)
            return
        try:
            feed = Feed.model_validate_json(record.value)
        except ValidationError as exc:
            self.log.warning("feed list entry ignored", feed=url, reason=str(exc.errors()[0]))
            return
        self._listed[feed.url] = feed
        self._partition_of[feed.url] = record.partition
        if record.partition in self._polling:
            self.poller.add_feed(feed)

    def _forget_feed(self, url: str) -> None:
        self.poller.remove_feed(url)
        self._listed.pop(url, None)
        self._partition_of.pop(url, None)

    def _follow_assignment(self, assigned: set[int]) -> None:
        """Drop the list of partitions the consumer no longer reads, then poll what is ours."""
        lost = self._held - assigned
        if lost:
            gone = self._urls_in(lost)
            for url in gone:
                self._forget_feed(url)
            self.log.info("partitions moved away", partitions=sorted(lost), feeds=len(gone))
        self._held = assigned
        self._follow_grants()

    def _follow_grants(self) -> None:
        """Poll the feeds of the partitions held and granted, and only those (under `_lock`)."""
        ours = self._held & self._granted
        stopped = (self._polling - ours) | (self._polling & self._revoked)
        self._revoked.clear()
        if stopped:
            for url in self._urls_in(stopped):
                self.poller.remove_feed(url)
            self._polling -= stopped
            self.log.info("polling stopped", partitions=sorted(stopped))
        started = ours - self._polling
        if started:
            for url in self._urls_in(started):
                self.poller.add_feed(self._listed[url])
            loaded = self._load_states(started)
            self._polling |= started
            self.log.info("partitions assigned", partitions=sorted(started), states=loaded)
            self._list_read = False

    def _urls_in(self, partitions: set[int]) -> list[str]:
        return [url for url, p in self._partition_of.items() if p in partitions]

    def _on_revoke(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Called by the bus before the group moves `partitions` to another member.

        kafka-python runs it on the consumer's IO thread while the member's thread
        waits in `poll` or `close`. Taking the lock waits for a round in flight,
        which publishes its states before it lets go, so the next owner reads them;
        every later round sees the partitions revoked and leaves their feeds alone.
        Nothing to commit: the member reads the list from the start every time.
        """
        revoked = {p for topic, p in partitions if topic == self.topics.feeds}
        with self._lock:
            self._granted -= revoked
            self._revoked |= revoked
        self.log.info("partitions revoked", partitions=sorted(revoked))
        return {}

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        """Called by the bus when the group gives this member partitions (IO thread too)."""
        with self._lock:
            self._granted |= {p for topic, p in partitions if topic == self.topics.feeds}

    def _load_states(self, partitions: set[int]) -> int:
        """Read the state table's partitions to their end; the latest state per feed wins."""
        reader = self.bus.reader(self.topics.feed_state, sorted(partitions))
        try:
            messages = reader.read_to_end(STATE_LOAD_TIMEOUT_S)
        finally:
            reader.close()
        states: dict[str, FeedState | None] = {}
        for message in messages:
            if message.key is None:
                continue
            url = message.key.decode(errors="replace")
            states[url] = self._decode_state(url, message.value)
        for state in states.values():
            if state is not None:
                self.poller.load_state(state)
        return sum(state is not None for state in states.values())

    def _decode_state(self, url: str, value: bytes | None) -> FeedState | None:
        if not value:
            return None
        try:
            return decode_state(value)
        except (ValueError, TypeError) as exc:
            # The feed is polled as new: its entries may come again, never get lost.
            self.log.warning("unreadable feed state ignored", feed=url, reason=repr(exc))
            return None

    # -- one round of polls ----------------------------------------------------

    def _round(self, producer: Producer) -> None:
        with self._lock:
            # A revoke since the list was read takes effect before any poll.
            self._follow_grants()
            self._poll_and_publish(producer)

    def _poll_and_publish(self, producer: Producer) -> None:
        articles = self.poller.read(self.settings.runner.max_batch)
        for article in articles:
            stamped = article.stamped(NAME, VERSION)
            producer.send(self.topics.discovered, stamped.to_bytes(), key=article.id.encode())
        states = self.poller.take_states()
        if not states:
            return
        producer.flush()  # the articles first: a state must never run ahead of them
        for state in states:
            producer.send(self.topics.feed_state, encode_state(state), key=state.url.encode())
        producer.flush()
        self.stats.produced += len(articles)
        self.metrics.messages_out.labels(NAME).inc(len(articles))


def poller_member(
    settings: Settings, bus: Bus, metrics: Metrics, stop: threading.Event, once: bool = False
) -> PollerMember | None:
    """The poller of this process, or None when no feed list is configured."""
    if settings.ingest.feeds is None:
        return None
    return PollerMember(bus, settings, metrics, stop, once=once)
