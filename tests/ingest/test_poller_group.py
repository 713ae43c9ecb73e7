"""Two poller processes in one consumer group over the real Kafka broker.

Every article is listed by two of the section feeds, which the group spreads
over both pollers: the fetch stage's dedup by URL has to be the final one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from akhbar.article import Article
from akhbar.bus import Consumer, TopicPartition, open_bus
from akhbar.config import BusSettings, IngestSettings, RunnerSettings, Settings
from akhbar.metrics import Metrics
from akhbar.runner import StageRunner
from akhbar.topics import Topics
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import FixtureServer, load_saudinewsnet
from ingest.poller import JITTER
from ingest.poller_group import PollerMember
from ingest.stage import fetch_stage
from tests.conftest import KAFKA_TEST_SESSION_MS, bus_settings
from tests.ingest.conftest import ARTICLES, SITE_ARTICLES, articles_on

SECTIONS = 12
INTERVAL_S = 2.0
PUBLISHED_WHILE_RUNNING = 20
PUBLISH_EVERY_S = 0.2
# The machine is shared: a Python process may take many seconds to start.
START_TIMEOUT_S = 120.0
# Share of the interval by which a poll may seem early because the one before it arrived late.
LATENESS_ALLOWED = 0.5
# Feeds due again before a round ends, however fast the machine: the poller then asks the
# group for news without waiting, and kafka-python finishes a rebalance in the background.
ALWAYS_DUE_S = 0.001
# How long the second member holds its share while the first one polls beside it.
SHARED_FOR_S = 4.0


def section_url(site: FixtureServer, k: int) -> str:
    return f"{site.base_url}/feeds/section/{k}-of-{SECTIONS}.xml"


@pytest.fixture
def kafka_settings(tmp_path: Path, kafka_bootstrap: str) -> BusSettings:
    return bus_settings("kafka", tmp_path, kafka_bootstrap, partitions=6)


@pytest.fixture
def feed_list(site: FixtureServer, tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    feeds = [Feed(url=section_url(site, k), interval_s=INTERVAL_S) for k in range(SECTIONS)]
    save_feeds(path, feeds)
    return path


def start_poller(
    name: str, tmp_path: Path, feeds: Path, bus: BusSettings
) -> subprocess.Popen[bytes]:
    assert bus.kafka is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__TOPIC_PREFIX": bus.topic_prefix,
        "AKHBAR_BUS__PARTITIONS": str(bus.partitions),
        "AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS": bus.kafka.bootstrap_servers[0],
        "AKHBAR_BUS__KAFKA__SESSION_TIMEOUT_MS": str(KAFKA_TEST_SESSION_MS),
        "AKHBAR_INGEST__FEEDS": str(feeds),
        "AKHBAR_INGEST__STATE_PATH": str(tmp_path / f"{name}.sqlite3"),
        "AKHBAR_INGEST__ALLOW_HOSTS": '["127.0.0.1"]',
        # Every feed is on the one fixture host, polled far more often than an outlet's.
        "AKHBAR_INGEST__HOST_SPACING_S": "0",
        # The site tells the pollers apart by their User-Agent.
        "AKHBAR_INGEST__USER_AGENT": name,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "akhbar", "stage", "poller"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115 - the process owns it
    )


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def feed_polls(site: FixtureServer) -> dict[str, list[tuple[float, str]]]:
    """Per section feed path: (time, poller name) of every poll, in order."""
    polls: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for at, path, agent in site.requests_log():
        if path.startswith("/feeds/section/"):
            polls[path].append((at, agent))
    return polls


def publish_later(site: FixtureServer) -> threading.Thread:
    later = load_saudinewsnet(ARTICLES)[SITE_ARTICLES : SITE_ARTICLES + PUBLISHED_WHILE_RUNNING]
    publisher = threading.Thread(
        target=lambda: [site.publish(a) or time.sleep(PUBLISH_EVERY_S) for a in later]
    )
    publisher.start()
    return publisher


def discovered(settings: BusSettings) -> list[Article]:
    bus = open_bus(settings)
    try:
        return articles_on(bus, Topics(settings.topic_prefix).discovered)
    finally:
        bus.close()


def clean_everything(settings: BusSettings, tmp_path: Path) -> list[Article]:
    """Run the fetch stage until articles.discovered is drained; what is on articles.cleaned."""
    full = Settings(
        bus=settings,
        runner=RunnerSettings(commit_interval_s=0.5),
        ingest=IngestSettings(
            allow_hosts=["127.0.0.1"], host_spacing_s=0, state_path=tmp_path / "fetch.sqlite3"
        ),
    )
    bus = open_bus(settings)
    drained = threading.Event()
    drained.set()
    runner = StageRunner(
        bus, fetch_stage(full), full.runner, Metrics(), group_prefix=settings.topic_prefix
    )
    runner.run(drain_after=drained, timeout=180)
    cleaned = articles_on(bus, Topics(settings.topic_prefix).cleaned)
    bus.close()
    return cleaned


@pytest.fixture
def pollers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def assert_exactly_once(settings: BusSettings, tmp_path: Path, expected: int) -> None:
    found = discovered(settings)
    per_entry = Counter((article.feed, article.id) for article in found)
    assert len({article.id for article in found}) == expected
    assert max(per_entry.values()) == 1, [entry for entry, n in per_entry.items() if n > 1]
    cleaned = Counter(article.id for article in clean_everything(settings, tmp_path))
    assert len(cleaned) == expected
    assert max(cleaned.values()) == 1


def test_two_pollers_share_the_feeds_and_emit_each_entry_once(
    site: FixtureServer,
    tmp_path: Path,
    kafka_settings: BusSettings,
    feed_list: Path,
    pollers: list[subprocess.Popen[bytes]],
) -> None:
    # Given two pollers in one group over 12 section feeds polled every 2 s
    pollers.append(start_poller("poller-a", tmp_path, feed_list, kafka_settings))
    pollers.append(start_poller("poller-b", tmp_path, feed_list, kafka_settings))
    # When both poll, while the site keeps publishing
    wait_for(
        lambda: (
            {agent for polls in feed_polls(site).values() for _, agent in polls}
            == {"poller-a", "poller-b"}
        ),
        START_TIMEOUT_S,
        "both pollers to poll",
    )
    publish_later(site).join()
    expected = SITE_ARTICLES + PUBLISHED_WHILE_RUNNING
    wait_for(
        lambda: len({a.id for a in discovered(kafka_settings)}) == expected,
        60,
        "every article discovered",
    )
    time.sleep(2 * INTERVAL_S)
    for process in pollers:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(timeout=60) for process in pollers] == [0, 0]
    # Then no feed was polled twice within its interval, by either poller
    polls = feed_polls(site)
    assert len(polls) == SECTIONS
    # once the group settled: at the hand-over itself, the member that takes a feed may
    # poll it before the state of the other's last poll reaches it (noted as a limit)
    first_by = {}
    for times in polls.values():
        for at, agent in times:
            first_by[agent] = min(at, first_by.get(agent, at))
    settled_at = max(first_by.values()) + INTERVAL_S
    shortest = min(
        b[0] - a[0] for times in polls.values() for a, b in pairwise(times) if a[0] >= settled_at
    )
    # Times are taken as the site reads each request: on a loaded machine one request can
    # arrive late and the next on time. Two pollers polling one feed would come far closer.
    assert shortest >= INTERVAL_S * (1 - JITTER) * LATENESS_ALLOWED, polls
    # And, once both held their share, each feed was polled by one poller only
    settled = [[agent for _, agent in times[-3:]] for times in polls.values()]
    assert all(len(set(agents)) == 1 for agents in settled)
    assert {agents[0] for agents in settled} == {"poller-a", "poller-b"}
    # And every entry is on articles.discovered once per feed, and cleaned once
    assert_exactly_once(kafka_settings, tmp_path, expected)


def test_a_killed_pollers_feeds_are_taken_over_without_loss_or_repeats(
    site: FixtureServer,
    tmp_path: Path,
    kafka_settings: BusSettings,
    feed_list: Path,
    pollers: list[subprocess.Popen[bytes]],
) -> None:
    # Given two pollers that have shared out the feeds
    pollers.append(start_poller("poller-a", tmp_path, feed_list, kafka_settings))
    pollers.append(start_poller("poller-b", tmp_path, feed_list, kafka_settings))

    def owners() -> dict[str, str]:
        return {path: times[-1][1] for path, times in feed_polls(site).items()}

    wait_for(
        lambda: set(owners().values()) == {"poller-a", "poller-b"},
        START_TIMEOUT_S,
        "both pollers to hold feeds",
    )
    time.sleep(2 * INTERVAL_S)
    held_by_a = {path for path, owner in owners().items() if owner == "poller-a"}
    # When poller-a is SIGKILLed while the site keeps publishing
    pollers[0].send_signal(signal.SIGKILL)
    pollers[0].wait(timeout=10)
    killed_at = time.time()
    publisher = publish_later(site)
    # Then poller-b polls poller-a's feeds within the session timeout (plus a round)
    wait_for(
        lambda: held_by_a <= {p for p, o in owners().items() if o == "poller-b"},
        60,
        "poller-b to take over",
    )
    taken_over_at = max(
        min(at for at, agent in feed_polls(site)[path] if agent == "poller-b" and at > killed_at)
        for path in held_by_a
    )
    takeover_s = taken_over_at - killed_at
    print(f"takeover after SIGKILL: {takeover_s:.1f} s")
    assert takeover_s <= KAFKA_TEST_SESSION_MS / 1000 + INTERVAL_S + 10, takeover_s
    publisher.join()
    expected = SITE_ARTICLES + PUBLISHED_WHILE_RUNNING
    wait_for(
        lambda: len({a.id for a in discovered(kafka_settings)}) == expected,
        60,
        "every article discovered",
    )
    pollers[1].send_signal(signal.SIGTERM)
    assert pollers[1].wait(timeout=60) == 0
    # And nothing was lost or repeated: each entry discovered once per feed, cleaned once
    assert_exactly_once(kafka_settings, tmp_path, expected)


def partition_of_feeds(settings: BusSettings) -> dict[str, int]:
    """Feed URL -> its partition of the feed list topic."""
    bus = open_bus(settings)
    topic = Topics(settings.topic_prefix).feeds
    reader = bus.reader(topic, range(bus.partition_count(topic)))
    try:
        return {m.key.decode(): m.partition for m in reader.read_to_end(30) if m.key}
    finally:
        reader.close()
        bus.close()


def holding_spans(
    events: list[tuple[float, str, list[TopicPartition]]],
) -> list[tuple[int, float, float]]:
    """(partition, from, to) for each time a member held a partition, from its callbacks."""
    since: dict[int, float] = {}
    spans = []
    for at, what, partitions in events:
        for _topic, partition in partitions:
            if what == "assign":
                since.setdefault(partition, at)
            elif partition in since:
                spans.append((partition, since.pop(partition), at))
    spans += [(partition, at, float("inf")) for partition, at in since.items()]
    return spans


class MemberThread(threading.Thread):
    """A PollerMember running in this process, whose error, if any, the test can see."""

    def __init__(self, member: PollerMember) -> None:
        super().__init__(name="poller-member")
        self.member = member
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.member.run()
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.member.stop.set()
        self.join(timeout=60)


def hold_a_share(consumer: Consumer, seconds: float) -> None:
    """Stay in the group, polling, until assigned and then for `seconds` more."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2, 100)
    held_until = time.monotonic() + seconds
    while time.monotonic() < held_until:
        consumer.poll(0.2, 100)


def test_a_member_polls_no_feed_of_a_partition_while_another_member_holds_it(
    site: FixtureServer, tmp_path: Path, kafka_settings: BusSettings
) -> None:
    # Given a poller whose feeds are always due, so it never waits on the group
    feeds = tmp_path / "feeds.yaml"
    save_feeds(
        feeds, [Feed(url=section_url(site, k), interval_s=ALWAYS_DUE_S) for k in range(SECTIONS)]
    )
    settings = Settings(
        bus=kafka_settings,
        ingest=IngestSettings(
            feeds=feeds,
            allow_hosts=["127.0.0.1"],
            host_spacing_s=0,
            user_agent="poller-a",
            state_path=tmp_path / "poller-a.sqlite3",
        ),
    )
    bus = open_bus(kafka_settings)
    polling = MemberThread(PollerMember(bus, settings, Metrics()))
    polling.start()
    # When another member joins its group and holds a share of the partitions for a while
    events: list[tuple[float, str, list[TopicPartition]]] = []
    try:
        wait_for(lambda: feed_polls(site), START_TIMEOUT_S, "the poller to poll")
        other = bus.consumer(
            polling.member.group,
            [Topics(kafka_settings.topic_prefix).feeds],
            on_revoke=lambda partitions: events.append((time.time(), "revoke", partitions)) or {},
            on_assign=lambda partitions: events.append((time.time(), "assign", partitions)),
        )
        try:
            hold_a_share(other, SHARED_FOR_S)
        finally:
            polling.stop()  # before the other member leaves and hands its share back
            other.close()
    finally:
        polling.stop()
        bus.close()
    assert not polling.is_alive()
    assert polling.error is None, repr(polling.error)
    # Then the poller polled none of the other member's feeds while that member held them
    spans = holding_spans(events)
    assert spans, "the other member was never given a partition"
    partition_of = partition_of_feeds(kafka_settings)
    polls = [
        (at, partition_of[site.base_url + path])
        for path, times in feed_polls(site).items()
        for at, _agent in times
    ]
    overlaps = [
        (at, partition, start, end)
        for at, partition in polls
        for held, start, end in spans
        if held == partition and start <= at <= end
    ]
    assert not overlaps, overlaps
    # And it went on polling its own share beside the other member
    first_share = min(start for _p, start, _end in spans)
    assert any(at > first_share for at, _partition in polls)
