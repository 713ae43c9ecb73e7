"""Feeds to articles.cleaned over the real bus (embedded and Kafka), hostile entries included."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from akhbar.bus import Bus
from akhbar.config import BusSettings, IngestSettings, RunnerSettings, Settings
from akhbar.metrics import Metrics
from akhbar.runner import HEADER_ERROR, StageRunner
from akhbar.topics import Topics, dead_letter_topic
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import HOSTILE_CASES, FixtureServer
from ingest.stage import fetch_stage, poller_runner
from ingest.state import PageErrorStore
from tests.ingest.conftest import SITE_ARTICLES, articles_on, read_topic

# Pages that are fetched and cleaned although their server misbehaves.
READABLE_CASES = {"cp1256", "cp1256-latin-header", "cp1256-unlabelled", "utf8-latin-header"}
READABLE_CASES |= {"brotli", "no-article"}


def ingest_settings(tmp_path: Path, bus: BusSettings, site: FixtureServer) -> Settings:
    feeds = tmp_path / "feeds.yaml"
    save_feeds(
        feeds,
        [
            Feed(url=f"{site.base_url}/feeds/news.xml", name="news"),
            Feed(url=f"{site.base_url}/feeds/hostile.xml", name="hostile"),
        ],
    )
    return Settings(
        bus=bus,
        runner=RunnerSettings(commit_interval_s=0.3, step_retries=1, retry_backoff_initial_s=0.05),
        ingest=IngestSettings(
            feeds=feeds,
            state_path=tmp_path / "feeds.sqlite3",
            allow_hosts=["127.0.0.1"],
            host_spacing_s=0,
            page_timeout_s=1.5,
        ),
    )


def test_feeds_become_cleaned_articles_and_bad_pages_dead_letters(
    site: FixtureServer, tmp_path: Path, bus: Bus, settings_for: BusSettings
) -> None:
    # Given a news feed and a feed of hostile links
    settings = ingest_settings(tmp_path, settings_for, site)
    metrics, stop = Metrics(), threading.Event()
    topics = Topics(settings.bus.topic_prefix)
    # When the poller runs once and the fetch stage drains its input
    poller = poller_runner(settings, bus, metrics, stop, once=True)
    assert poller is not None
    poller.run(until_exhausted=True, idle_wait_s=0.1)
    drained = threading.Event()
    drained.set()
    stage = StageRunner(
        bus,
        fetch_stage(settings, metrics),
        settings.runner,
        metrics,
        stop,
        group_prefix=settings.bus.topic_prefix,
    )
    stats = stage.run(drain_after=drained, timeout=120)
    # Then every readable page is cleaned, and every other one is dead-lettered with a reason
    cleaned = articles_on(bus, topics.cleaned)
    paths = Counter(article.url.rsplit("/", 2)[-2] for article in cleaned)
    hostile = {a.url.rsplit("/", 1)[-1] for a in cleaned if "/hostile/" in a.url}
    assert paths["news"] == SITE_ARTICLES
    assert hostile == READABLE_CASES
    assert all(a.text for a in cleaned)
    assert all(a.text_source == "page" for a in cleaned if "/news/" in a.url)  # type: ignore[attr-defined]
    dead = read_topic(bus, dead_letter_topic(topics.discovered))
    reasons = {
        message.value and dict(message.headers)[HEADER_ERROR].decode().split(":")[0]
        for message in dead
    }
    assert len(dead) == len(HOSTILE_CASES) + 1 - len(READABLE_CASES)
    assert {"too-large", "redirects", "http-404", "private-address", "timeout"} <= reasons
    assert stats.dead_lettered == len(dead)
    assert len(cleaned) + len(dead) == stats.consumed
    # And feed health counts them against the hostile feed
    health = PageErrorStore(settings.ingest.state_path).page_errors()
    assert sum(health[f"{site.base_url}/feeds/hostile.xml"].values()) == len(dead)
