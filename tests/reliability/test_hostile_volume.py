"""Hundreds of hostile feeds and pages among thousands of good articles, through `akhbar run`."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from akhbar.article import article_id
from akhbar.runner import HEADER_ERROR
from akhbar.topics import Topics, dead_letter_topic
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import HOSTILE_CASES, PRIVATE_URL, FixtureServer, load_saudinewsnet
from ingest.state import decode_state
from tests.reliability.pipeline import (
    StageProcesses,
    assert_each_article_once,
    drain,
    pipeline_env,
    read_topic,
    wait_for_both_sinks,
)
from tests.reliability.services import PrivateServices, free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "saudinewsnet-sample.jsonl"
# The sample's 100 real articles, published this many times under new addresses.
REPEATS = 20
# Each hostile page and hostile feed this many times, under distinct addresses.
COPIES = 10
# Hostile pages that are fetched and cleaned although their server misbehaves.
READABLE_CASES = {"cp1256", "cp1256-latin-header", "cp1256-unlabelled", "utf8-latin-header"}
READABLE_CASES |= {"brotli", "no-article"}
# Addresses that are no feed at all, each listed COPIES times as if it were one.
HOSTILE_FEEDS = (
    "/feeds/malformed.xml",
    "/hostile/404",
    "/hostile/410",
    "/hostile/429",
    "/hostile/500",
    "/hostile/pdf",
    "/hostile/redirect-loop",
    "/hostile/private-redirect",
    "/hostile/gzip-bomb",
    "/hostile/huge",
    "/hostile/slow",
    "/news/0",
)
ERROR_SAMPLE = re.compile(
    r'^(akhbar_(?:page_fetch|feed_poll)_errors_total)\{kind="([^"]+)"\} (\S+)$', re.MULTILINE
)


def copied_feed(site: str, copy: int) -> bytes:
    """A well-formed RSS feed linking to every hostile page, each address made unique."""
    links = [f"{site}/hostile/{case}?copy={copy}" for case in HOSTILE_CASES]
    links.append(f"{PRIVATE_URL}?copy={copy}")
    items = "".join(
        f"<item><title>حالة {n}</title><link>{link}</link><guid>{link}</guid>"
        "<pubDate>Thu, 01 Jan 2026 00:00:00 GMT</pubDate></item>"
        for n, link in enumerate(links)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>نسخة {copy}</title><link>{site}/</link><description>-</description>"
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
def feeds_site() -> Iterator[tuple[str, str]]:
    """The fixture site, and a second server with COPIES feeds of its hostile pages."""
    articles = load_saudinewsnet(SAMPLE) * REPEATS
    site = FixtureServer(articles)
    base = site.start()

    class CopiedFeeds(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            copy = int(self.path.rsplit("/", 1)[-1].removesuffix(".xml"))
            body = copied_feed(base, copy)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    copies = ThreadingHTTPServer(("127.0.0.1", 0), CopiedFeeds)
    threading.Thread(target=copies.serve_forever, daemon=True).start()
    yield base, f"http://127.0.0.1:{copies.server_address[1]}"
    copies.shutdown()
    site.stop()


def test_hostile_feeds_and_pages_at_volume_are_counted_and_the_good_articles_arrive(
    tmp_path: Path, services: PrivateServices, feeds_site: tuple[str, str]
) -> None:
    # Given a feed list of the news feed, COPIES feeds of hostile pages and
    # COPIES copies of addresses that are no feed at all
    site, copies = feeds_site
    news = [f"{site}/news/{n}" for n in range(100 * REPEATS)]
    hostile_feeds = [f"{site}{path}?copy={c}" for c in range(COPIES) for path in HOSTILE_FEEDS]
    hostile_feeds += [f"{PRIVATE_URL}feed?copy={c}" for c in range(COPIES)]
    feeds = [f"{site}/feeds/news.xml", *(f"{copies}/{c}.xml" for c in range(COPIES))]
    feeds += hostile_feeds
    save_feeds(tmp_path / "feeds.yaml", [Feed(url=url, name=url) for url in feeds])
    readable = [f"{site}/hostile/{case}?copy={c}" for c in range(COPIES) for case in READABLE_CASES]
    expected = {article_id(url) for url in [*news, *readable]}
    env = pipeline_env(tmp_path, services.kafka, services.opensearch)
    metrics_port = free_port()
    env |= {
        "AKHBAR_INGEST__FEEDS": str(tmp_path / "feeds.yaml"),
        "AKHBAR_INGEST__STATE_PATH": str(tmp_path / "page-errors.sqlite3"),
        "AKHBAR_INGEST__ALLOW_HOSTS": '["127.0.0.1"]',
        "AKHBAR_INGEST__HOST_SPACING_S": "0",
        # Slow-drip pages are given up on quickly; a real deployment waits longer.
        "AKHBAR_INGEST__PAGE_TIMEOUT_S": "1.0",
        "AKHBAR_RUNNER__STEP_RETRIES": "1",
        "AKHBAR_RUNNER__RETRY_BACKOFF_INITIAL_S": "0.05",
        "AKHBAR_METRICS__ADDRESS": f"127.0.0.1:{metrics_port}",
    }
    stages = StageProcesses(env, tmp_path / "logs")
    try:
        # When the whole pipeline runs over them
        started = time.monotonic()
        stages.start_command("run", "run")
        wait_for_both_sinks(env, len(expected), stages, timeout_s=420)
        print(f"{len(expected)} articles in both sinks after {time.monotonic() - started:.0f} s")
        # The good articles can arrive before the last hostile page has used up its
        # retries; every page error is counted before its letter is written.
        wait_for_page_dead_letters(env, unreadable_letters(), stages, timeout_s=120)
        counted = scrape_errors(metrics_port)
        codes = stages.stop()
    finally:
        stages.kill_all()
    drained = drain(env)
    assert codes == {"run": 0}, codes
    assert drained.returncode == 0, drained.stderr[-3000:]

    # Then every good and every readable article is in both sinks exactly once,
    # and nothing but the fetch stage's input has dead letters
    assert_each_article_once(
        env, expected, {"articles.cleaned": 0, "articles.normalized": 0, "articles.enriched": 0}
    )
    # and every unreadable hostile page is dead-lettered once, with its reason:
    # the same reason for every copy of a case (or a timeout, on a loaded machine)
    topic = dead_letter_topic(Topics(env["AKHBAR_BUS__TOPIC_PREFIX"]).discovered)
    reasons: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for letter in read_topic(env, topic):
        url = json.loads(letter.value)["url"]
        case = "private-url" if url.startswith(PRIVATE_URL) else url.split("/hostile/")[1]
        reason = dict(letter.headers)[HEADER_ERROR].decode().split(":")[0]
        reasons[case.split("?")[0]][reason] += 1
    unreadable = {case for case in HOSTILE_CASES if case not in READABLE_CASES}
    print("page dead letters by case and reason:", dict(reasons))
    print("errors counted by the metrics:", counted)
    assert set(reasons) == unreadable | {"private-url"}
    assert all(len(set(by_reason) - {"timeout"}) <= 1 for by_reason in reasons.values()), reasons
    assert all(sum(by_reason.values()) == COPIES for by_reason in reasons.values()), reasons
    # counted by kind, at least once per dead letter (a transient kind once per attempt)
    for by_reason in reasons.values():
        for reason, letters in by_reason.items():
            assert counted.get(("akhbar_page_fetch_errors_total", reason), 0) >= letters
    # and every feed that is no feed is in the feed health table with its error: one
    # kind per address, or a timeout (the 1 s bound is tight on a loaded machine)
    states = Topics(env["AKHBAR_BUS__TOPIC_PREFIX"]).feed_state
    health = {
        message.key.decode(): decode_state(message.value)  # the latest state per feed wins
        for message in read_topic(env, states)
        if message.key is not None and message.value
    }
    kinds: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for url in hostile_feeds:
        state = health[url]
        assert state.error_streak >= 1 and state.last_error, state
        kinds[url.split("?")[0].rsplit("/", 1)[-1]][state.last_error_kind] += 1
    print("feed errors by address and kind:", dict(kinds))
    assert all(sum(by_kind.values()) == COPIES for by_kind in kinds.values())
    assert all(len(set(by_kind) - {"timeout"}) <= 1 for by_kind in kinds.values()), kinds
    for by_kind in kinds.values():
        for kind, feeds_failed in by_kind.items():
            assert counted.get(("akhbar_feed_poll_errors_total", kind), 0) >= feeds_failed


def unreadable_letters() -> int:
    """How many page dead letters the run ends with: each unreadable case and the
    private address, COPIES times."""
    return (len(set(HOSTILE_CASES) - READABLE_CASES) + 1) * COPIES


def wait_for_page_dead_letters(
    env: dict[str, str], expected: int, stages: StageProcesses, timeout_s: float
) -> None:
    """Wait until the fetch stage's input has `expected` dead letters; every stage stays up."""
    topic = dead_letter_topic(Topics(env["AKHBAR_BUS__TOPIC_PREFIX"]).discovered)
    deadline = time.monotonic() + timeout_s
    letters = 0
    while time.monotonic() < deadline:
        stages.assert_all_running()
        letters = len(read_topic(env, topic))
        if letters >= expected:
            return
        time.sleep(1)
    raise AssertionError(f"after {timeout_s:g} s {letters} of {expected} page dead letters")


def scrape_errors(port: int) -> dict[tuple[str, str], float]:
    """The page and feed error counters by kind, from the running pipeline's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counted = {}
    for family, kind, value in ERROR_SAMPLE.findall(text):
        counted[(family, kind)] = float(value)
    return counted
