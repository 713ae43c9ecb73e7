"""The local fixture site, and reading a topic to its end, for the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from akhbar.article import Article, decode_article
from akhbar.bus import Bus, Message
from ingest.fixture_server import FixtureServer, load_saudinewsnet
from tests.conftest import unique_prefix

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "examples" / "saudinewsnet-sample.jsonl"
PAGES = ROOT / "tests" / "fixtures" / "arabic-pages"
SITE_ARTICLES = 20


@pytest.fixture
def site() -> Iterator[FixtureServer]:
    """A fresh site per test: tests publish entries and count requests."""
    server = FixtureServer(load_saudinewsnet(ARTICLES, SITE_ARTICLES), PAGES)
    server.start()
    yield server
    server.stop()


def read_topic(bus: Bus, topic: str, timeout_s: float = 30.0) -> list[Message]:
    """Every message on `topic`, read by a group of its own."""
    consumer = bus.consumer(f"{unique_prefix()}reader", [topic])
    messages: list[Message] = []
    try:
        empty_polls = 0
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = consumer.poll(0.5, 1000)
            messages.extend(batch)
            empty_polls = 0 if batch else empty_polls + 1
            if empty_polls >= 2 and consumer.at_end():
                break
    finally:
        consumer.close()
    return messages


def articles_on(bus: Bus, topic: str) -> list[Article]:
    return [decode_article(message.value) for message in read_topic(bus, topic)]
