"""SIGKILL the poller mid-run and restart it: no entry lost, none emitted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from akhbar.bus import Message, open_bus
from akhbar.config import BusSettings
from akhbar.topics import Topics
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import FixtureServer, load_saudinewsnet
from tests.conftest import KAFKA_TEST_SESSION_MS
from tests.ingest.conftest import ARTICLES, SITE_ARTICLES, read_topic

PUBLISHED_WHILE_RUNNING = 60
PUBLISH_EVERY_S = 0.1
START_TIMEOUT_S = 120.0


def poller_process(tmp_path: Path, feeds: Path, bus: BusSettings) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__EMBEDDED_PATH": str(bus.embedded_path),
        "AKHBAR_BUS__TOPIC_PREFIX": bus.topic_prefix,
        "AKHBAR_INGEST__FEEDS": str(feeds),
        "AKHBAR_INGEST__STATE_PATH": str(tmp_path / "feeds.sqlite3"),
        "AKHBAR_INGEST__ALLOW_HOSTS": '["127.0.0.1"]',
        # Every feed is on the one fixture host, polled far more often than an outlet's.
        "AKHBAR_INGEST__HOST_SPACING_S": "0",
        "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.2",
    }
    if bus.kafka is not None:
        env["AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS"] = bus.kafka.bootstrap_servers[0]
        env["AKHBAR_BUS__KAFKA__SESSION_TIMEOUT_MS"] = str(KAFKA_TEST_SESSION_MS)
    return subprocess.Popen(
        [sys.executable, "-m", "akhbar", "stage", "poller"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def discovered(settings: BusSettings) -> list[Message]:
    bus = open_bus(settings)
    try:
        return read_topic(bus, Topics(settings.topic_prefix).discovered)
    finally:
        bus.close()


def wait_for_entries(settings: BusSettings, count: int) -> None:
    """The machine may be shared and slow to start a process: wait for the work, not a time."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(discovered(settings)) < count and time.monotonic() < deadline:
        time.sleep(0.5)


def test_sigkill_and_restart_lose_nothing_and_repeat_nothing(
    site: FixtureServer, tmp_path: Path, settings_for: BusSettings
) -> None:
    # Given a feed polled every 0.2 s that keeps publishing while the poller runs
    feeds = tmp_path / "feeds.yaml"
    save_feeds(feeds, [Feed(url=f"{site.base_url}/feeds/news.xml", interval_s=0.2)])
    later = load_saudinewsnet(ARTICLES)[SITE_ARTICLES : SITE_ARTICLES + PUBLISHED_WHILE_RUNNING]
    publisher = threading.Thread(
        target=lambda: [site.publish(a) or time.sleep(PUBLISH_EVERY_S) for a in later]
    )
    first = poller_process(tmp_path, feeds, settings_for)
    wait_for_entries(settings_for, SITE_ARTICLES)
    publisher.start()
    # When the poller is SIGKILLed halfway and started again
    time.sleep(PUBLISHED_WHILE_RUNNING * PUBLISH_EVERY_S / 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    emitted_before_kill = len(discovered(settings_for))
    second = poller_process(tmp_path, feeds, settings_for)
    publisher.join()
    wait_for_entries(settings_for, SITE_ARTICLES + PUBLISHED_WHILE_RUNNING)
    time.sleep(1)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    # Then every entry is on the topic exactly once
    counts = Counter(message.key for message in discovered(settings_for))
    assert SITE_ARTICLES <= emitted_before_kill < len(counts)
    assert len(counts) == SITE_ARTICLES + PUBLISHED_WHILE_RUNNING
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
