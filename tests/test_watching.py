"""Watching `akhbar run` as ops do: /metrics, /healthz, /readyz, /status, `akhbar status`.

One `akhbar run` polls the demo's local news site (real SaudiNewsNet articles,
real Arabic pages, the hostile cases and a malformed feed) into the JSON Lines
sink and the real OpenSearch node, with one month's index made to refuse titles
so the search sink meets a mapping error; the tests scrape and browse it while it
runs. Another runs against a search port nobody listens on, for /readyz.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import OpenSearch
from prometheus_client.parser import text_string_to_metric_families

from ingest.demo import ARTICLES, DEMO_FEEDS, PAGES
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import FixtureServer, SiteArticle, load_saudinewsnet
from sinks.index import alias_name, index_name
from tests.conftest import unique_prefix
from tests.helpers.browser import chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
METRICS_DOC = ROOT / "docs" / "metrics.md"
# A title no page should ever run: shown as text, or the page is broken.
HOSTILE_TITLE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> خبر عاجل"
# Its month's index is created with a mapping that refuses titles (a mapping error).
HOSTILE_PUBLISHED = datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
# The run has polled, fetched (the slow page waits out its 3 s timeout), cleaned,
# normalized, enriched and stored every article well within this.
RUN_TIMEOUT_S = 300
# Bounds, not expectations: on a loaded shared machine importing the stages alone
# has taken half a minute.
START_TIMEOUT_S = 180
COMMAND_TIMEOUT_S = 180
# Every article of news.xml (100) and pages.xml (10) is stored by both sinks.
STORED_AT_LEAST = 100


@dataclass
class Run:
    """A running `akhbar run` and where to look at it."""

    process: subprocess.Popen[bytes]
    base_url: str
    env: dict[str, str]
    stderr: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10, trust_env=False)


def akhbar(*args: str) -> list[str]:
    return [sys.executable, "-m", "akhbar", *args]


def environment(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    return env | {
        "AKHBAR_BUS__EMBEDDED_PATH": str(data / "bus.sqlite3"),
        "AKHBAR_BUS__TOPIC_PREFIX": unique_prefix(),
        "AKHBAR_ARCHIVE__STATE_PATH": str(data / "archive-state.json"),
        "AKHBAR_INGEST__STATE_PATH": str(data / "feeds.sqlite3"),
        "AKHBAR_INGEST__HOST_SPACING_S": "0",
        "AKHBAR_INGEST__PAGE_TIMEOUT_S": "3",
        "AKHBAR_SINKS__JSONL__DIR": str(data / "articles"),
        "AKHBAR_ENRICH__STORIES_PATH": str(data / "stories.sqlite"),
        "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.5",
        "AKHBAR_RUNNER__STEP_RETRIES": "1",
        "AKHBAR_RUNNER__RETRY_BACKOFF_INITIAL_S": "0.2",
        # Port 0: the system picks a free one; the process logs which.
        "AKHBAR_METRICS__ADDRESS": "127.0.0.1:0",
        **extra,
    }


def start(args: list[str], env: dict[str, str], stderr: Path) -> Run:
    """Start `akhbar` and wait for the address its server logs."""
    with stderr.open("wb") as sink:
        process = subprocess.Popen(akhbar(*args), env=env, stderr=sink, stdout=sink)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in stderr.read_text(errors="replace").splitlines():
            if line.startswith("{") and "serving /metrics" in line:
                address = json.loads(line)["address"]
                return Run(process, f"http://{address}", env, stderr)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    stop(process)
    raise AssertionError(f"akhbar did not start serving: {stderr.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def samples(run: Run) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The scrape, by sample name: every (labels, value)."""
    response = run.get("/metrics")
    response.raise_for_status()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def total(scrape: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in scrape.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


def wait_for(what: str, check: Callable[[], bool], run: Run, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if run.process.poll() is not None:
            break
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {run.stderr.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureServer]:
    articles = load_saudinewsnet(ARTICLES)
    hostile = SiteArticle(
        title=HOSTILE_TITLE,
        text=articles[0].text,
        published=HOSTILE_PUBLISHED,
        summary=articles[0].summary,
    )
    with FixtureServer([*articles, hostile], PAGES) as server:
        yield server


@pytest.fixture(scope="module")
def run(
    site: FixtureServer, opensearch_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """`akhbar run` over the demo feeds, both sinks, until every article is stored."""
    data = tmp_path_factory.mktemp("watched")
    feeds = data / "feeds.yaml"
    save_feeds(feeds, [Feed(url=site.base_url + p, name=p.rsplit("/", 1)[-1]) for p in DEMO_FEEDS])
    prefix = f"akhbar-watch-{unique_prefix().strip('.')}"
    client = OpenSearch(hosts=[opensearch_url], timeout=30)
    # Made before the sink installs its template: this month's titles must be numbers.
    client.indices.create(
        index=index_name(prefix, HOSTILE_PUBLISHED),
        body={"mappings": {"properties": {"title": {"type": "integer"}}}},
    )
    env = environment(
        data,
        AKHBAR_SINKS__SEARCH__ENABLED="true",
        AKHBAR_SINKS__SEARCH__HOSTS=opensearch_url,
        AKHBAR_SINKS__SEARCH__INDEX_PREFIX=prefix,
        # Every stored article on the page, the hostile one wherever it comes.
        AKHBAR_METRICS__RECENT_ARTICLES="500",
    )
    started = start(
        ["run", "--feeds", str(feeds), "--allow-host", "127.0.0.1"], env, data / "stderr.log"
    )
    try:

        def everything_stored() -> bool:
            scrape = samples(started)
            return (
                total(scrape, "akhbar_messages_out_total", stage="jsonl") >= STORED_AT_LEAST
                and total(scrape, "akhbar_messages_out_total", stage="search") >= STORED_AT_LEAST
                and total(scrape, "akhbar_messages_dead_lettered_total", stage="search") >= 1
            )

        wait_for("every article in both sinks", everything_stored, started, RUN_TIMEOUT_S)
        yield started
    finally:
        stop(started.process)
        client.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=alias_name(prefix), ignore=[404])
        client.close()


def documented_metrics() -> list[str]:
    """Every metric name in docs/metrics.md's tables (first column)."""
    return re.findall(r"^\| `(akhbar_[a-z_]+)` \|", METRICS_DOC.read_text(), re.MULTILINE)


def test_every_documented_metric_is_scraped_with_what_the_run_did(run: Run) -> None:
    scrape = samples(run)
    names = {name for name in scrape} | {
        re.sub(r"_(total|bucket|count|sum)$", "", name) for name in scrape
    }

    # Every name the docs promise is in the scrape
    documented = documented_metrics()
    assert len(documented) == 22
    missing = [name for name in documented if name not in names]
    assert not missing, f"documented but not scraped: {missing}"

    def at_least_one(name: str, **labels: str) -> None:
        assert total(scrape, name, **labels) >= 1, f"{name} {labels} is 0"

    # Messages in and out of every stage, step and flush times
    for stage in ("fetch", "normalize", "enrich", "jsonl", "search"):
        at_least_one("akhbar_messages_in_total", stage=stage)
        at_least_one("akhbar_messages_out_total", stage=stage)
        at_least_one("akhbar_step_seconds_count", stage=stage)
        at_least_one("akhbar_flush_seconds_count", stage=stage)
        at_least_one("akhbar_commits_total", stage=stage)
        assert total(scrape, "akhbar_stage_running", stage=stage) == 1
        # Lag on every partition of the stage's input (3 by default)
        assert len([s for s in scrape["akhbar_consumer_lag"] if s[0]["stage"] == stage]) == 3
    at_least_one("akhbar_messages_out_total", stage="poller")
    # Dropped: present for every stage; this run has nothing to drop
    assert {s[0]["stage"] for s in scrape["akhbar_messages_dropped_total"]} >= {"enrich", "jsonl"}
    # Dead letters by reason: hostile pages at fetch, the refused title at search
    at_least_one("akhbar_messages_dead_lettered_total", stage="fetch", reason="PermanentFetchError")
    at_least_one("akhbar_messages_dead_lettered_total", stage="search", reason="InvalidArticle")
    # Retries: the 500 and 429 pages are transient
    at_least_one("akhbar_step_retries_total", stage="fetch")
    # End-to-end latency at both sinks, articles by source
    for sink in ("jsonl", "search"):
        at_least_one("akhbar_end_to_end_latency_seconds_count", stage=sink)
        assert total(scrape, "akhbar_articles_stored_total", stage=sink, source="news.xml") >= 100
    # Bulk errors: the mapping error, counted as rejected by its type
    at_least_one(
        "akhbar_search_bulk_errors_total", kind="rejected", error_type="mapper_parsing_exception"
    )
    at_least_one("akhbar_search_bulk_seconds_count")
    # Feed polls by outcome, feeds by health, pages
    at_least_one("akhbar_feed_polls_total", status="200")
    at_least_one("akhbar_feed_polls_total", status="malformed-feed")
    at_least_one("akhbar_feed_poll_errors_total", kind="malformed-feed")
    at_least_one("akhbar_feed_new_entries_total")
    at_least_one("akhbar_page_fetch_errors_total", kind="http-404")
    at_least_one("akhbar_pages_cleaned_total", text_source="page")
    assert total(scrape, "akhbar_feeds", state="failing") == 1
    assert total(scrape, "akhbar_feeds", state="ok") == 3
    assert total(scrape, "akhbar_build_info", backend="embedded") == 1
    at_least_one("process_cpu_seconds_total")


def test_health_and_readiness_of_a_working_run(run: Run) -> None:
    health = run.get("/healthz")
    assert health.status_code == 200
    stages = health.json()["checks"]
    assert set(stages) == {"poller", "fetch", "normalize", "enrich", "jsonl", "search"}
    assert all(check["ok"] for check in stages.values())
    ready = run.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"bus", "search"}
    assert all(check["ok"] for check in body["checks"].values())


def test_status_once_lists_the_failing_feed_with_its_error(run: Run) -> None:
    result = subprocess.run(
        akhbar("status", "--once", "--url", f"{run.base_url}/metrics"),
        env=run.env | {"COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The stages, from the process's /metrics
    assert f"Stages (from {run.base_url}/metrics)" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    for stage in ("poller", "fetch", "normalize", "enrich", "jsonl", "search"):
        assert stage in rows, out
    # The failing feed, from the feeds.state table, with its last error
    assert f"(from {run.env['AKHBAR_BUS__TOPIC_PREFIX']}feeds.state on the embedded bus)" in out
    failing = next(line for line in out.splitlines() if "malformed.xml" in line)
    assert "failing" in failing and "malformed-feed:" in failing
    assert "news.xml" not in out  # healthy feeds are not listed


def test_status_page_in_a_real_browser(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "profile") as driver:
        browser: Any = driver
        browser.get(f"{run.base_url}/status")
        # The failing feed with its last error
        row = browser.find_element(By.CSS_SELECTOR, "tr.feed.state-failing")
        assert "malformed.xml" in row.text and "malformed-feed:" in row.text
        # Articles right to left, in Arabic, laid out so by the browser
        stories = browser.find_elements(By.CSS_SELECTOR, 'article.story[dir="rtl"][lang="ar"]')
        assert len(stories) >= 10
        title = stories[-1].find_element(By.CSS_SELECTOR, "h3.title")
        assert title.text.strip()
        direction = browser.execute_script("return getComputedStyle(arguments[0]).direction", title)
        assert direction == "rtl"
        assert browser.find_elements(By.CSS_SELECTOR, "ul.entities li")
        # The hostile title is text: no script ran, no image was made of it
        hostile = [s for s in stories if "<script>" in s.text]
        assert hostile, "the article with the hostile title should be listed"
        assert browser.title == "Akhbar status"
        assert not browser.find_elements(By.CSS_SELECTOR, "#articles img, #articles script")
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "status-page.png"
        browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nstatus page screenshot: {screenshot}")


def test_readiness_fails_when_the_search_cluster_is_unreachable(tmp_path: Path) -> None:
    # Given a run whose search sink points at a port nobody listens on
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = environment(
        tmp_path,
        AKHBAR_SINKS__SEARCH__ENABLED="true",
        AKHBAR_SINKS__SEARCH__HOSTS=f"http://elastic:hunter2@127.0.0.1:{closed}",
    )
    run = start(["run", "--archive", str(ARTICLES)], env, tmp_path / "stderr.log")
    try:
        # When it runs, Then it is alive (the sink waits for the cluster) but not ready
        wait_for(
            "the jsonl sink to store the archive",
            lambda: total(samples(run), "akhbar_messages_out_total", stage="jsonl") >= 100,
            run,
            RUN_TIMEOUT_S,
        )
        ready = run.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "failing"
        assert body["checks"]["bus"]["ok"] is True
        assert body["checks"]["search"]["ok"] is False
        assert f"127.0.0.1:{closed}" in body["checks"]["search"]["reason"]
        health = run.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["search"]["reason"] == "running"
        # and the password in the host URL is in no log line and no answer
        stop(run.process)
        assert "hunter2" not in run.stderr.read_text()
        assert "hunter2" not in ready.text
        assert "flush failed" in run.stderr.read_text()
    finally:
        stop(run.process)
